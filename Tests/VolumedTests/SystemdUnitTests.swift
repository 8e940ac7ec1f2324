import Foundation
import SharedTestSupport
import Testing

/// contrib/systemd/volumed.service as systemd itself reads it: `systemd-analyze verify` must accept
/// it without a single complaint (it only warns about unknown values, so any output fails).
@Suite(.offCooperativePool) struct SystemdUnitTests {
    static let unitPath = repositoryRoot + "/contrib/systemd/volumed.service"

    /// The unit with its ExecStart pointing at the binary this build made (verify checks that the
    /// command exists and is executable), written as `volumed.service` into a fresh directory.
    static func installedCopy(_ edit: (String) -> String = { $0 }) throws -> (directory: String, path: String) {
        let text = try String(contentsOfFile: unitPath, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/volumed", with: VolumedProcess.executableURL.path)
        let directory = temporaryDirectory("unit")
        let path = directory + "/volumed.service"
        try edit(text).write(toFile: path, atomically: true, encoding: .utf8)
        return (directory, path)
    }

    @Test(
        .enabled(
            if: Tool.available("systemd-analyze"),
            "systemd-analyze is not installed; scripts/setup --test installs it (systemd)"))
    func systemdAnalyzeVerifyAcceptsTheUnit() throws {
        let analyze = try ExternalTool("systemd-analyze", package: "systemd")
        let unit = try Self.installedCopy()
        defer { try? FileManager.default.removeItem(atPath: unit.directory) }
        // --man=no: the container has no man pages; /bin/kill is checked like any other command.
        let result = try analyze.run(["verify", "--man=no", unit.path], directory: unit.directory)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout.isEmpty && result.stderr.isEmpty,
            "systemd-analyze verify complained:\n\(result.stdout)\(result.stderr)")
    }

    /// The check above is only worth something if verify speaks up about a mistake here.
    @Test(
        .enabled(
            if: Tool.available("systemd-analyze"),
            "systemd-analyze is not installed; scripts/setup --test installs it (systemd)"))
    func systemdAnalyzeVerifyCatchesAMistake() throws {
        let analyze = try ExternalTool("systemd-analyze", package: "systemd")
        let unit = try Self.installedCopy { $0.replacingOccurrences(of: "Type=notify", with: "Type=notfy") }
        defer { try? FileManager.default.removeItem(atPath: unit.directory) }
        let result = try analyze.run(["verify", "--man=no", unit.path], directory: unit.directory)
        #expect((result.stdout + result.stderr).contains("notfy"))
    }

    @Test func theUnitSaysWhatTheServiceNeeds() throws {
        let text = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        let settings = Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init))
        for line in [
            "Type=notify", "NotifyAccess=main", "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec=30s",
            "Restart=on-failure", "User=volumed", "StateDirectory=volumed", "ProtectSystem=strict",
            "NoNewPrivileges=yes", "ExecStart=/usr/local/bin/volumed serve --config /etc/volumed/volumed.conf",
        ] {
            #expect(settings.contains(line), "missing \(line)")
        }
        // state_path of the example configuration is the unit's StateDirectory.
        let example = try String(contentsOfFile: repositoryRoot + "/contrib/volumed.conf", encoding: .utf8)
        #expect(example.contains("state_path = /var/lib/volumed\n"))
    }

    /// The example configuration shipped next to the unit passes `volumed check-config` once its
    /// shares file exists (here in a temporary directory instead of /etc/volumed).
    @Test func theExampleConfigurationChecksClean() throws {
        let dir = temporaryDirectory("example-conf")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/share", withIntermediateDirectories: true)
        try "\(dir)/share\n".write(toFile: dir + "/nfs_shares", atomically: true, encoding: .utf8)
        let text = try String(contentsOfFile: repositoryRoot + "/contrib/volumed.conf", encoding: .utf8)
            .replacingOccurrences(of: "/etc/volumed/", with: dir + "/")
        try text.write(toFile: dir + "/volumed.conf", atomically: true, encoding: .utf8)
        let check = try VolumedProcess(["check-config", "--config", dir + "/volumed.conf"])
        #expect(check.waitForExit() == 0, "\(check.stderr)")
        #expect(check.stderr.isEmpty, "no warnings either: \(check.stderr)")
    }
}
