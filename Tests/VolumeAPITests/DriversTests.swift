import Foundation
import SharedTestSupport
import Testing

@Suite("drivers", .offCooperativePool)
struct DriversTests {
    @Test("GET /drivers and /drivers/{id} carry every field")
    func driverFields() throws {
        let harness = try APIHarness([TestBackend("nfs-gold"), TestBackend("nfs-silver", storagePresent: false)])
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "ready"))
        #expect(try waitUntil { try harness.driver("nfs-gold")["last_publish"] is [String: Any] })

        let list = try harness.get("/drivers")
        #expect(list.status == 200)
        #expect(list.header("etag") != nil)
        let drivers = try #require(list.json["drivers"] as? [[String: Any]])
        #expect(drivers.map { $0["id"] as? String } == ["nfs-gold", "nfs-silver"])

        let gold = try harness.driver("nfs-gold")
        #expect(
            Set(gold.keys) == [
                "id", "host", "volume_driver", "volume_backend_name", "state", "initialized",
                "reinit_attempts", "reinit_limit", "last_error", "next_reinit_at", "last_publish",
                "capabilities",
            ])
        #expect(gold["host"] as? String == "node1@nfs-gold")
        #expect(gold["volume_driver"] as? String == "cinder.volume.drivers.nfs.NfsDriver")
        #expect(gold["volume_backend_name"] as? String == "nfs-gold")
        #expect(gold["initialized"] as? Bool == true)
        #expect(gold["reinit_attempts"] as? Int == 0)
        #expect(gold["reinit_limit"] as? Int == 3)
        #expect(gold["last_error"] is NSNull)
        #expect(gold["next_reinit_at"] is NSNull)
        let publish = try #require(gold["last_publish"] as? [String: Any])
        #expect(publish["ok"] as? Bool == true)
        #expect(publish["error"] is NSNull)
        #expect((publish["at"] as? String)?.hasSuffix("Z") == true)
        let capabilities = try #require(gold["capabilities"] as? [String: Any])
        #expect(capabilities["volume_backend_name"] as? String == "nfs-gold")
        #expect(capabilities["total_capacity_gb"] as? Double == 100)
        #expect(capabilities["free_capacity_gb"] as? Double == 80)
        let pools = try #require(capabilities["pools"] as? [[String: Any]])
        #expect(pools.first?["pool_name"] as? String == "nfs-gold")
        #expect(pools.first?["max_over_subscription_ratio"] as? Double == 20)
        #expect(pools.first?["QoS_support"] as? Bool == false)

        #expect(try harness.waitForState("nfs-silver", "retrying"))
        let silver = try harness.driver("nfs-silver")
        #expect(silver["initialized"] as? Bool == false)
        #expect(silver["capabilities"] is NSNull)
        #expect(silver["next_reinit_at"] is String)
        let error = try #require(silver["last_error"] as? [String: Any])
        #expect(error["class"] as? String == "recoverable")
        #expect(error["kind"] as? String == "backend_unavailable")
        #expect(error["message"] as? String == "share 10.0.0.9:/gold is not mounted")
    }

    @Test("unknown driver ids answer 404 itemNotFound")
    func unknownDriver() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        for path in ["/drivers/nope", "/drivers/nope/events"] {
            let response = try harness.get(path)
            #expect(response.status == 404)
            #expect(fault(response)?.name == "itemNotFound")
            #expect(fault(response)?.message == "Driver nope could not be found.")
        }
        let reinit = try harness.send("POST", "/drivers/nope/reinit")
        #expect(reinit.status == 404)
        #expect(fault(reinit)?.name == "itemNotFound")
    }

    @Test("events list transitions newest first with time, from, to and reason")
    func events() throws {
        let backend = TestBackend("nfs-gold", storagePresent: false)
        let harness = try APIHarness([backend])
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "retrying"))
        backend.driver.storagePresent = true
        #expect(try harness.waitForState("nfs-gold", "ready"))

        let response = try harness.get("/drivers/nfs-gold/events")
        #expect(response.status == 200)
        #expect(response.header("etag") != nil)
        #expect(response.json["id"] as? String == "nfs-gold")
        let events = try #require(response.json["events"] as? [[String: Any]])
        #expect(events.count >= 3)
        #expect(events.first?["to"] as? String == "ready")
        #expect(events.last?["to"] as? String == "initializing")
        #expect(events.last?["from"] is NSNull)
        for event in events {
            #expect(Set(event.keys) == ["at", "from", "to", "reason"])
            #expect((event["reason"] as? String)?.isEmpty == false)
        }
        let times = events.compactMap { $0["at"] as? String }
        #expect(times == times.sorted(by: >))
        #expect(events.contains { $0["to"] as? String == "retrying" })
    }

    @Test("a budget of 1 shows exhausted after one retry")
    func exhaustedAfterBudget() throws {
        let harness = try APIHarness([TestBackend("nfs-gold", storagePresent: false, reinitDriverCount: 1)])
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "exhausted"))
        let driver = try harness.driver("nfs-gold")
        #expect(driver["reinit_attempts"] as? Int == 1)
        #expect(driver["reinit_limit"] as? Int == 1)
        #expect(driver["next_reinit_at"] is NSNull)
        #expect((driver["last_error"] as? [String: Any])?["class"] as? String == "recoverable")
        // Exhausted stays exhausted: several more ticks change nothing.
        harness.waitForTicks(4)
        #expect(try harness.driverState("nfs-gold") == "exhausted")
        #expect(harness.drivers["nfs-gold"]?.setupCalls == 2)
    }
}
