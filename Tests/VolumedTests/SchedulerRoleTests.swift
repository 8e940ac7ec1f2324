import CurlClient
import Foundation
import SharedTestSupport
import Testing

/// `volumed scheduler` as its own process with a volume service reporting to it (issue 5): the
/// pools it lists, and bad report bodies that get 400 or 413 and leave the stored pools as they were.
@Suite(.offCooperativePool) struct SchedulerRoleTests {
    static func report(
        host: String, timestamp: String = "2026-11-24T17:40:00.000000",
        capabilities: [String: Any]? = nil
    ) -> [String: Any] {
        [
            "host": host, "service": "cinder-volume", "timestamp": timestamp,
            "capabilities": capabilities ?? [
                "backend_state": "up", "volume_backend_name": "manual", "vendor_name": "Test", "driver_version": "1.0",
                "storage_protocol": "iSCSI", "total_capacity_gb": 100, "free_capacity_gb": 40,
            ],
        ]
    }

    @Test func volumeServiceReportsToASchedulerProcess() throws {
        let dir = temporaryDirectory("role")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (scheduler, schedulerBase) = try startScheduler(directory: dir, extra: "http_max_body_bytes = 65536\n")
        defer { scheduler.stop() }
        var config = FaultConfig(
            directory: dir, defaults: ["scheduler_url": schedulerBase + "/v3/scheduler/capabilities"])
        try config.addNfs("gold")
        try config.addNfs("silver", present: false)
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()

        let pools = api.waitFor(schedulerBase + "/v3/scheduler-stats/get_pools?detail=true") {
            listsBackend("gold", $0)
        }
        let document = try #require(pools, "scheduler stderr: \(scheduler.stderr); volume stderr: \(volumed.stderr)")
        #expect(!listsBackend("silver", document), "a backend that is down is not listed")
        let gold = try #require(
            (document["pools"] as? [[String: Any]])?.first {
                ($0["name"] as? String)?.hasPrefix(hostOf("gold") + "#") == true
            })
        #expect(gold["name"] as? String == hostOf("gold") + "#" + config.shareDirectory("gold"))
        let capabilities = try #require(gold["capabilities"] as? [String: Any])
        #expect(capabilities["volume_backend_name"] as? String == "gold")
        #expect(capabilities["storage_protocol"] as? String == "nfs")
        #expect(capabilities["driver_version"] as? String == "1.0.0")
        #expect(capabilities["total_capacity_gb"] is NSNumber)
        #expect(capabilities["timestamp"] is String)
        #expect(capabilities["updated"] is String)
        // The volume service itself runs no scheduler routes when it reports elsewhere.
        // The server's own 404 is an OpenStack fault, on both roles' listeners (Cinder's clients parse it).
        let notServed = try api.client.get(base + "/v3/scheduler-stats/get_pools")
        #expect(notServed.status == 404)
        let notFoundFault = #"{"itemNotFound": {"code": 404, "message": "The resource could not be found."}}"#
        #expect(notServed.bodyText == notFoundFault)
        #expect(try api.client.get(schedulerBase + "/no/such/path").bodyText == notFoundFault)

        // The storage of silver appears: the scheduler process lists it after the next ticks.
        try FileManager.default.createDirectory(
            atPath: config.shareDirectory("silver"), withIntermediateDirectories: true)
        #expect(api.waitFor(schedulerBase + "/v3/scheduler-stats/get_pools") { listsBackend("silver", $0) } != nil)

