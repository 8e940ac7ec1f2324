import Foundation
import HTTPServer
import SharedTestSupport
import Testing

@Suite("health, metrics and faults", .offCooperativePool)
struct HealthAndMetricsTests {
    @Test("healthz answers 200 while serving")
    func healthz() throws {
        let harness = try APIHarness([], tick: 30)
        defer { harness.stop() }
        let response = try harness.get("/healthz")
        #expect(response.status == 200)
        #expect(response.text == #"{"status": "ok"}"#)
        #expect(response.header("etag") != nil)
    }

    @Test("readyz answers 503 listing the backends that are not ready, then 200")
    func readyz() throws {
        let backend = TestBackend("nfs-silver", storagePresent: false)
        let harness = try APIHarness([TestBackend("nfs-gold"), backend])
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-silver", "retrying"))
        #expect(try harness.waitForState("nfs-gold", "ready"))
        let waiting = try harness.get("/readyz")
        #expect(waiting.status == 503)
        #expect(waiting.json["ready"] as? Bool == false)
        #expect(waiting.json["running"] as? Bool == true)
        #expect(waiting.json["backends"] as? Int == 2)
        let notReady = try #require(waiting.json["not_ready"] as? [[String: Any]])
        #expect(notReady.count == 1)
        #expect(notReady.first?["id"] as? String == "nfs-silver")
        #expect(notReady.first?["host"] as? String == "node1@nfs-silver")
        #expect(notReady.first?["state"] as? String == "retrying")
        #expect((notReady.first?["last_error"] as? [String: Any])?["kind"] as? String == "backend_unavailable")

        backend.driver.storagePresent = true
        #expect(try waitUntil { try harness.get("/readyz").status == 200 })
        let ready = try harness.get("/readyz")
        #expect(ready.json["ready"] as? Bool == true)
        #expect((ready.json["not_ready"] as? [Any])?.isEmpty == true)
    }

    @Test("readyz is 503 while supervision is not running")
    func readyzNotRunning() throws {
        let harness = try APIHarness([], tick: 30, startSupervision: false)
        defer { harness.stop() }
        let response = try harness.get("/readyz")
        #expect(response.status == 503)
        #expect(response.json["running"] as? Bool == false)
    }

    @Test("metrics expose backend and HTTP series in Prometheus text format")
    func metrics() throws {
        let harness = try APIHarness([TestBackend("nfs-gold"), TestBackend("nfs-silver", misconfigured: true)])
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "ready"))
        #expect(try harness.waitForState("nfs-silver", "failed"))
        #expect(
            try waitUntil { (try harness.driver("nfs-gold")["last_publish"] as? [String: Any])?["ok"] as? Bool == true }
        )
        _ = try harness.get("/drivers/nope")
        _ = try harness.get("/no/such/path")
        let response = try harness.get("/metrics")
        #expect(response.status == 200)
        #expect(response.header("content-type") == "text/plain; version=0.0.4; charset=utf-8")
        let lines = Set(response.text.split(separator: "\n").map(String.init))
        let expected = [
            #"volumed_backend_up{backend="nfs-gold",host="node1@nfs-gold"} 1"#,
            #"volumed_backend_up{backend="nfs-silver",host="node1@nfs-silver"} 0"#,
            #"volumed_backend_state{backend="nfs-gold",host="node1@nfs-gold",state="ready"} 1"#,
            #"volumed_backend_state{backend="nfs-gold",host="node1@nfs-gold",state="retrying"} 0"#,
            #"volumed_backend_state{backend="nfs-silver",host="node1@nfs-silver",state="failed"} 1"#,
            #"volumed_backend_reinit_attempts{backend="nfs-silver",host="node1@nfs-silver"} 0"#,
            #"volumed_backend_reinit_limit{backend="nfs-gold",host="node1@nfs-gold"} 3"#,
            #"volumed_backend_failures_total{backend="nfs-silver",host="node1@nfs-silver",kind="config_error",class="unrecoverable"} 1"#,
            #"volumed_backend_failures_total{backend="nfs-gold",host="node1@nfs-gold",kind="timeout",class="recoverable"} 0"#,
            #"volumed_backend_publishes_total{backend="nfs-silver",host="node1@nfs-silver",result="failed"} 0"#,
            #"volumed_backend_reinit_duration_seconds_count{backend="nfs-silver",host="node1@nfs-silver"} 1"#,
            #"volumed_backend_disabled{backend="nfs-gold",host="node1@nfs-gold"} 0"#,
            #"volumed_supervision_running 1"#,
            #"volumed_backends 2"#,
            "# TYPE volumed_backend_reinit_duration_seconds summary",
            "# TYPE volumed_http_requests_total counter",
            #"volumed_http_requests_total{route="/drivers/{id}",method="GET",code="404"} 1"#,
            #"volumed_http_requests_total{route="unmatched",method="GET",code="404"} 1"#,
        ]
        for line in expected { #expect(lines.contains(line), "missing: \(line)") }
        #expect(
            lines.contains {
                $0.hasPrefix(#"volumed_backend_publishes_total{backend="nfs-gold",host="node1@nfs-gold",result="ok"} "#)
                    && !$0.hasSuffix(" 0")
            })
        #expect(
            lines.contains {
                $0.hasPrefix(#"volumed_http_requests_total{route="/drivers/{id}",method="GET",code="200"} "#)
            })
        // Every sample line is `name{labels} value` or `name value`.
        for line in lines where !line.hasPrefix("#") {
            #expect(
                line.wholeMatch(of: /[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? [-+0-9.eInfNa]+/) != nil,
                "bad line: \(line)")
        }
    }

    @Test("unknown paths answer 404 and wrong methods 405 with Allow, as OpenStack faults")
    func faults() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        let missing = try harness.get("/v2/volumes")
        #expect(missing.status == 404)
        #expect(fault(missing)?.name == "itemNotFound")
        let wrongMethod = try harness.send("DELETE", "/drivers/nfs-gold")
        #expect(wrongMethod.status == 405)
        #expect(fault(wrongMethod)?.name == "badMethod")
        #expect(wrongMethod.header("allow") == "GET, HEAD")
        let getReinit = try harness.get("/drivers/nfs-gold/reinit")
        #expect(getReinit.status == 405)
        #expect(getReinit.header("allow") == "POST")
        #expect(try harness.get("/v3/os-services/enable").header("allow") == "PUT")
    }
}
