import Foundation
import HTTPServer
import SharedTestSupport
import Testing

@testable import VolumeAPI

/// Issue 11, point 8: with the default (no token, loopback-only writes) a web page open in a
/// browser on the same host could change state: a form-style `text/plain` POST and a `fetch` from
/// a foreign `Origin` were accepted (204, 202). Every mutating route now refuses a body that is not
/// `application/json` (415 badMediaType) and a request whose `Origin` or `Sec-Fetch-Site` names
/// another site (403), while cinderclient, openstacksdk and curl keep working.
@Suite("cross-site requests", .offCooperativePool)
struct CrossSiteTests {
    static let report =
        #"{"host": "node9@nfs-gold", "service": "cinder-volume", "timestamp": "2026-11-24T17:40:00.000000", "capabilities": {"backend_state": "up", "volume_backend_name": "gold", "vendor_name": "x", "driver_version": "1", "storage_protocol": "nfs", "total_capacity_gb": 100, "free_capacity_gb": 50}}"#
    static let disable = #"{"host": "node1@nfs-gold", "binary": "cinder-volume"}"#

    /// The routes that change state, each with a body it would accept.
    static let mutations: [(method: String, path: String, body: String)] = [
        ("POST", "/v3/scheduler/capabilities", report),
        ("POST", "/drivers/nfs-gold/reinit", "{}"),
        ("PUT", "/v3/os-services/disable", disable),
        ("PUT", "/v3/project1/os-services/enable", disable),
    ]