        // Disabling a service reaches the scheduler too.
        #expect(
            try api.send(
                "PUT", base + "/v3/os-services/disable", json: ["host": hostOf("silver"), "binary": "cinder-volume"]
            ).status == 200)
        #expect(
            api.waitFor(schedulerBase + "/v3/scheduler-stats/get_pools") {
                !listsBackend("silver", $0) && listsBackend("gold", $0)
            } != nil)

        volumed.signal(SIGTERM)
        #expect(volumed.waitForExit(timeout: 30) == 0)
        scheduler.signal(SIGTERM)
        #expect(scheduler.waitForExit(timeout: 30) == 0, "stderr: \(scheduler.stderr)")
    }

    /// `scheduler_http_version = 2` against an HTTP/2-only peer (nghttpd, cleartext): reports go
    /// out as HTTP/2 POSTs, all streams of one connection; the same peer refuses HTTP/1.1, and
    /// volumed's own scheduler (HTTP/1.1 only) refuses the HTTP/2 preface, each seen in
    /// `last_publish` with the drivers untouched.
    @Test(
        .enabled(
            if: Tool.available("nghttpd"), "nghttpd is not installed; scripts/setup --test installs it (nghttp2-server)"
        ))
    func publishesOverHTTP2PriorKnowledge() throws {
        let dir = temporaryDirectory("role-h2")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let peer = try NghttpdServer.schedulerStandIn()
        defer { peer.stop() }
        let (scheduler, schedulerBase) = try startScheduler(directory: dir)
        defer { scheduler.stop() }
        let cases: [(name: String, url: String, version: String)] = [
            ("h2", peer.capabilitiesURL, "2"), ("h1", peer.capabilitiesURL, "1.1"),
            ("mismatch", schedulerBase + "/v3/scheduler/capabilities", "2"),
        ]
        var services: [String: (process: VolumedProcess, base: String)] = [:]
        defer { for service in services.values { service.process.stop() } }
        for (name, url, version) in cases {
            let serviceDir = dir + "/" + name
            try FileManager.default.createDirectory(atPath: serviceDir, withIntermediateDirectories: true)
            var config = FaultConfig(
                directory: serviceDir, defaults: ["scheduler_url": url, "scheduler_http_version": version])
            try config.addNfs(name)
            services[name] = try startService(config)
        }
        let api = JSONClient()
        let h2 = try #require(services["h2"])
        #expect(
            api.waitFor(h2.base + "/drivers") { lastPublishOK("h2", $0) == true } != nil, "stderr: \(h2.process.stderr)"
        )
        #expect(
            waitUntil(seconds: 60) { peer.log.components(separatedBy: ":method: POST").count > 3 },
            "\(peer.log.suffix(2000))")
        let posts = peer.log.split(separator: "\n").filter { $0.contains(":method: POST") }
        let connections = Set(posts.map { $0.prefix { $0 != " " } })
        #expect(connections.count == 1, "one connection for every report: \(posts)")
        #expect(peer.log.contains(":path: /v3/scheduler/capabilities"))

        for name in ["h1", "mismatch"] {
            let service = try #require(services[name])
            let refused = api.waitFor(service.base + "/drivers") { lastPublishOK(name, $0) == false }
            #expect(refused != nil, "\(name): stderr: \(service.process.stderr)")
            #expect(state(name, refused ?? [:]) == "ready", "\(name)")
        }
        #expect(try api.get(schedulerBase + "/v3/scheduler-stats/get_pools").json["pools"] as? [Any] != nil)
        #expect(!listsBackend("mismatch", try api.get(schedulerBase + "/v3/scheduler-stats/get_pools").json))
    }

    /// A scheduler with an admin token takes reports only from services configured with the same
    /// token; the others see 403 in `last_publish` and keep running unchanged.
    @Test func adminTokenGuardsReports() throws {
        let dir = temporaryDirectory("role-token")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (scheduler, schedulerBase) = try startScheduler(directory: dir, extra: "admin_token = alpha-token\n")
        defer { scheduler.stop() }
        var services: [(process: VolumedProcess, base: String)] = []
        defer { for service in services { service.process.stop() } }
        for (name, token) in [("trusted", "alpha-token"), ("intruder", "beta-token")] {
            let serviceDir = dir + "/" + name
            try FileManager.default.createDirectory(atPath: serviceDir, withIntermediateDirectories: true)
            var config = FaultConfig(
                directory: serviceDir,
                defaults: [
                    "scheduler_url": schedulerBase + "/v3/scheduler/capabilities", "admin_token": token,
                ])
            try config.addNfs(name)
            services.append(try startService(config))
        }
        let api = JSONClient()
        #expect(api.waitFor(services[0].base + "/drivers") { lastPublishOK("trusted", $0) == true } != nil)
        let refused = api.waitFor(services[1].base + "/drivers") { lastPublishOK("intruder", $0) == false }
        let error = (driver("intruder", in: refused ?? [:])?["last_publish"] as? [String: Any])?["error"] as? String
        #expect(error?.contains("answered 403") == true, "\(String(describing: error))")
        #expect(state("intruder", refused ?? [:]) == "ready")
        let pools = try #require(
            api.waitFor(schedulerBase + "/v3/scheduler-stats/get_pools") { listsBackend("trusted", $0) })
        #expect(!listsBackend("intruder", pools))
        // Nor may anyone else post without the token.
        #expect(
            try api.send("POST", schedulerBase + "/v3/scheduler/capabilities", json: Self.report(host: "node9@x"))
                .status == 401)
    }

    /// Keep-alive between ticks: over 15 ticks of publishing to the scheduler process, the volume
    /// service holds one connection to it, the same one throughout (its local port is unchanged),
    /// and no stream of closed connections (one per report would leave a TIME_WAIT entry each).
    @Test func publisherKeepsItsConnectionAlive() throws {
        let dir = temporaryDirectory("role-keepalive")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (scheduler, schedulerBase) = try startScheduler(directory: dir)
        defer { scheduler.stop() }
        let port = try #require(Loopback.port(of: schedulerBase))
        var config = FaultConfig(
            directory: dir, defaults: ["scheduler_url": schedulerBase + "/v3/scheduler/capabilities"])
        try config.addNfs("gold")
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()
        #expect(
            api.waitFor(base + "/drivers") { lastPublishOK("gold", $0) == true } != nil, "stderr: \(volumed.stderr)")

        let pid = volumed.process.processIdentifier
        let before = LoopbackTCPTable.connections(of: pid, to: port)
        let closedBefore = LoopbackTCPTable.timeWaits(port: port)
        let windowStart = Date()  // the scenario: a 3 s window of publishing, then count the connections
        _ = waitUntil(seconds: 5) { Date().timeIntervalSince(windowStart) >= 3 }
        let after = LoopbackTCPTable.connections(of: pid, to: port)
        let closed = LoopbackTCPTable.timeWaits(port: port) - closedBefore
        let table = LoopbackTCPTable.entries().filter { $0.localPort == port || $0.remotePort == port }
        #expect(before.count == 1, "\(before); \(table)")
        #expect(after == before, "the publisher's connection changed: \(before) -> \(after); \(table)")
        #expect(closed <= 2, "\(closed) connections to the scheduler closed in 15 ticks; \(table)")
        let drivers = try api.get(base + "/drivers").json
        #expect(lastPublishOK("gold", drivers) == true)
    }

    @Test func badBodiesGet400AndLeavePoolsAlone() throws {
        let dir = temporaryDirectory("role-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (scheduler, schedulerBase) = try startScheduler(directory: dir, extra: "http_max_body_bytes = 65536\n")
        defer { scheduler.stop() }
        let api = JSONClient()
        let capabilitiesURL = schedulerBase + "/v3/scheduler/capabilities"
        let detailURL = schedulerBase + "/v3/scheduler-stats/get_pools?detail=true"

        let stored = try api.send("POST", capabilitiesURL, json: Self.report(host: "node1@kept"))
        #expect(stored.status == 204, "\(stored.json)")
        let client = try CurlClient(configuration: .init(connectTimeout: 5, totalTimeout: 20))
        let before = try client.get(detailURL)
        #expect(before.status == 200)
        let beforeNames = poolNames(
            (try? JSONSerialization.jsonObject(with: Data(before.body))) as? [String: Any] ?? [:])
        #expect(beforeNames == ["node1@kept#manual"])

        var good = Self.report(host: "node2@smuggled", timestamp: "2026-11-24T17:41:00.000000")
        good["capabilities"] = (good["capabilities"] as! [String: Any]).merging(["free_capacity_gb": 10]) { _, new in
            new
        }
        var upWithoutStats = Self.report(host: "node1@kept", timestamp: "2026-11-24T17:42:00.000000")
        upWithoutStats["capabilities"] = ["backend_state": "up"]
        let cases: [(name: String, body: [UInt8], field: String)] = [
            ("not JSON", Array(#"{"host": "node1@kept", "#.utf8), "body"),
            ("empty body", [], "body"),
            ("an array", Array("[1, 2]".utf8), "body"),
            (
                "no capabilities",
                json(["host": "node1@kept", "service": "cinder-volume", "timestamp": "2026-11-24T17:42:00.000000"]),
                "capabilities"
            ),
            ("host without backend", json(Self.report(host: "node1")), "host"),
            (
                "wrong service",
                json(Self.report(host: "node1@kept").merging(["service": "cinder-backup"]) { _, new in new }), "service"
            ),
            ("bad timestamp", json(Self.report(host: "node1@kept", timestamp: "yesterday")), "timestamp"),
            ("up without stats", json(upWithoutStats), "capabilities.volume_backend_name"),
            (
                "negative capacity",
                json(
                    Self.report(
                        host: "node1@kept", timestamp: "2026-11-24T17:43:00.000000",
                        capabilities: [
                            "backend_state": "up", "volume_backend_name": "manual", "vendor_name": "Test",
                            "driver_version": "1.0",
                            "storage_protocol": "iSCSI", "total_capacity_gb": -1, "free_capacity_gb": 40,
                        ])), "capabilities.total_capacity_gb"
            ),
            ("an empty batch", json(["reports": []]), "reports"),
        ]
        for (name, body, field) in cases {
            let response = try client.post(capabilitiesURL, body: body)
            #expect(response.status == 400, "\(name): \(response.status) \(response.bodyText)")
            let fault =
                ((try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any])?["badRequest"]
                as? [String: Any]
            #expect(fault?["code"] as? Int == 400, "\(name): \(response.bodyText)")
            #expect((fault?["message"] as? String)?.contains("'\(field)'") == true, "\(name): \(response.bodyText)")
        }
        let tooLarge = try client.post(capabilitiesURL, body: [UInt8](repeating: UInt8(ascii: " "), count: 70_000))
        #expect(tooLarge.status == 413, "\(tooLarge.status) \(tooLarge.bodyText)")

        let after = try client.get(detailURL)
        #expect(after.status == 200)
        #expect(after.body == before.body, "the stored pools changed:\n\(before.bodyText)\n\(after.bodyText)")
        #expect(after.header("ETag") == before.header("ETag"))
        // A batch with one bad report: the good one is stored, the bad one refused by position (200).
        let partial = try client.post(
            capabilitiesURL,
            body: json(["reports": [good, Self.report(host: "node3@x", capabilities: ["backend_state": "sideways"])]]))
        #expect(partial.status == 200, "\(partial.status) \(partial.bodyText)")
        let answer = (try? JSONSerialization.jsonObject(with: Data(partial.body))) as? [String: Any] ?? [:]
        #expect(answer["accepted"] as? Int == 1)
        let refused = answer["refused"] as? [[String: Any]] ?? []
        #expect(
            refused.count == 1 && refused.first?["index"] as? Int == 1 && refused.first?["host"] as? String == "node3@x"
                && refused.first?["reason"] as? String == "invalid", "\(partial.bodyText)")
        #expect((refused.first?["message"] as? String)?.hasPrefix("reports[1].capabilities.backend_state: ") == true)
        // Still accepting good reports afterwards.
        #expect(try client.post(capabilitiesURL, body: json(good)).status == 204)
        let pools = try api.get(schedulerBase + "/v3/scheduler-stats/get_pools").json
        #expect(poolNames(pools).sorted() == ["node1@kept#manual", "node2@smuggled#manual"])
        let metrics = try client.get(schedulerBase + "/metrics").bodyText
        #expect(metrics.contains("volumed_scheduler_rejected_bodies_total \(cases.count)"), "\(metrics)")
    }
}

private func json(_ object: Any) -> [UInt8] {
    (try? [UInt8](JSONSerialization.data(withJSONObject: object))) ?? []
}
