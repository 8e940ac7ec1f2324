import Foundation
import HTTPServer
import Scheduler
import SharedTestSupport
import Testing

@testable import VolumeAPI

/// A valid report body for `host`, with its timestamp `secondsAgo` in the past.
func reportBody(host: String, pool: String = "gold", free: Double = 80, state: String = "up", secondsAgo: Double = 0)
    -> String
{
    let timestamp = CapabilityTimestamp(Date().addingTimeInterval(-secondsAgo)).description
    return """
        {"host": "\(host)", "service": "cinder-volume", "timestamp": "\(timestamp)",
         "capabilities": {"backend_state": "\(state)", "volume_backend_name": "gold", "vendor_name": "Open Source",
                          "driver_version": "1.0", "storage_protocol": "nfs", "total_capacity_gb": 100, "free_capacity_gb": \(free),
                          "pools": [{"pool_name": "\(pool)", "total_capacity_gb": 100, "free_capacity_gb": \(free)}]}}
        """
}

@Suite("scheduler routes", .offCooperativePool)
struct SchedulerRouteTests {
    @Test("a good report answers 204 and get_pools lists its pool; detail adds the capabilities")
    func goodReport() throws {
        let harness = try APIHarness([], tick: 30, withScheduler: true)
        defer { harness.stop() }
        let posted = try harness.send("POST", "/v3/scheduler/capabilities", json: reportBody(host: "node9@nfs-gold"))
        #expect(posted.status == 204)
        #expect(posted.body.isEmpty)

        let pools = try harness.get("/v3/scheduler-stats/get_pools")
        #expect(pools.status == 200)
        #expect(pools.text == #"{"pools":[{"name":"node9@nfs-gold#gold"}]}"#)
        #expect(try harness.get("/v3/abc123/scheduler-stats/get_pools").body == pools.body)

        let detail = try harness.get("/v3/scheduler-stats/get_pools?detail=true")
        let entry = try #require((detail.json["pools"] as? [[String: Any]])?.first)
        let capabilities = try #require(entry["capabilities"] as? [String: Any])
        #expect(capabilities["free_capacity_gb"] as? Double == 80)
        #expect(capabilities["pool_name"] as? String == "gold")
        #expect(capabilities["timestamp"] is String)
        #expect(capabilities["updated"] is String)
        #expect(detail.header("etag") != pools.header("etag"))
    }

