import Foundation
import SharedTestSupport
import Testing

/// What an operator meets when start-up cannot go as planned: each case exits with the documented
/// code and one message that names the cause and the option that fixes it.
@Suite(.offCooperativePool) struct OperatorStartUpTests {
    /// Two services on one port must not share it: the second fails, naming the option to change.
    @Test func aSecondInstanceOnTheSamePortFailsClearly() throws {
        let dir = temporaryDirectory("sameport")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir)
        try config.addNfs("a")
        let (first, base) = try startService(config)
        defer { first.stop() }
        let port = try #require(Loopback.port(of: base))

        var second = FaultConfig(directory: dir + "/second", defaults: ["osapi_volume_listen_port": "\(port)"])
        try FileManager.default.createDirectory(atPath: second.directory, withIntermediateDirectories: true)
        try second.addNfs("a")
        let path = try second.write()
        let volumed = try VolumedProcess(["serve", "--config", path])
        #expect(volumed.waitForExit() == 1)
        #expect(
            volumed.stderr.contains(
                "volumed: cannot start: 127.0.0.1:\(port) is already in use by another process (another volumed?); "
                    + "stop it or choose another port with osapi_volume_listen_port"), "\(volumed.stderr)")
        #expect(volumed.stdout.isEmpty)
        // The first one still answers.
        #expect((try? JSONClient().get(base + "/healthz").status) == 200)
    }

    /// A state directory that cannot be created stops start-up: a `disable` acknowledged later
    /// would otherwise be lost at the next restart.
    @Test func anUnusableStatePathStopsStartUp() throws {
        let dir = temporaryDirectory("statepath")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "not a directory\n".write(toFile: dir + "/file", atomically: true, encoding: .utf8)
        var config = FaultConfig(directory: dir, defaults: ["state_path": dir + "/file/state"])
        try config.addNfs("a")
        let volumed = try VolumedProcess(["serve", "--config", try config.write()])
        #expect(volumed.waitForExit() == 1)
        #expect(
            volumed.stderr.contains(
                "volumed: cannot start: state_path: cannot create \(dir)/file/state: \(dir)/file is not a directory"),
            "\(volumed.stderr)")
        #expect(!volumed.stderr.contains("NSCocoaErrorDomain"))
    }

    /// A state file that is not readable must not silently re-enable disabled services.
    @Test func aDamagedStateFileStopsStartUp() throws {
        let dir = temporaryDirectory("statefile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
        try "{\"services\": ".write(toFile: dir + "/state/service-state.json", atomically: true, encoding: .utf8)
        var config = FaultConfig(directory: dir)
        try config.addNfs("a")
        let volumed = try VolumedProcess(["serve", "--config", try config.write()])
        #expect(volumed.waitForExit() == 1)
        #expect(
            volumed.stderr.contains(
                "volumed: cannot start: \(dir)/state/service-state.json is not a volumed state file ("),
            "\(volumed.stderr)")
        #expect(
            volumed.stderr.contains("repair it, or remove it to start with every service enabled"), "\(volumed.stderr)")
    }

    /// `--port` and `--data-dir` only shape the embedded configuration; with `--config` they would
    /// be ignored, so they are refused.
    @Test func embeddedOnlyOptionsAreRefusedWithAFile() throws {
        let dir = temporaryDirectory("flags")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir)
        try config.addNfs("a")
        let path = try config.write()
        let withPort = try VolumedProcess(["serve", "--config", path, "--port", "9999"])
        #expect(withPort.waitForExit() == 64)
        #expect(
            withPort.stderr.contains(
                "--port applies to the embedded configuration only; with --config set osapi_volume_listen_port in the file"
            ),
            "\(withPort.stderr)")
        let badPort = try VolumedProcess(["serve", "--port", "99999"])
        #expect(badPort.waitForExit() == 64)
        #expect(badPort.stderr.contains("--port: expected a port number 0-65535, got 99999"), "\(badPort.stderr)")
        let badLevel = try VolumedProcess(["serve", "--log-level", "loud"])
        #expect(badLevel.waitForExit() == 64)
        #expect(badLevel.stderr.contains("volumed serve"), "the usage shown is serve's: \(badLevel.stderr)")
    }

    /// Start-up warnings are log lines like every other, and include the driver options check-config
    /// warns about; SIGTERM ends with a line saying the service stopped.
    @Test func startUpWarningsAreLogLinesAndStopIsLogged() throws {
        let dir = temporaryDirectory("warnings")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir, defaults: ["reinit_drivr_count": "5"])
        try config.addNfs("a")
        config.backends[0].body += "\nnfs_sparsed_volume = true"
        let (volumed, _) = try startService(config)
        defer { volumed.stop() }
        #expect(volumed.waitForOutput { _, err in err.contains("volume service started") }, "\(volumed.stderr)")
        let lines = volumed.stderr.split(separator: "\n")
        let typo = lines.first { $0.contains("reinit_drivr_count") }
        #expect(
            typo?.contains(" warning ") == true
                && typo?.hasSuffix("unknown option, ignored (did you mean reinit_driver_count?) (volumed)") == true,
            "\(volumed.stderr)")
        #expect(
            lines.contains {
                $0.contains(" warning ")
                    && $0.contains(
                        "a.nfs_sparsed_volume: unknown option for the nfs driver, ignored (did you mean nfs_sparsed_volumes?)"
                    )
            },
            "\(volumed.stderr)")
        #expect(!lines.contains { $0.hasPrefix("warning: ") }, "every line is a log line: \(volumed.stderr)")

        volumed.signal(SIGTERM)
        #expect(volumed.waitForExit() == 0)
        let tail = volumed.stderr.split(separator: "\n")
        #expect(
            tail.contains { $0.contains(" notice stopping: ") && $0.contains("signal=SIGTERM") }, "\(volumed.stderr)")
        #expect(tail.contains { $0.contains(" notice volume service stopped") }, "\(volumed.stderr)")
    }

    @Test func checkConfigRefusesAnEmptyFileAndSummarizes() throws {
        let dir = temporaryDirectory("emptyconf")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/volumed.conf"
        try "".write(toFile: path, atomically: true, encoding: .utf8)
        let check = try VolumedProcess(["check-config", "--config", path])
        #expect(check.waitForExit() == 2)
        #expect(
            check.stderr == """
                \(path): the file has no [section] (it is empty or only comments); write a [DEFAULT] section with enabled_backends
                \(path): 1 problem(s); volumed would not start (exit 2)

                """)
    }
}
