import Foundation
import SharedTestSupport
import Testing

/// SIGHUP on a running process: a fixed backend section is applied and re-initialized, backends are
/// added and removed, and a file that no longer parses is rejected while the service runs on.
@Suite(.offCooperativePool) struct ReloadTests {
    static func config(dir: String, backends: [String: String]) -> String {
        var text = """
            [DEFAULT]
            enabled_backends = \(backends.keys.sorted().joined(separator: ","))
            backend_stats_polling_interval = 0.2
            osapi_volume_listen_port = 0
            state_path = \(dir)/state

            """
        for (name, body) in backends.sorted(by: { $0.key < $1.key }) { text += "[\(name)]\n\(body)\n" }
        return text
    }

    @Test func sighupFixesAddsAndRemovesBackends() throws {
        let dir = temporaryDirectory("reload")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/share", withIntermediateDirectories: true)
        try "\(dir)/share\n".write(toFile: dir + "/shares", atomically: true, encoding: .utf8)
        let good = "volume_driver = nfs\nnfs_shares_config = \(dir)/shares\nnfs_mount_point_base = \(dir)/mnt\n"
        let path = dir + "/volumed.conf"
        try Self.config(dir: dir, backends: ["alpha": "volume_driver = nfs\n", "beta": good])
            .write(toFile: path, atomically: true, encoding: .utf8)

        let volumed = try VolumedProcess(["serve", "--config", path])
        defer { volumed.stop() }
        let base = try #require(volumed.waitForURL(), "stderr: \(volumed.stderr)")
        let api = JSONClient()
        let first = api.waitFor(base + "/drivers") { document in
            driver("alpha", in: document)?["state"] as? String == "failed"
                && driver("beta", in: document)?["state"] as? String == "ready"
        }
        let alpha = try #require(first.flatMap { driver("alpha", in: $0) }, "stderr: \(volumed.stderr)")
        #expect((alpha["last_error"] as? [String: Any])?["kind"] as? String == "config_error")
        #expect(alpha["reinit_attempts"] as? Int == 0)

        // Fix alpha, drop beta, add gamma.
        try Self.config(dir: dir, backends: ["alpha": good, "gamma": good]).write(
            toFile: path, atomically: true, encoding: .utf8)
        volumed.signal(SIGHUP)
        let reloaded = api.waitFor(base + "/drivers") { document in
            let ids = ((document["drivers"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
            return ids == ["alpha", "gamma"]
                && driver("alpha", in: document)?["state"] as? String == "ready"
                && driver("gamma", in: document)?["state"] as? String == "ready"
        }
        #expect(reloaded != nil, "stderr: \(volumed.stderr)")

        // A file that no longer parses is rejected; the running backends stay.
        try "[DEFAULT]\nreinit_driver_count = many\n".write(toFile: path, atomically: true, encoding: .utf8)
        volumed.signal(SIGHUP)
        #expect(
            volumed.waitForOutput(timeout: 30) { _, err in err.contains("reload rejected") },
            "stderr: \(volumed.stderr)")
        let after = try api.get(base + "/drivers")
        #expect(after.status == 200)
        #expect(driver("alpha", in: after.json)?["state"] as? String == "ready")
        #expect(driver("gamma", in: after.json)?["state"] as? String == "ready")
    }
}

/// A reload names only the `[DEFAULT]` options it could not apply: inherited backend options are
/// applied through the backends, the tick is read at start-up.
@Suite(.offCooperativePool) struct ReloadDefaultOptionsTests {
    @Test func onlyOptionsNotAppliedAreReportedAsNeedingARestart() throws {
        let dir = temporaryDirectory("reload-default")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/share", withIntermediateDirectories: true)
        try "\(dir)/share\n".write(toFile: dir + "/shares", atomically: true, encoding: .utf8)
        let backend = "volume_driver = nfs\nnfs_shares_config = \(dir)/shares\nnfs_mount_point_base = \(dir)/mnt\n"
        let path = dir + "/volumed.conf"
        try ReloadTests.config(dir: dir, backends: ["alpha": backend]).write(
            toFile: path, atomically: true, encoding: .utf8)
        let volumed = try VolumedProcess(["serve", "--config", path])
        defer { volumed.stop() }
        let base = try #require(volumed.waitForURL(), "stderr: \(volumed.stderr)")
        let api = JSONClient()
        #expect(api.waitFor(base + "/drivers") { driver("alpha", in: $0)?["reinit_limit"] as? Int == 3 } != nil)

        let changed = ReloadTests.config(dir: dir, backends: ["alpha": backend])
            .replacingOccurrences(
                of: "backend_stats_polling_interval = 0.2",
                with: "backend_stats_polling_interval = 0.3\nreinit_driver_count = 7")
        try changed.write(toFile: path, atomically: true, encoding: .utf8)
        volumed.signal(SIGHUP)
        #expect(
            api.waitFor(base + "/drivers") { driver("alpha", in: $0)?["reinit_limit"] as? Int == 7 } != nil,
            "stderr: \(volumed.stderr)")
        #expect(
            volumed.waitForOutput(timeout: 30) { _, err in
                err.contains("take effect at the next restart options=backend_stats_polling_interval (")
            }, "stderr: \(volumed.stderr)")
    }
}
