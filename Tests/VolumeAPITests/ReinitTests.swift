import Foundation
import HTTPServer
import Testing

@testable import VolumeAPI

@Suite("manual re-initialization", .offCooperativePool)
struct ReinitTests {
    @Test("an unrecoverable backend stays failed with 0 attempts until a manual reinit (202, then 409 while running)")
    func unrecoverableThenManual() throws {
        let backend = TestBackend("nfs-gold", misconfigured: true)
        let harness = try APIHarness([backend])
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "failed"))
        harness.waitForTicks(3)  // several ticks: never retried automatically
        let failed = try harness.driver("nfs-gold")
        #expect(failed["state"] as? String == "failed")
        #expect(failed["reinit_attempts"] as? Int == 0)
        #expect(failed["next_reinit_at"] is NSNull)
        let error = try #require(failed["last_error"] as? [String: Any])
        #expect(error["class"] as? String == "unrecoverable")
        #expect(error["kind"] as? String == "config_error")
        #expect(backend.driver.setupCalls == 1)

        backend.driver.misconfigured = false
        let gate = backend.driver.holdNextSetup()
        let accepted = try harness.send("POST", "/drivers/nfs-gold/reinit")
        #expect(accepted.status == 202)
        let driver = try #require(accepted.json["driver"] as? [String: Any])
        #expect(driver["state"] as? String == "initializing")
        #expect(driver["reinit_attempts"] as? Int == 0)

        let conflict = try harness.send("POST", "/drivers/nfs-gold/reinit")
        #expect(conflict.status == 409)
        #expect(fault(conflict)?.name == "conflict")
        gate.release()
        #expect(try harness.waitForState("nfs-gold", "ready"))
    }

    @Test("?wait answers when the initialization finished: 200 with the driver as it ended")
    func waitFinished() throws {
        let backend = TestBackend("nfs-gold", storagePresent: false, reinitDriverCount: 1)
        let harness = try APIHarness([backend])
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "exhausted"))
        backend.driver.storagePresent = true
        let response = try harness.send("POST", "/drivers/nfs-gold/reinit?wait=20")
        #expect(response.status == 200)
        let driver = try #require(response.json["driver"] as? [String: Any])
        #expect(driver["state"] as? String == "ready")
        #expect(driver["initialized"] as? Bool == true)
        #expect(driver["reinit_attempts"] as? Int == 0)
        #expect(driver["capabilities"] is [String: Any])
    }

    @Test("?wait that runs out answers 202 with the driver still initializing")
    func waitTimesOut() throws {
        let backend = TestBackend("nfs-gold", misconfigured: true)
        let harness = try APIHarness([backend])
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "failed"))
        let gate = backend.driver.holdNextSetup()
        defer { gate.release() }
        let response = try harness.send("POST", "/drivers/nfs-gold/reinit?wait=0.3")
        #expect(response.status == 202)
        #expect((response.json["driver"] as? [String: Any])?["state"] as? String == "initializing")
    }

    @Test(
        "bad ?wait values answer 400 naming the parameter",
        arguments: ["abc", "-1", "3601", "nan", "inf", "", "0x10", "1e1", "+5", "%205", "5.", ".5", "0x1p4"])
    func badWait(value: String) throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        let response = try harness.send("POST", "/drivers/nfs-gold/reinit?wait=\(value)")
        #expect(response.status == 400)
        #expect(fault(response)?.name == "badRequest")
        #expect(fault(response)?.message.contains("'wait'") == true)
    }

    @Test("?wait for an unknown driver answers 404, and for one already initializing 409")
    func waitRefusals() throws {
        let backend = TestBackend("nfs-gold", misconfigured: true)
        let harness = try APIHarness([backend])
        defer { harness.stop() }
        #expect(try harness.send("POST", "/drivers/ghost/reinit?wait=5").status == 404)
        #expect(try harness.waitForState("nfs-gold", "failed"))
        let gate = backend.driver.holdNextSetup()
        defer { gate.release() }
        #expect(try harness.send("POST", "/drivers/nfs-gold/reinit").status == 202)
        let conflict = try harness.send("POST", "/drivers/nfs-gold/reinit?wait=5")
        #expect(conflict.status == 409)
        #expect(fault(conflict)?.name == "conflict")
    }

    @Test("reinit while supervision is not running answers 503")
    func notRunning() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], startSupervision: false)
        defer { harness.stop() }
        let response = try harness.send("POST", "/drivers/nfs-gold/reinit")
        #expect(response.status == 503)
        #expect(fault(response)?.name == "serviceUnavailable")
    }
}

@Suite("access", .offCooperativePool)
struct AccessTests {
    @Test("with an admin token: 401 without it, 403 with a wrong one, success with the right one")
    func adminToken() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30, adminToken: "s3cret")
        defer { harness.stop() }
        let body = #"{"host": "node1@nfs-gold", "binary": "cinder-volume"}"#
        let missing = try harness.send("PUT", "/v3/os-services/disable", json: body)
        #expect(missing.status == 401)
        #expect(fault(missing)?.name == "unauthorized")
        let wrong = try harness.send("PUT", "/v3/os-services/disable", json: body, token: "s3cre")
        #expect(wrong.status == 403)
        #expect(fault(wrong)?.name == "forbidden")
        #expect(try harness.send("POST", "/drivers/nfs-gold/reinit", token: "S3CRET").status == 403)
        #expect(try harness.send("POST", "/drivers/nfs-gold/reinit").status == 401)
        #expect(try harness.send("PUT", "/v3/os-services/disable", json: body, token: "s3cret").status == 200)
        // Reads stay open.
        #expect(try harness.get("/drivers").status == 200)
        #expect(harness.drivers["nfs-gold"] != nil)
    }

    @Test("without a token, mutations are accepted from loopback and refused from other peers")
    func loopbackRule() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        let body = #"{"host": "node1@nfs-gold", "binary": "cinder-volume"}"#
        #expect(try harness.send("PUT", "/v3/os-services/disable", json: body).status == 200)

        // A peer that is not loopback cannot be produced over loopback-only sockets: hand the
        // handler a request as the server would build it for such a peer.
        let remote = PeerAddress(family: .ipv4, bytes: [10, 0, 0, 7], port: 40000)
        let request = try HTTPRequest(
            method: .put, target: "/v3/os-services/enable",
            headers: ["Content-Type": "application/json"], body: Array(body.utf8), peer: remote)
        #expect(
            throws: OpenStackFault.forbidden(
                "No admin token is configured, so state-changing requests are accepted from loopback clients only.")
        ) {
            try AccessPolicy(adminToken: nil).authorizeMutation(request)
        }
        let mappedLoopback = PeerAddress(
            family: .ipv6, bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1], port: 1)
        let local = try HTTPRequest(method: .put, target: "/v3/os-services/enable", peer: mappedLoopback)
        try AccessPolicy(adminToken: nil).authorizeMutation(local)
        try AccessPolicy(adminToken: "").authorizeMutation(local)
        // With a token, a remote peer with the right token passes.
        let withToken = try HTTPRequest(
            method: .put, target: "/v3/os-services/enable", headers: ["X-Auth-Token": "t"], peer: remote)
        try AccessPolicy(adminToken: "t").authorizeMutation(withToken)
    }

    @Test("token comparison is exact")
    func constantTimeCompare() {
        #expect(AccessPolicy.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!AccessPolicy.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!AccessPolicy.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!AccessPolicy.constantTimeEqual(Array("abc".utf8), []))
        #expect(AccessPolicy.constantTimeEqual([], []))
    }
}
