import Foundation
import SharedTestSupport
import Testing

/// Listen options take what `check-config` accepts: an address literal or a host name, which the
/// server resolves when it binds (Cinder's `HostAddressOpt`); one rule for both.
@Suite(.offCooperativePool) struct ListenAddressTests {
    @Test func theSchedulerListensOnAHostName() throws {
        let dir = temporaryDirectory("listen-name")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/scheduler.conf"
        try "[DEFAULT]\nscheduler_listen = localhost\nscheduler_listen_port = 0\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        let check = try VolumedProcess(["check-config", "--config", path])
        #expect(check.waitForExit() == 0, "\(check.stderr)")

        let scheduler = try VolumedProcess(["scheduler", "--config", path])
        defer { scheduler.stop() }
        var url: String?
        #expect(
            scheduler.waitForOutput { out, _ in
                guard let range = out.range(of: #"http://localhost:[0-9]+"#, options: .regularExpression) else {
                    return false
                }
                url = String(out[range])
                return true
            }, "stdout: \(scheduler.stdout) stderr: \(scheduler.stderr)")
        let base = try #require(url)
        #expect(try JSONClient().get(base + "/v3/scheduler-stats/get_pools").status == 200)
        scheduler.signal(SIGTERM)
        #expect(scheduler.waitForExit() == 0)
    }

    @Test func theVolumeAPIListensOnAHostName() throws {
        let dir = temporaryDirectory("listen-name-api")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir, defaults: ["osapi_volume_listen": "localhost"])
        try config.addNfs("a")
        let volumed = try VolumedProcess(["serve", "--config", try config.write()])
        defer { volumed.stop() }
        #expect(
            volumed.waitForOutput { out, _ in out.contains("volumed serving http://localhost:") },
            "stdout: \(volumed.stdout) stderr: \(volumed.stderr)")
    }

    /// A name that does not resolve passes the check (it may resolve where the service runs) and
    /// stops start-up with the resolver's reason, naming the option.
    @Test func aNameThatDoesNotResolveStopsStartUpClearly() throws {
        let dir = temporaryDirectory("listen-unresolved")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/scheduler.conf"
        try "[DEFAULT]\nscheduler_listen = no-such-host.invalid\nscheduler_listen_port = 0\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        let scheduler = try VolumedProcess(["scheduler", "--config", path])
        #expect(scheduler.waitForExit() == 1)
        #expect(
            scheduler.stderr.contains(
                "volumed scheduler: cannot start: cannot listen on no-such-host.invalid: the host name does not resolve: "
            ),
            "\(scheduler.stderr)")
        #expect(scheduler.stderr.contains("scheduler_listen"), "\(scheduler.stderr)")
    }
}
