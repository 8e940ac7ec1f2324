import Foundation
import SharedTestSupport
import Synchronization
import Testing

/// The fault matrix, process side: SIGHUP while a driver initializes, SIGTERM with requests in
/// flight, SIGKILL and a restart that keeps the operators' enable/disable decisions.
@Suite(.offCooperativePool) struct FaultMatrixSignalTests {
    /// A reload arrives while `vgs` hangs in the first initialization. The reload points the backend
    /// at working tools, so it comes up; the abandoned call later prints garbage, and that late
    /// result must not flip the state.
    @Test func sighupDuringAnInitialization() throws {
        let dir = temporaryDirectory("hup-init")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stuck = try VgsStandIn(
            directory: dir + "/stuck",
            script: """
                wait_gate
                touch "$d/finished"
                echo 'garbage from a call nobody waits for'
                """)
        stuck.closeGate()
        defer { stuck.release() }
        let working = try VgsStandIn.healthy(directory: dir + "/working", group: "vg-lvm")
        var config = FaultConfig(directory: dir, defaults: ["driver_init_timeout": "60"])
        config.addLvm("lvm", toolsDirectory: stuck.directory)
        try config.addNfs("steady")
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()

        let initializing = api.waitFor(base + "/drivers") {
            state("lvm", $0) == "initializing" && state("steady", $0) == "ready"
        }
        #expect(initializing != nil, "stderr: \(volumed.stderr)")
        #expect(waitUntil(seconds: 30) { stuck.calls == 1 }, "vgs is running")

        config.backends = []
        config.addLvm("lvm", toolsDirectory: working.directory)
        try config.addNfs("steady")
        try config.addNfs("added")
        try config.write()
        volumed.signal(SIGHUP)
        let reloaded = api.waitFor(base + "/drivers") { document in
            state("lvm", document) == "ready" && state("added", document) == "ready"
                && state("steady", document) == "ready"
        }
        #expect(reloaded != nil, "stderr: \(volumed.stderr)")
        #expect(lastError("lvm", reloaded ?? [:]) == nil, "never failed")
        #expect(volumed.waitForOutput(timeout: 30) { _, err in err.contains("configuration reloaded") })

        // The hung call ends now with output that would be `other` if anyone listened.
        stuck.release()
        #expect(waitUntil(seconds: 30) { FileManager.default.fileExists(atPath: stuck.directory + "/finished") })
        let finishedAt = Date()  // nothing to await (the claim is that the late output changes nothing)
        _ = waitUntil(seconds: 3) { Date().timeIntervalSince(finishedAt) >= 1 }
        let after = try api.get(base + "/drivers").json
        #expect(state("lvm", after) == "ready")
        #expect(lastError("lvm", after) == nil)
        #expect(api.transitions(base, "lvm") == ["initializing", "initializing", "ready"])
        #expect(api.transitions(base, "steady") == ["initializing", "ready"], "an unchanged backend is left alone")
        #expect(
            api.waitFor(base + "/v3/scheduler-stats/get_pools") { listsBackend("lvm", $0) && listsBackend("added", $0) }
                != nil)
    }

    /// Three `?wait=10` re-initializations held open by a gated `vgs`, and two GETs whose heads are
    /// half sent, when SIGTERM arrives: every one is answered, then the process exits 0.
    @Test func sigtermWithRequestsInFlight() throws {
        let dir = temporaryDirectory("term")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ids = ["lvm-a", "lvm-b", "lvm-c"]
        var config = FaultConfig(directory: dir)
        var tools: [VgsStandIn] = []
        for id in ids {
            let vgs = try VgsStandIn.gated(directory: dir + "/" + id, group: "vg-" + id)
            tools.append(vgs)
            config.addLvm(id, toolsDirectory: vgs.directory)
        }
        defer { for vgs in tools { vgs.release() } }
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()
        #expect(
            api.waitFor(base + "/drivers") { document in ids.allSatisfy { state($0, document) == "ready" } } != nil,
            "stderr: \(volumed.stderr)")

        for vgs in tools { vgs.closeGate() }
        let answers = Locked<[String: (status: Int, state: String?)]>([:])
        let group = DispatchGroup()
        for id in ids {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let client = JSONClient()
                let outcome: (Int, String?)
                if let reply = try? client.send("POST", base + "/drivers/\(id)/reinit?wait=10") {
                    outcome = (reply.status, (reply.json["driver"] as? [String: Any])?["state"] as? String)
                } else {
                    outcome = (-1, nil)
                }
                answers.withLock { $0[id] = outcome }
            }
        }
        #expect(
            api.waitFor(base + "/drivers") { document in ids.allSatisfy { state($0, document) == "initializing" } }
                != nil)
        let port = try #require(Loopback.port(of: base))
        let halfSent = (0..<2).compactMap { _ in try? RawClient(port: port, receiveTimeout: 30) }
        #expect(halfSent.count == 2)
        for connection in halfSent { try connection.send("GET /drivers HTTP/1.1\r\nHost: 127.0.0.1\r\n") }
        // Let the server read the partial heads before the signal (a head still unread in the
        // socket buffer when draining starts counts as an idle connection and is closed).
        _ = waitUntil(seconds: 10) { halfSent.allSatisfy { $0.isReadByServer(port: port) } }

        volumed.signal(SIGTERM)
        #expect(volumed.waitForOutput(timeout: 30) { _, err in err.contains("shutting down") })
        for connection in halfSent { try connection.send("Accept: application/json\r\n\r\n") }
        for connection in halfSent {
            let reply = connection.readUntilClosed()
            #expect(reply.hasPrefix("HTTP/1.1 200"), "\(reply.prefix(200))")
            #expect(reply.lowercased().contains("connection: close"), "\(reply.prefix(300))")
            #expect(reply.contains("\"drivers\""))
        }
        // The storage answers; the held re-initializations finish and are answered.
        for vgs in tools { vgs.release() }
        #expect(group.wait(timeout: .now() + 60) == .success)
        let replies = answers.withLock { $0 }
        for id in ids {
            #expect(replies[id]?.status == 200, "\(id): \(String(describing: replies[id])); stderr: \(volumed.stderr)")
            #expect(replies[id]?.state == "ready", "\(id)")
        }
        #expect(volumed.waitForExit(timeout: 30) == 0, "stderr: \(volumed.stderr)")
    }

    /// Operator decisions survive SIGKILL: the restarted process reads them from `state_path`.
    @Test func sigkillThenRestartKeepsServiceFlags() throws {
        let dir = temporaryDirectory("kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir)
        for id in ["a", "b", "c"] { try config.addNfs(id) }
        var (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()
        #expect(
            api.waitFor(base + "/v3/scheduler-stats/get_pools") { document in
                ["a", "b", "c"].allSatisfy { listsBackend($0, document) }
            } != nil,
            "stderr: \(volumed.stderr)")

        let disable = try api.send(
            "PUT", base + "/v3/os-services/disable", json: ["host": hostOf("b"), "binary": "cinder-volume"])
        #expect(disable.status == 200, "\(disable.json)")
        #expect(disable.json["status"] as? String == "disabled")
        let reasoned = try api.send(
            "PUT", base + "/v3/os-services/disable-log-reason",
            json: ["host": hostOf("c"), "binary": "cinder-volume", "disabled_reason": "array firmware upgrade"])
        #expect(reasoned.status == 200, "\(reasoned.json)")

        func checkFlags(_ stage: String) throws {
            let services = try api.get(base + "/v3/services").json
            #expect(service(hostOf("a"), in: services)?["status"] as? String == "enabled", "\(stage)")
            #expect(service(hostOf("b"), in: services)?["status"] as? String == "disabled", "\(stage)")
            #expect(service(hostOf("b"), in: services)?["disabled_reason"] is NSNull, "\(stage)")
            #expect(service(hostOf("c"), in: services)?["status"] as? String == "disabled", "\(stage)")
            #expect(
                service(hostOf("c"), in: services)?["disabled_reason"] as? String == "array firmware upgrade",
                "\(stage)")
            let pools = api.waitFor(base + "/v3/scheduler-stats/get_pools") { document in
                listsBackend("a", document) && !listsBackend("b", document) && !listsBackend("c", document)
            }
            #expect(pools != nil, "\(stage): disabled services stay out of get_pools")
        }
        try checkFlags("before the kill")

        for round in 1...2 {
            volumed.signal(SIGKILL)
            #expect(volumed.waitForExit(timeout: 30) != 0)
            (volumed, base) = try startService(config)
            #expect(
                api.waitFor(base + "/drivers") { document in
                    ["a", "b", "c"].allSatisfy { state($0, document) == "ready" }
                } != nil,
                "round \(round); stderr: \(volumed.stderr)")
            try checkFlags("after restart \(round)")
        }

        // Enabling is persisted too.
        #expect(
            try api.send(
                "PUT", base + "/v3/os-services/enable", json: ["host": hostOf("b"), "binary": "cinder-volume"]
            ).status == 200)
        volumed.signal(SIGKILL)
        _ = volumed.waitForExit(timeout: 30)
        (volumed, base) = try startService(config)
        let services = api.waitFor(base + "/v3/services") { service(hostOf("b"), in: $0) != nil }
        #expect(service(hostOf("b"), in: services ?? [:])?["status"] as? String == "enabled")
        #expect(service(hostOf("c"), in: services ?? [:])?["status"] as? String == "disabled")
        let saved = try String(contentsOfFile: dir + "/state/service-state.json", encoding: .utf8)
        #expect(saved.contains("\"\(hostOf("c"))\"") && !saved.contains("\"\(hostOf("b"))\""), "\(saved)")
    }
}
