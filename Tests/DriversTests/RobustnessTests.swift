import Config
import Foundation
import SharedTestSupport
import Supervision
import Testing

@testable import Drivers

/// Bad input never crashes: random and mangled inputs go through every parser, each a bounded,
/// reproducible run (fixed seeds).
@Suite(.offCooperativePool) struct RobustnessTests {
    /// SplitMix64: a tiny seeded generator so every run feeds the same inputs.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let configSeed = """
        [DEFAULT]
        enabled_backends = a, b
        reinit_driver_count = 3
        [backend_defaults]
        driver_init_timeout = 5
        [a]
        volume_driver = nfs
        nfs_shares_config = /etc/volumed/shares
        [b]
        volume_driver = rest
        san_api_url = http://127.0.0.1:1/api
        san_api_token = t
        """

    /// Copies `seed` with random bytes replaced, inserted and deleted.
    static func mangle(_ seed: [UInt8], alphabet: [UInt8], using generator: inout SeededGenerator) -> [UInt8] {
        var bytes = seed
        for _ in 0..<Int.random(in: 1...8, using: &generator) {
            let position = Int.random(in: 0...bytes.count, using: &generator)
            let byte =
                Bool.random(using: &generator)
                ? alphabet.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
            switch Int.random(in: 0..<3, using: &generator) {
            case 0 where position < bytes.count: bytes[position] = byte
            case 1: bytes.insert(byte, at: position)
            default: if position < bytes.count { bytes.remove(at: position) }
            }
        }
        return bytes
    }

    @Test func mangledConfigurationsNeverCrashTheLoaderOrTheFactory() {
        var generator = SeededGenerator(state: 6)
        let alphabet = Array("[]=:#; \t\n\r,\"'abc".utf8)
        var fatal = 0
        for _ in 0..<1500 {
            let text = String(
                decoding: Self.mangle(Array(Self.configSeed.utf8), alphabet: alphabet, using: &generator), as: UTF8.self
            )
            let configuration = ConfigFile.inspect(text: text, fileName: "fuzz.conf", baseDirectory: "/tmp")
            if !configuration.problems.isEmpty { fatal += 1 }
            for problem in configuration.allProblems + configuration.warnings {
                #expect(problem.description.hasPrefix("fuzz.conf"))
            }
            let check = ConfigurationCheck(configuration: configuration)
            for backend in configuration.backends {
                let driver = DriverFactory.makeDriver(for: backend, service: configuration.service)
                if let invalid = driver as? InvalidBackendDriver {
                    #expect(invalid.error.errorClass == .unrecoverable)
                }
            }
            #expect(check.errors.count >= configuration.problems.count)
        }
        #expect(fatal > 0)  // the mangling did reach the fatal paths
    }

    @Test func mangledDocumentsNeverCrashTheJSONReader() {
        var generator = SeededGenerator(state: 42)
        let seed = Array(
            #"{"pools": [{"name": "gold", "total_capacity_gb": 1.5e3, "free_capacity_gb": 12, "x": [null, true, "\u00e9"]}]}"#
                .utf8)
        let alphabet = Array(#"{}[]":,.-+eE0123456789\u"#.utf8)
        var accepted = 0
        for _ in 0..<3000 {
            let bytes = Self.mangle(seed, alphabet: alphabet, using: &generator)
            if (try? ArrayDocuments.capacity(bytes)) != nil { accepted += 1 }
            _ = try? ArrayDocuments.health(bytes)
        }
        #expect(accepted > 0)
        #expect(accepted < 3000)
    }

    @Test func aFloodOfOutputIsBoundedAndRejected() throws {
        let directory = try TemporaryDirectory()
        let tools = try directory.makeDirectory("bin")
        _ = try directory.write("bin/vgs", "#!/bin/sh\nhead -c 5000000 /dev/zero | tr '\\0' 'x'\n", mode: 0o755)
        let driver = LvmDriver(options: .init(volumeBackendName: "flood", volumeGroup: "vg0", toolSearchPath: [tools]))
        let error = driverError { try driver.checkForSetupError() }
        #expect(error?.kind == .other)
        #expect(error?.message.hasSuffix(String(repeating: "x", count: 200) + "\"") == true)
        let result = try CommandRunner.run(
            tools + "/vgs", arguments: [], environment: ["PATH=/usr/bin:/bin"], timeout: 20)
        #expect(result.ending == .exited(0))
        #expect(result.standardOutput.utf8.count == CommandRunner.outputLimit)
    }
}