    /// What `<form method=post enctype=text/plain>` or `fetch(url, {method: "POST", mode: "no-cors", body})`
    /// sends from another site.
    @Test("a form-style text/plain POST from a page gets 415 on every mutating route")
    func formPost() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30, withScheduler: true)
        defer { harness.stop() }
        for mutation in Self.mutations {
            for contentType in [
                "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x", "application/jsonp", nil,
            ] {
                var headers: [(String, String)] = []
                if let contentType { headers.append(("Content-Type", contentType)) }
                let response = try RawClient.request(
                    port: harness.port, method: mutation.method, path: mutation.path,
                    headers: headers, body: Array(mutation.body.utf8))
                #expect(
                    response.status == 415, "\(mutation.path) \(contentType ?? "no Content-Type"): \(response.text)")
                #expect(fault(response)?.name == "badMediaType", "\(response.text)")
            }
            let twoLabels = try RawClient.request(
                port: harness.port, method: mutation.method, path: mutation.path,
                headers: [("Content-Type", "application/json"), ("Content-Type", "text/plain")],
                body: Array(mutation.body.utf8))
            #expect(twoLabels.status == 415, "\(mutation.path) two Content-Types: \(twoLabels.text)")
        }
        #expect(try !harness.poolNames().contains("node9@nfs-gold#gold"))
        #expect(harness.decisions.all.isEmpty && harness.savedState.isEmpty)
    }

    /// What a page's `fetch` sends, with the JSON label a CORS preflight would guard (and with the
    /// `Origin` every cross-origin POST/PUT carries), and a top-level form navigation's headers.
    @Test("a request from another origin gets 403 on every mutating route")
    func foreignOrigin() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30, withScheduler: true)
        defer { harness.stop() }
        let foreign: [[(String, String)]] = [
            [("Origin", "http://evil.example")],
            [("Origin", "null")],
            [("Origin", "http://127.0.0.1:\(harness.port + 1)")],  // same site, another port: another origin
            [("Origin", "http://127.0.0.1:\(harness.port)"), ("Sec-Fetch-Site", "cross-site")],
            [("Sec-Fetch-Site", "same-site")],
            // Only one of the two is the truth.
            [("Origin", "http://127.0.0.1:\(harness.port)"), ("Origin", "http://evil.example")],
        ]
        // DNS rebinding: the browser sends the attacker's name as both Host and Origin.
        for mutation in Self.mutations {
            let response = try RawClient.request(
                port: harness.port, method: mutation.method, path: mutation.path,
                headers: [
                    ("Host", "rebound.evil.example:\(harness.port)"),
                    ("Origin", "http://rebound.evil.example:\(harness.port)"),
                    ("Content-Type", "application/json"),
                ], body: Array(mutation.body.utf8))
            #expect(response.status == 403, "\(mutation.path) rebinding: \(response.text)")
        }
        for mutation in Self.mutations {
            for headers in foreign {
                let response = try RawClient.request(
                    port: harness.port, method: mutation.method, path: mutation.path,
                    headers: headers + [("Content-Type", "application/json")], body: Array(mutation.body.utf8))
                #expect(response.status == 403, "\(mutation.path) \(headers): \(response.text)")
                #expect(fault(response)?.name == "forbidden")
            }
        }
        // The text/plain form from another origin: refused too, whichever check comes first.
        let form = try RawClient.request(
            port: harness.port, method: "POST", path: "/drivers/nfs-gold/reinit",
            headers: [("Origin", "http://evil.example"), ("Content-Type", "text/plain")], body: Array("x".utf8))
        #expect(form.status == 403)
        #expect(try !harness.poolNames().contains("node9@nfs-gold#gold"))
        #expect(harness.decisions.all.isEmpty && harness.savedState.isEmpty)
    }

    /// cinderclient and openstacksdk send `Content-Type: application/json` and no `Origin`; curl
    /// sends no body for a bare POST; a browser on the service's own page sends its own origin.
    @Test("real clients keep working")
    func realClients() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30, withScheduler: true)
        defer { harness.stop() }
        let json = [("Content-Type", "application/json")]
        func send(_ method: String, _ path: String, _ headers: [(String, String)], _ body: String?) throws -> Int {
            try RawClient.request(
                port: harness.port, method: method, path: path, headers: headers,
                body: body.map { Array($0.utf8) } ?? []
            ).status
        }
        #expect(try send("POST", "/v3/scheduler/capabilities", json, Self.report) == 204)
        #expect(
            try send(
                "POST", "/v3/scheduler/capabilities", [("Content-Type", "Application/JSON; charset=utf-8")], Self.report
            ) == 204)
        #expect(try send("PUT", "/v3/os-services/disable", json, Self.disable) == 200)
        #expect(
            try send(
                "PUT", "/v3/os-services/enable",
                json + [
                    ("Origin", "http://127.0.0.1:\(harness.port)"),
                    ("Sec-Fetch-Site", "same-origin"),
                ], Self.disable) == 200)
        #expect(try send("POST", "/drivers/nfs-gold/reinit", [], nil) == 202)  // curl -X POST, no body
        #expect(try harness.waitForState("nfs-gold", "ready"))
        #expect(
            try send("POST", "/drivers/nfs-gold/reinit", [("Content-Type", "application/x-www-form-urlencoded")], nil)
                == 202)
    }

    @Test("own origin: http(s)://Host with an IP address or localhost, default ports equal to none")
    func ownOrigin() {
        #expect(AccessPolicy.isOwnOrigin("http://127.0.0.1:8776", host: "127.0.0.1:8776"))
        #expect(AccessPolicy.isOwnOrigin("HTTP://LocalHost:8776", host: "localhost:8776"))
        #expect(AccessPolicy.isOwnOrigin("http://127.0.0.1:80", host: "127.0.0.1"))
        #expect(AccessPolicy.isOwnOrigin("https://127.0.0.1", host: "127.0.0.1:443"))
        #expect(!AccessPolicy.isOwnOrigin("http://127.0.0.1:8776", host: "127.0.0.1:8777"))
        #expect(!AccessPolicy.isOwnOrigin("http://300.0.0.1:8776", host: "300.0.0.1:8776"))
        #expect(!AccessPolicy.isOwnOrigin("http://node1:8776", host: nil))
        #expect(!AccessPolicy.isOwnOrigin("http://node1.evil:8776", host: "node1:8776"))
        #expect(!AccessPolicy.isOwnOrigin("null", host: "node1:8776"))
        #expect(AccessPolicy.isOwnOrigin("http://localhost:8776", host: "localhost:8776"))
        #expect(AccessPolicy.isOwnOrigin("http://[::1]:8776", host: "[::1]:8776"))
        // DNS rebinding: a page's name made to resolve to this machine is "same-origin" to the browser.
        #expect(!AccessPolicy.isOwnOrigin("http://evil.example:8776", host: "evil.example:8776"))
        #expect(!AccessPolicy.isOwnOrigin("http://1.2.3.4.evil:8776", host: "1.2.3.4.evil:8776"))
        #expect(!AccessPolicy.isOwnOrigin("http://", host: ""))
    }
}