    @Test(
        "bad bodies answer 400 naming the field, and the stored pools stay as they were",
        arguments: [
            (
                #"{"host": "node9@nfs-gold", "service": "cinder-volume", "timestamp": "2026-11-24T17:40:00.000000", "capabilities": {"backend_state": "up", "volume_backend_name": "gold", "vendor_name": "x", "driver_version": "1", "storage_protocol": "nfs", "total_capacity_gb": 100, "free_capacity_gb": -1}}"#,
                "'capabilities.free_capacity_gb'"
            ),
            (#"{"reports": {"host": "a@b"}}"#, "'reports'"),
            (
                #"{"host": "node9@nfs-gold", "service": "cinder-volume", "timestamp": "yesterday", "capabilities": {"backend_state": "down"}}"#,
                "'timestamp'"
            ),
            (#"{"host": "node9@nfs-gold""#, "'body'"),
            ("[]", "'body'"),
        ])
    func badBodies(body: String, field: String) throws {
        let harness = try APIHarness([], tick: 30, withScheduler: true)
        defer { harness.stop() }
        #expect(
            try harness.send("POST", "/v3/scheduler/capabilities", json: reportBody(host: "node9@nfs-gold")).status
                == 204)
        let before = try harness.get("/v3/scheduler-stats/get_pools?detail=true")

        let response = try harness.send("POST", "/v3/scheduler/capabilities", json: body)
        #expect(response.status == 400)
        #expect(fault(response)?.name == "badRequest")
        #expect(fault(response)?.message.hasPrefix("Invalid capability report: \(field) ") == true)

        let after = try harness.get("/v3/scheduler-stats/get_pools?detail=true")
        #expect(after.body == before.body)
        #expect(after.header("etag") == before.header("etag"))
    }

    @Test("a body over the server's limit answers 413")
    func tooLarge() throws {
        let harness = try APIHarness([], tick: 30, withScheduler: true)
        defer { harness.stop() }
        let padding = String(repeating: " ", count: 1024 * 1024 + 10)
        let response = try harness.send(
            "POST", "/v3/scheduler/capabilities", json: reportBody(host: "node9@nfs-gold") + padding)
        #expect(response.status == 413)
        #expect(fault(response)?.name == "requestEntityTooLarge")
        #expect(try harness.poolNames().isEmpty)
    }

    @Test("get_pools ETag: 304 while unchanged, a new tag once a report changes the pools")
    func poolsETag() throws {
        let harness = try APIHarness([], tick: 30, withScheduler: true)
        defer { harness.stop() }
        #expect(
            try harness.send("POST", "/v3/scheduler/capabilities", json: reportBody(host: "node9@nfs-gold")).status
                == 204)
        let first = try harness.get("/v3/scheduler-stats/get_pools")
        let etag = try #require(first.header("etag"))
        #expect(try harness.get("/v3/scheduler-stats/get_pools", headers: [("If-None-Match", etag)]).status == 304)
        // A newer report with the same pool keeps the plain view, and its tag, unchanged.
        #expect(
            try harness.send("POST", "/v3/scheduler/capabilities", json: reportBody(host: "node9@nfs-gold", free: 70))
                .status == 204)
        #expect(try harness.get("/v3/scheduler-stats/get_pools", headers: [("If-None-Match", etag)]).status == 304)
        #expect(
            try harness.send(
                "POST", "/v3/scheduler/capabilities", json: reportBody(host: "node9@nfs-gold", state: "down")
            ).status == 204)
        let changed = try harness.get("/v3/scheduler-stats/get_pools", headers: [("If-None-Match", etag)])
        #expect(changed.status == 200)
        #expect(changed.text == #"{"pools":[]}"#)
    }

    @Test("bad ?detail answers 400")
    func badDetail() throws {
        let harness = try APIHarness([], tick: 30, withScheduler: true)
        defer { harness.stop() }
        let response = try harness.get("/v3/scheduler-stats/get_pools?detail=maybe")
        #expect(response.status == 400)
        #expect(fault(response)?.message == "Invalid query parameter 'detail': expected true or false, got 'maybe'.")
    }

    @Test("posting capabilities needs the admin token like every mutation")
    func capabilitiesAuth() throws {
        let harness = try APIHarness([], tick: 30, adminToken: "tok", withScheduler: true)
        defer { harness.stop() }
        #expect(try harness.send("POST", "/v3/scheduler/capabilities", json: reportBody(host: "a@b")).status == 401)
        #expect(
            try harness.send("POST", "/v3/scheduler/capabilities", json: reportBody(host: "a@b"), token: "bad").status
                == 403)
        #expect(
            try harness.send("POST", "/v3/scheduler/capabilities", json: reportBody(host: "a@b"), token: "tok").status
                == 204)
    }

    @Test("the in-process scheduler is listed in os-services as cinder-scheduler on the host")
    func schedulerService() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30, withScheduler: true)
        defer { harness.stop() }
        let list = services(try harness.get("/v3/os-services"))
        #expect(list.map { $0["binary"] as? String } == ["cinder-scheduler", "cinder-volume"])
        let scheduler = try #require(list.first)
        #expect(
            Set(scheduler.keys) == [
                "binary", "host", "zone", "status", "state", "updated_at", "disabled_reason", "cluster",
            ])
        #expect(scheduler["host"] as? String == "node1")
        #expect(scheduler["state"] as? String == "up")
        #expect(scheduler["status"] as? String == "enabled")
        #expect(services(try harness.get("/v3/os-services?binary=cinder-scheduler")).count == 1)
        #expect(services(try harness.get("/v3/os-services?host=node1@nfs-gold")).count == 1)
        let refused = try harness.send(
            "PUT", "/v3/os-services/disable", json: #"{"host": "node1", "binary": "cinder-scheduler"}"#)
        #expect(refused.status == 400)
    }

    @Test("the scheduler-only role serves the scheduler routes, healthz and metrics")
    func schedulerRole() throws {
        let store = CapabilityStore(serviceDownTime: 60)
        let api = SchedulerAPI(store: store, adminToken: nil, logger: quietLogger)
        var router = Router()
        api.registerSchedulerRole(on: &router)
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopCount = 1
        configuration.renderError = OpenStackFault.render
        let metrics = api.requestMetrics
        let server = HTTPServer(
            configuration: configuration, router: router, logger: quietLogger, onResponse: { metrics.record($0) })
        try server.start()
        defer { server.shutdown(gracePeriod: .seconds(2)) }
        let port = try #require(server.localPort)
        let body = Array(reportBody(host: "node9@nfs-gold").utf8)
        #expect(
            try RawClient.request(
                port: port, method: "POST", path: "/v3/scheduler/capabilities",
                headers: [("Content-Type", "application/json")], body: body
            ).status == 204)
        #expect(try RawClient.request(port: port, method: "GET", path: "/healthz").status == 200)
        let pools = try RawClient.request(port: port, method: "GET", path: "/v3/scheduler-stats/get_pools")
        #expect(pools.text == #"{"pools":[{"name":"node9@nfs-gold#gold"}]}"#)
        let text = try RawClient.request(port: port, method: "GET", path: "/metrics").text
        for line in [
            #"volumed_scheduler_backends{listed="true"} 1"#, "volumed_scheduler_pools 1",
            #"volumed_scheduler_reports_total{result="accepted"} 1"#,
            #"volumed_http_requests_total{route="/v3/scheduler/capabilities",method="POST",code="204"} 1"#,
        ] {
            #expect(text.contains(line + "\n"), "missing: \(line)")
        }
        // The volume service's routes are not part of this role.
        #expect(try RawClient.request(port: port, method: "GET", path: "/v3/os-services").status == 404)
    }
}
