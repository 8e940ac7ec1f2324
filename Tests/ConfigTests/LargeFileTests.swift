import Config
import Testing

/// Files far larger than any real one still parse completely and correctly (their speed is
/// measured by `scripts/bench-config`, not here).
@Suite struct LargeFileTests {
    /// 10,000 unknown `[DEFAULT]` options (each with a typo check) and 30,000 options of one backend.
    @Test func fortyThousandOptionsAreEachRead() throws {
        var text = "[DEFAULT]\nhost = big\nenabled_backends = big\n"
        for n in 0..<10_000 { text += "custom_option_\(n) = value \(n)\n" }
        text += "reinit_drivr_count = 5\ncustom_option_7 = again\n[big]\nvolume_driver = nfs\n"
        for n in 0..<30_000 { text += "driver_option_\(n) = \(n)\n" }
        text += "driver_option_29999 = last\n"
        let configuration = ConfigFile.inspect(text: text, fileName: "big.conf", baseDirectory: "/etc/volumed")
        #expect(configuration.problems.isEmpty)
        let unknown = configuration.warnings.filter { $0.message.hasPrefix("unknown option, ignored") }
        #expect(unknown.count == 10_001)
        #expect(unknown.first?.line == 4)
        #expect(
            configuration.warnings.contains {
                $0.line == 10_004 && $0.message.hasSuffix("(did you mean reinit_driver_count?)")
            })
        #expect(
            configuration.warnings.contains {
                $0.line == 10_005 && $0.message == "set again; this value replaces the one on line 11"
            })
        let backend = try #require(configuration.backend(named: "big"))
        #expect(backend.driverOptions.count == 30_000)
        #expect(backend.driverOptions["driver_option_12345"]?.text == "12345")
        #expect(backend.driverOptions["driver_option_29999"]?.text == "last")
        #expect(configuration.warnings.contains { $0.line == 40_008 && $0.subject == "big.driver_option_29999" })
    }

    @Test func twentyThousandBackendsAreEachResolved() throws {
        let names = (0..<20_000).map { "b\($0)" }
        var text =
            "[DEFAULT]\nhost = big\nenabled_backends = \(names.joined(separator: ",")),B7\n[backend_defaults]\nreinit_driver_count = 7\n"
        for name in names { text += "[\(name)]\nvolume_driver = nfs\nvolume_backend_name = pool-\(name)\n" }
        text += "[b19999]\nbroken line\n"
        let configuration = ConfigFile.inspect(text: text, fileName: "big.conf", baseDirectory: "/etc/volumed")
        #expect(configuration.problems.isEmpty)
        #expect(configuration.backends.count == 20_000)
        #expect(configuration.warnings.contains { $0.message == "backend \"B7\" is listed twice; it runs once" })
        #expect(configuration.backend(named: "b12345")?.volumeBackendName == "pool-b12345")
        #expect(configuration.backend(named: "b12345")?.reinitDriverCount == 7)
        #expect(configuration.backend(named: "b12345")?.isValid == true)
        let last = try #require(configuration.backend(named: "b19999"))
        #expect(last.problems.map(\.message) == ["expected 'option = value', got \"broken line\""])
    }
}
