import Testing

@testable import Config

/// A misspelt option is only a warning, so the warning names the option the operator meant.
@Suite struct OptionSuggestionTests {
    @Test func misspeltOptionsNameTheOptionMeant() throws {
        let configuration = try ConfigFile.parse(
            text: """
                [DEFAULT]
                reinit_drivr_count = 5
                backend_stats_poling_interval = 10
                enabled_backend = a
                debug = true
                """, fileName: "volumed.conf")
        #expect(
            configuration.warnings.map(\.description) == [
                "volumed.conf:2: reinit_drivr_count: unknown option, ignored (did you mean reinit_driver_count?)",
                "volumed.conf:3: backend_stats_poling_interval: unknown option, ignored (did you mean backend_stats_polling_interval?)",
                "volumed.conf:4: enabled_backend: unknown option, ignored (did you mean enabled_backends?)",
                "volumed.conf:5: debug: unknown option, ignored",
                "volumed.conf: enabled_backends: no backend is enabled; the service will run none",
            ])
    }

    @Test func suggestionsNeedACloseName() {
        #expect(OptionSuggestion.closest(to: "volume_gruop", in: ["volume_group", "lvm_type"]) == "volume_group")
        #expect(OptionSuggestion.closest(to: "hots", in: ["host", "state_path"]) == "host")
        #expect(OptionSuggestion.closest(to: "debug", in: ["host", "state_path"]) == nil)
        #expect(OptionSuggestion.closest(to: "verbose", in: ["volume_group"]) == nil)
        #expect(
            OptionSuggestion.editDistance(Array("abcd".unicodeScalars), Array("abdc".unicodeScalars), limit: 3) == 1)
        #expect(
            OptionSuggestion.editDistance(Array("kitten".unicodeScalars), Array("sitting".unicodeScalars), limit: 5)
                == 3)
    }
}
