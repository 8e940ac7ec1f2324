import Foundation
import SharedTestSupport
import Testing

@Suite("os-services", .offCooperativePool)
struct ServicesTests {
    @Test("lists every backend in Cinder's 3.49 shape")
    func listShape() throws {
        let harness = try APIHarness([TestBackend("nfs-gold"), TestBackend("lvm-1", storagePresent: false)])
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "ready"))
        #expect(try harness.waitForState("lvm-1", "retrying"))

        let response = try harness.get("/v3/os-services")
        #expect(response.status == 200)
        #expect(response.header("content-type") == "application/json")
        let list = services(response)
        #expect(list.map { $0["host"] as? String } == ["node1@lvm-1", "node1@nfs-gold"])
        let gold = try #require(list.last)
        #expect(
            Set(gold.keys) == [
                "binary", "host", "zone", "status", "state", "updated_at", "disabled_reason",
                "backend_state", "cluster", "replication_status", "active_backend_id", "frozen",
            ])
        #expect(gold["binary"] as? String == "cinder-volume")
        #expect(gold["zone"] as? String == "az1")
        #expect(gold["status"] as? String == "enabled")
        #expect(gold["state"] as? String == "up")
        #expect(gold["backend_state"] as? String == "up")
        #expect(gold["disabled_reason"] is NSNull)
        #expect(gold["cluster"] is NSNull)
        #expect(gold["active_backend_id"] is NSNull)
        #expect(gold["replication_status"] as? String == "disabled")
        #expect(gold["frozen"] as? Bool == false)
        let updatedAt = try #require(gold["updated_at"] as? String)
        #expect(updatedAt.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}/) != nil)

        // A backend whose driver never came up is still a live service, with backend_state down (never null).
        let lvm = try #require(list.first)
        #expect(lvm["state"] as? String == "up")
        #expect(lvm["backend_state"] as? String == "down")
    }

    @Test("/v3/services, the project-scoped Cinder path and HEAD answer the same")
    func aliases() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        // Compare once the driver is up, so initialization finishing between two requests cannot
        // change backend_state under the comparison (seen on a loaded machine).
        #expect(try waitUntil { try harness.get("/v3/os-services").text.contains("\"backend_state\": \"up\"") })
        let plain = try harness.get("/v3/os-services")
        let short = try harness.get("/v3/services")
        let scoped = try harness.get("/v3/6f2b0c4e/os-services")
        #expect(plain.status == 200 && short.status == 200 && scoped.status == 200)
        #expect(plain.body == short.body)
        #expect(plain.body == scoped.body)
        let head = try RawClient.request(
            port: harness.port, method: "HEAD", path: "/v3/os-services",
            headers: APIHarness.newest)
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        #expect(head.header("etag") == plain.header("etag"))
    }

    @Test("filters by host and binary with exact matches")
    func filters() throws {
        let harness = try APIHarness([TestBackend("nfs-gold"), TestBackend("nfs-silver")], tick: 30)
        defer { harness.stop() }
        let byHost = services(try harness.get("/v3/os-services?host=node1%40nfs-silver"))
        #expect(byHost.map { $0["host"] as? String } == ["node1@nfs-silver"])
        #expect(services(try harness.get("/v3/os-services?host=node1")).isEmpty)
        #expect(services(try harness.get("/v3/os-services?binary=cinder-volume")).count == 2)
        #expect(services(try harness.get("/v3/os-services?binary=cinder-scheduler")).isEmpty)
        #expect(services(try harness.get("/v3/os-services?binary=cinder-volume&host=node1@nfs-gold")).count == 1)
        // Empty values do not filter, as in Cinder.
        #expect(services(try harness.get("/v3/os-services?host=&binary=")).count == 2)
        // The filtered answer has an ETag of its own.
        #expect(
            try harness.get("/v3/os-services?host=node1%40nfs-silver").header("etag")
                != harness.get("/v3/os-services").header("etag"))
    }

    @Test("ETag answers 304 until the content changes, then changes")
    func etags() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 3600, adminToken: "secret")
        defer { harness.stop() }
        #expect(try waitUntil { try harness.get("/v3/os-services").text.contains("\"backend_state\": \"up\"") })
        let first = try harness.get("/v3/os-services")
        let etag = try #require(first.header("etag"))
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""))
        let again = try harness.get("/v3/os-services")
        #expect(again.header("etag") == etag)
        let notModified = try harness.get("/v3/os-services", headers: APIHarness.newest + [("If-None-Match", etag)])
        #expect(notModified.status == 304)
        #expect(notModified.body.isEmpty)
        #expect(notModified.header("etag") == etag)
        #expect(
            try harness.get("/v3/os-services", headers: APIHarness.newest + [("If-None-Match", "\"other\"")]).status
                == 200)

        let disabled = try harness.send(
            "PUT", "/v3/os-services/disable", json: #"{"host": "node1@nfs-gold", "binary": "cinder-volume"}"#,
            token: "secret")
        #expect(disabled.status == 200)
        let changed = try harness.get("/v3/os-services", headers: APIHarness.newest + [("If-None-Match", etag)])
        #expect(changed.status == 200)
        #expect(changed.header("etag") != etag)
        #expect(services(changed).first?["status"] as? String == "disabled")
    }

    @Test("state turns down when the heartbeat is older than service_down_time, with no stale cache")
    func stateFollowsClock() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 3600, serviceDownTime: 60)
        defer { harness.stop() }
        let before = try harness.get("/v3/os-services")
        #expect(services(before).first?["state"] as? String == "up")
        harness.clock.shift(by: 61)
        let after = try harness.get(
            "/v3/os-services", headers: APIHarness.newest + [("If-None-Match", before.header("etag") ?? "")])
        #expect(after.status == 200)
        #expect(services(after).first?["state"] as? String == "down")
        #expect(after.header("etag") != before.header("etag"))
        // A heartbeat from a clock far ahead is down too (Cinder compares the absolute age).
        harness.clock.shift(by: -200)
        #expect(services(try harness.get("/v3/os-services")).first?["state"] as? String == "down")
        harness.clock.shift(by: 139)
        #expect(services(try harness.get("/v3/os-services")).first?["state"] as? String == "up")
    }
}
