import Foundation
import SharedTestSupport
import Synchronization
import Testing

/// Operator decisions on a real `volumed serve`: acknowledged only once durable (a full file
/// system answers 503 and changes nothing), kept per service across reloads and SIGKILL, and a
/// state file volumed must not trust stops start-up.
@Suite(.offCooperativePool) struct DurableDecisionTests {
    static let disable = "/v3/os-services/disable"
    static let enable = "/v3/os-services/enable"
    static let disableWithReason = "/v3/os-services/disable-log-reason"

    static func body(_ backend: String, reason: String? = nil) -> [String: Any] {
        var body: [String: Any] = ["host": hostOf(backend), "binary": "cinder-volume"]
        if let reason { body["disabled_reason"] = reason }
        return body
    }

    static func status(_ backend: String, _ base: String) throws -> (String?, String?) {
        let services = try JSONClient().get(base + "/v3/services").json
        let entry = service(hostOf(backend), in: services)
        return (entry?["status"] as? String, entry?["disabled_reason"] as? String)
    }

    // MARK: a full file system

    /// The state directory is a 256 KiB tmpfs this test mounts (it runs as root), filled to the
    /// last block: a real ENOSPC from write(2), not a simulated one.
    @Test(.enabled(if: getuid() == 0, "mounts a tmpfs, which needs root"))
    func aFullFileSystemAnswers503AndChangesNothing() throws {
        let dir = temporaryDirectory("enospc")
        let state = dir + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        guard mount("tmpfs", state, "tmpfs", 0, "size=256k,mode=0700") == 0 else {
            throw FaultTestError("mount tmpfs on \(state): \(String(cString: strerror(errno)))")
        }
        defer {
            umount2(state, Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: dir)
        }
        var config = FaultConfig(directory: dir)
        try config.addNfs("a")
        try config.addNfs("b")
        var (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()
        #expect(
            try api.send("PUT", base + Self.disableWithReason, json: Self.body("a", reason: "before the disk filled"))
                .status == 200)

        try fill(state + "/filler")
        let refused = try api.send("PUT", base + Self.disable, json: Self.body("b"))
        #expect(refused.status == 503, "\(refused.json)")
        let fault = refused.json["serviceUnavailable"] as? [String: Any]
        let message = fault?["message"] as? String ?? ""
        #expect(message.hasPrefix("The decision could not be made durable: \(state)/."), "\(message)")
        #expect(message.hasSuffix(": cannot write: No space left on device; nothing was changed."), "\(message)")
        let reEnable = try api.send("PUT", base + Self.enable, json: Self.body("a"))
        #expect(reEnable.status == 503, "\(reEnable.json)")
        // Memory unchanged: the listing and the scheduler still see what was last acknowledged.
        #expect(try Self.status("a", base) == ("disabled", "before the disk filled"))
        #expect(try Self.status("b", base) == ("enabled", nil))
        #expect(
            api.waitFor(base + "/v3/scheduler-stats/get_pools") { listsBackend("b", $0) && !listsBackend("a", $0) }
                != nil)
        // No temporary file is left to eat the space.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: state).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty, "\(leftovers)")

