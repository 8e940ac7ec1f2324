import Foundation
import SharedTestSupport
import Testing

/// The whole story of issue 7, told through the API alone with a 0.2 s tick.
@Suite("recovery through the API", .offCooperativePool)
struct RecoveryStoryTests {
    @Test("a backend down at start retries, its storage appears, it becomes ready and get_pools lists it")
    func recovers() throws {
        let backend = TestBackend("nfs-gold", storagePresent: false, reinitDriverCount: 0)
        let harness = try APIHarness([backend, TestBackend("nfs-silver")], tick: 0.2, withScheduler: true)
        defer { harness.stop() }

        // One document both satisfies the wait and is inspected: with a 0.2 s tick the driver is
        // re-initializing every tick, so a second read may catch it `initializing`.
        var retrying: [String: Any] = [:]
        #expect(
            try waitUntil {
                retrying = try harness.driver("nfs-gold")
                return retrying["state"] as? String == "retrying" && retrying["reinit_attempts"] as? Int ?? 0 >= 1
            })
        let error = try #require(retrying["last_error"] as? [String: Any])
        #expect(error["class"] as? String == "recoverable")
        #expect(error["kind"] as? String == "backend_unavailable")
        #expect(retrying["reinit_limit"] as? Int == 0)
        #expect(retrying["next_reinit_at"] is String)
        #expect(try waitUntil { try harness.poolNames() == ["node1@nfs-silver#nfs-silver"] })
        let down = services(try harness.get("/v3/os-services?host=node1%40nfs-gold")).first
        #expect(down?["backend_state"] as? String == "down")
        #expect(down?["state"] as? String == "up")

        backend.driver.storagePresent = true
        #expect(try harness.waitForState("nfs-gold", "ready"))
        #expect(
            try waitUntil { try harness.poolNames() == ["node1@nfs-gold#nfs-gold", "node1@nfs-silver#nfs-silver"] })
        let ready = try harness.driver("nfs-gold")
        #expect(ready["initialized"] as? Bool == true)
        // The attempts of the episode that just ended stay visible: one per automatic re-initialization event.
        let events = try #require(try harness.get("/drivers/nfs-gold/events").json["events"] as? [[String: Any]])
        let automatic = events.filter { ($0["reason"] as? String)?.hasPrefix("automatic re-initialization") == true }
            .count
        #expect(automatic >= 1)
        #expect(ready["reinit_attempts"] as? Int == automatic)
        #expect(ready["next_reinit_at"] is NSNull)
        #expect((ready["last_error"] as? [String: Any])?["kind"] as? String == "backend_unavailable")
        #expect(
            services(try harness.get("/v3/os-services?host=node1%40nfs-gold")).first?["backend_state"] as? String
                == "up")
        #expect(try harness.get("/readyz").status == 200)
    }

    @Test("a disabled backend stays ready but leaves get_pools, and returns when enabled")
    func disabledLeavesPools() throws {
        let harness = try APIHarness(
            [TestBackend("nfs-gold"), TestBackend("nfs-silver")], tick: 0.2, withScheduler: true)
        defer { harness.stop() }
        #expect(try waitUntil { try harness.poolNames().count == 2 })
        let disable = try harness.send(
            "PUT", "/v3/os-services/disable-log-reason",
            json: #"{"host": "node1@nfs-gold", "binary": "cinder-volume", "disabled_reason": "maintenance"}"#)
        #expect(disable.status == 200)
        #expect(try waitUntil { try harness.poolNames() == ["node1@nfs-silver#nfs-silver"] })
        #expect(try harness.driverState("nfs-gold") == "ready")
        let listed = services(try harness.get("/v3/os-services?host=node1%40nfs-gold")).first
        #expect(listed?["status"] as? String == "disabled")
        #expect(listed?["disabled_reason"] as? String == "maintenance")
        #expect(
            try harness.send(
                "PUT", "/v3/os-services/enable", json: #"{"host": "node1@nfs-gold", "binary": "cinder-volume"}"#
            ).status == 200)
        #expect(try waitUntil { try harness.poolNames().count == 2 })
    }

    @Test("an unrecoverable backend shows failed with 0 attempts through many ticks, until a manual reinit")
    func unrecoverable() throws {
        let backend = TestBackend("nfs-gold", misconfigured: true)
        let harness = try APIHarness([backend], tick: 0.2, withScheduler: true)
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "failed"))
        for _ in 0..<5 {
            harness.waitForTicks(1)
            let driver = try harness.driver("nfs-gold")
            #expect(driver["state"] as? String == "failed")
            #expect(driver["reinit_attempts"] as? Int == 0)
            #expect((driver["last_error"] as? [String: Any])?["class"] as? String == "unrecoverable")
        }
        #expect(try harness.poolNames().isEmpty)
        backend.driver.misconfigured = false
        let response = try harness.send("POST", "/drivers/nfs-gold/reinit?wait=20")
        #expect(response.status == 200)
        #expect((response.json["driver"] as? [String: Any])?["state"] as? String == "ready")
        #expect(try waitUntil { try harness.poolNames() == ["node1@nfs-gold#nfs-gold"] })
    }
}