        volumed.signal(SIGKILL)
        _ = volumed.waitForExit()
        (volumed, base) = try startService(config)
        #expect(
            api.waitFor(base + "/v3/services") { service(hostOf("b"), in: $0) != nil } != nil,
            "stderr: \(volumed.stderr)")
        #expect(try Self.status("a", base) == ("disabled", "before the disk filled"))
        #expect(try Self.status("b", base) == ("enabled", nil))

        // Space again: the same decision is acknowledged and kept.
        unlink(state + "/filler")
        #expect(try api.send("PUT", base + Self.disable, json: Self.body("b")).status == 200)
        volumed.signal(SIGKILL)
        _ = volumed.waitForExit()
        (volumed, base) = try startService(config)
        #expect(
            api.waitFor(base + "/v3/services") { service(hostOf("b"), in: $0)?["status"] as? String == "disabled" }
                != nil)
    }

    /// Writes zeros to `path` until the file system refuses with ENOSPC.
    private func fill(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw FaultTestError("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let block = [UInt8](repeating: 0, count: 4096)
        while true {
            let written = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                guard errno == ENOSPC else {
                    throw FaultTestError("filling \(path): \(String(cString: strerror(errno)))")
                }
                break
            }
        }
        // Partial blocks too: a 1-byte write must fail as well.
        var byte: UInt8 = 0
        #expect(write(fd, &byte, 1) < 0 && errno == ENOSPC)
    }

    // MARK: reloads

    /// A disabled backend removed by one SIGHUP and added back by a later one comes back disabled,
    /// though another service's flag changed in between (which used to rewrite the file without it).
    @Test func aBackendRemovedAndAddedBackKeepsItsDecision() throws {
        let dir = temporaryDirectory("reload-decisions")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir)
        try config.addNfs("a")
        try config.addNfs("b")
        var (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()
        #expect(
            try api.send("PUT", base + Self.disableWithReason, json: Self.body("b", reason: "disk swap")).status == 200)

        let withB = config
        config.backends.removeAll { $0.name == "b" }
        try config.write()
        volumed.signal(SIGHUP)
        #expect(
            api.waitFor(base + "/v3/services") { service(hostOf("b"), in: $0) == nil } != nil,
            "stderr: \(volumed.stderr)")
        #expect(try api.send("PUT", base + Self.disable, json: Self.body("a")).status == 200)
        #expect(try api.send("PUT", base + Self.enable, json: Self.body("a")).status == 200)

        try withB.write()
        volumed.signal(SIGHUP)
        #expect(
            api.waitFor(base + "/v3/services") { service(hostOf("b"), in: $0) != nil } != nil,
            "stderr: \(volumed.stderr)")
        #expect(try Self.status("b", base) == ("disabled", "disk swap"))
        #expect(
            api.waitFor(base + "/v3/scheduler-stats/get_pools") { listsBackend("a", $0) && !listsBackend("b", $0) }
                != nil,
            "the scheduler never sees b enabled")

        // And across a restart that happens while b is not configured.
        try config.write()
        volumed.signal(SIGKILL)
        _ = volumed.waitForExit()
        (volumed, base) = try startService(config)
        #expect(try api.send("PUT", base + Self.disable, json: Self.body("a")).status == 200)
        volumed.signal(SIGKILL)
        _ = volumed.waitForExit()
        try withB.write()
        (volumed, base) = try startService(withB)
        #expect(api.waitFor(base + "/v3/services") { service(hostOf("b"), in: $0) != nil } != nil)
        #expect(try Self.status("b", base) == ("disabled", "disk swap"))
        #expect(try Self.status("a", base) == ("disabled", nil))
    }

    // MARK: SIGKILL during acknowledged decisions

    /// Clients keep deciding (one at a time per service, as an operator would) while the process
    /// is killed with SIGKILL at random moments. After each restart every service shows the last
    /// decision acknowledged with 200, or the one that was in flight when the process died.
    @Test func everyAcknowledgedDecisionSurvivesSIGKILL() throws {
        let dir = temporaryDirectory("kill-loop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir)
        let names = ["k1", "k2", "k3", "k4"]
        for name in names { try config.addNfs(name) }
        var (volumed, base) = try startService(config)
        defer { volumed.stop() }
        // Per service: the last acknowledged status and the one in flight.
        let known = Locked<[String: (acked: String, inFlight: String?)]>(
            Dictionary(uniqueKeysWithValues: names.map { ($0, (acked: "enabled|", inFlight: nil)) }))
        var acknowledged = 0
        for round in 1...6 {
            let stop = Atomic(false)
            let count = Atomic(0)
            let group = DispatchGroup()
            for name in names {
                DispatchQueue.global().async(group: group) { [base] in
                    let client = JSONClient()
                    var n = 0
                    while !stop.load(ordering: .relaxed) {
                        n += 1
                        let disable = n % 3 != 0
                        let reason = "r\(round)-\(n)"
                        let expected = disable ? "disabled|\(reason)" : "enabled|"
                        known.withLock { $0[name]!.inFlight = expected }
                        let path = disable ? Self.disableWithReason : Self.enable
                        let answer = try? client.send(
                            "PUT", base + path, json: Self.body(name, reason: disable ? reason : nil))
                        if answer?.status == 200 {
                            known.withLock { $0[name] = (acked: expected, inFlight: nil) }
                            count.add(1, ordering: .relaxed)
                        } else {
                            return  // the process is gone; what was in flight may or may not have been kept
                        }
                    }
                }
            }
            usleep(UInt32.random(in: 200_000...700_000))  // the scenario: a crash at a random moment
            volumed.signal(SIGKILL)
            _ = volumed.waitForExit()
            stop.store(true, ordering: .relaxed)
            #expect(group.wait(timeout: .now() + 30) == .success)
            acknowledged += count.load(ordering: .relaxed)

            (volumed, base) = try startService(config)
            let services = try #require(
                JSONClient().waitFor(base + "/v3/services") { document in
                    names.allSatisfy { service(hostOf($0), in: document) != nil }
                }, "stderr: \(volumed.stderr)")
            for name in names {
                let entry = service(hostOf(name), in: services)
                let shown = "\(entry?["status"] as? String ?? "?")|\(entry?["disabled_reason"] as? String ?? "")"
                let expectation = known.withLock { $0[name]! }
                #expect(
                    shown == expectation.acked || shown == expectation.inFlight,
                    "round \(round), \(name): shows \(shown), acknowledged \(expectation.acked), in flight \(expectation.inFlight ?? "-")"
                )
                // What it shows is now the acknowledged state the next round starts from.
                known.withLock { $0[name] = (acked: shown, inFlight: nil) }
            }
        }
        #expect(acknowledged > 20, "enough decisions were acknowledged to mean something: \(acknowledged)")
    }

    // MARK: state files volumed must not trust

    @Test func startUpRefusesADanglingSymlinkAndAnUnknownVersion() throws {
        let dir = temporaryDirectory("state-refusals")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
        var config = FaultConfig(directory: dir)
        try config.addNfs("a")
        let path = try config.write()

        try FileManager.default.createSymbolicLink(
            atPath: dir + "/state/service-state.json", withDestinationPath: dir + "/gone.json")
        let dangling = try VolumedProcess(["serve", "--config", path])
        #expect(dangling.waitForExit() == 1, "stdout: \(dangling.stdout)")
        #expect(
            dangling.stderr.contains(
                "volumed: cannot start: \(dir)/state/service-state.json: it is a symbolic link to \(dir)/gone.json, which does not exist"
            ),
            "\(dangling.stderr)")

        unlink(dir + "/state/service-state.json")
        try #"{"version": 99, "services": []}"#.write(
            toFile: dir + "/state/service-state.json", atomically: true, encoding: .utf8)
        let future = try VolumedProcess(["serve", "--config", path])
        #expect(future.waitForExit() == 1, "stdout: \(future.stdout)")
        #expect(
            future.stderr.contains(
                "has \"version\": 99, which this volumed does not understand (it reads version 1 and 2)"),
            "\(future.stderr)")

        // A directory in its place used to read "cannot read: Success" (errno read after the fact).
        unlink(dir + "/state/service-state.json")
        try FileManager.default.createDirectory(
            atPath: dir + "/state/service-state.json", withIntermediateDirectories: false)
        let directory = try VolumedProcess(["serve", "--config", path])
        #expect(directory.waitForExit() == 1, "stdout: \(directory.stdout)")
        #expect(
            directory.stderr.contains("service-state.json: it is not a regular file (a directory)"),
            "\(directory.stderr)")
        #expect(!directory.stderr.contains("Success"), "\(directory.stderr)")
    }

    /// The old writer's temporary file was `service-state.json.tmp.<pid>`, opened with
    /// O_CREAT|O_TRUNC: a link planted there had its target overwritten by the next decision.
    @Test func aLinkPlantedAtAPredictableTemporaryNameIsNotFollowed() throws {
        let dir = temporaryDirectory("planted")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir)
        try config.addNfs("a")
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let victim = dir + "/victim"
        try "precious\n".write(toFile: victim, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            atPath: dir + "/state/service-state.json.tmp.\(volumed.process.processIdentifier)",
            withDestinationPath: victim)
        #expect(try JSONClient().send("PUT", base + Self.disable, json: Self.body("a")).status == 200)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        #expect(try String(contentsOfFile: dir + "/state/service-state.json", encoding: .utf8).contains(hostOf("a")))
    }

    // MARK: signals during a reload

    /// A configuration file whose reload takes at least `atLeast` seconds on this machine and
    /// build: an unused section of N options, N doubled until `volumed check-config` (the same
    /// parser and checks a reload runs) takes that long. Returns its text and the time measured.
    static func slowReloadText(base: String, directory: String, atLeast: Double) throws -> (String, Double) {
        var count = 50_000
        while true {
            var text = base + "\n[bulk]\n"
            text.reserveCapacity(count * 40)
            for n in 0..<count { text += "custom_option_\(n) = value \(n)\n" }
            let path = directory + "/calibrate.conf"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let started = Date()
            let check = try VolumedProcess(["check-config", "--config", path])
            _ = check.waitForExit(timeout: 300)
            let seconds = Date().timeIntervalSince(started)
            if seconds >= atLeast || count >= 3_200_000 { return (text, seconds) }
            count *= 2
        }
    }

    /// SIGTERM during a long reload stops the service at once instead of after the reload (the
    /// signal thread used to run the reload itself and took no signal meanwhile).
    @Test func sigtermStopsTheServiceDuringALongReload() throws {
        let dir = temporaryDirectory("hup-long")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir)
        try config.addNfs("a")
        let path = try config.write()
        let (slow, seconds) = try Self.slowReloadText(base: config.text, directory: dir, atLeast: 4)
        let volumed = try VolumedProcess(["serve", "--config", path])
        defer { volumed.stop() }
        #expect(volumed.waitForURL() != nil, "stderr: \(volumed.stderr)")
        try slow.write(toFile: path, atomically: true, encoding: .utf8)
        volumed.signal(SIGHUP)
        // The reload is now reading the file. Nothing outside the process marks its start (it logs
        // only when it ends), so the scenario waits an eighth of its measured length.
        usleep(UInt32(seconds * 1_000_000 / 8))
        let stopAt = Date()
        volumed.signal(SIGTERM)
        #expect(volumed.waitForExit(timeout: 60) == 0, "stderr: \(volumed.stderr)")
        let stopping = Date().timeIntervalSince(stopAt)
        #expect(stopping < seconds / 2, "stopped \(stopping) s after SIGTERM; the reload takes about \(seconds) s")
        #expect(volumed.stderr.contains("volume service stopped"), "\(volumed.stderr)")
        #expect(!volumed.stderr.contains("configuration reloaded"), "the reload was abandoned, not finished first")
    }

    /// The documented "a second one exits at once" holds during a long reload too.
    @Test func aSecondSignalExitsAtOnceDuringALongReload() throws {
        let dir = temporaryDirectory("hup-long-twice")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir)
        try config.addNfs("a")
        let path = try config.write()
        let (slow, seconds) = try Self.slowReloadText(base: config.text, directory: dir, atLeast: 4)
        let volumed = try VolumedProcess(["serve", "--config", path])
        defer { volumed.stop() }
        #expect(volumed.waitForURL() != nil, "stderr: \(volumed.stderr)")
        try slow.write(toFile: path, atomically: true, encoding: .utf8)
        volumed.signal(SIGHUP)
        usleep(UInt32(seconds * 1_000_000 / 8))  // as above: an eighth into the reload
        let stopAt = Date()
        volumed.signal(SIGINT)
        volumed.signal(SIGINT)
        #expect(volumed.waitForExit(timeout: 60) != nil)
        let stopping = Date().timeIntervalSince(stopAt)
        #expect(stopping < seconds / 2, "exited \(stopping) s after two SIGINTs; the reload takes about \(seconds) s")
        #expect(!volumed.stderr.contains("configuration reloaded"), "\(volumed.stderr.suffix(2000))")
    }
}

/// Out of file descriptors is the other way a decision cannot be written: 503, nothing changed.
@Suite(.offCooperativePool) struct DecisionWithoutFileDescriptorsTests {
    /// Sets the soft open-file limit of `pid` (the hard one unchanged).
    static func prlimit(_ pid: Int32, soft: Int) throws {
        let limit = Process()
        limit.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        limit.arguments = ["--pid", "\(pid)", "--nofile=\(soft):"]
        try limit.run()
        limit.waitUntilExit()
        #expect(limit.terminationStatus == 0)
    }

    @Test func noDescriptorLeftAnswers503AndChangesNothing() throws {
        let dir = temporaryDirectory("emfile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir, defaults: ["backend_stats_polling_interval": "30"])
        try config.addNfs("a")
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let pid = volumed.process.processIdentifier
        #expect(JSONClient().waitFor(base + "/drivers") { state("a", $0) == "ready" } != nil)
        // A connection the server has accepted, then no descriptor left for anything new: with a
        // soft limit of 3, every new descriptor is refused (descriptors already open keep working).
        let port = try #require(Loopback.port(of: base))
        let connection = try RawClient(port: port, receiveTimeout: 30)
        try connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(connection.readSome().hasPrefix("HTTP/1.1 200"))
        try Self.prlimit(pid, soft: 3)
        let body = #"{"host": "\#(hostOf("a"))", "binary": "cinder-volume"}"#
        try connection.send(
            "PUT /v3/os-services/disable HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
        let answer = connection.readUntilClosed()
        #expect(answer.hasPrefix("HTTP/1.1 503"), "\(answer)")
        #expect(answer.contains(": cannot create: Too many open files; nothing was changed."), "\(answer)")
        try Self.prlimit(pid, soft: 4096)
        #expect(try DurableDecisionTests.status("a", base) == ("enabled", nil))
        // Descriptors again: the same decision is acknowledged and kept.
        #expect(
            try JSONClient().send("PUT", base + DurableDecisionTests.disable, json: DurableDecisionTests.body("a"))
                .status == 200)
        #expect(try DurableDecisionTests.status("a", base) == ("disabled", nil))
    }
}
