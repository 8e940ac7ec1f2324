// Byte-exact requests over raw sockets: pipelining, split writes, limits and malformed input.

import Foundation
import SharedTestSupport
import Testing

@testable import HTTPServer

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.offCooperativePool) struct ProtocolTests {
    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            try client.send(
                "GET /drivers/one HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo"
                    + "GET /drivers/three HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().text == "driver:one")
            #expect(try client.readResponse().text == "two")
            #expect(try client.readResponse().text == "driver:three")
        }
    }

    @Test func pipelinedBehindDeferredStayInOrder() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            try client.send(
                "GET /slow?ms=150 HTTP/1.1\r\nHost: x\r\n\r\nGET /drivers/after HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().text == "slow done")
            #expect(try client.readResponse().text == "driver:after")
        }
    }

    @Test func pipelineFloodBehindDeferredIsHeldThenAnswered() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            let count = 2000  // about 70 KB, more than the server buffers while the answer is pending
            try client.send(
                "GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + String(repeating: "GET /drivers/n HTTP/1.1\r\nHost: x\r\n\r\n", count: count))
            #expect(try client.readResponse().text == "slow done")
            var answered = 0
            for _ in 0..<count where try client.readResponse().text == "driver:n" { answered += 1 }
            #expect(answered == count)
            try expectServes(port)
        }
    }

    @Test func oneByteAtATime() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            let request =
                "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nChecksum: abc\r\n\r\n"
            for byte in request.utf8 { try client.send([byte]) }
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.text == "Wikipedia")
            try client.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().status == 200)
        }
    }

    @Test func leadingEmptyLinesAreIgnored() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            try client.send("\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().status == 200)
        }
    }

    @Test func http10ClosesUnlessKeepAliveAsked() throws {
        try withServer { _, port in
            let plain = try RawClient(port: port)
            try plain.send("GET /ping HTTP/1.0\r\n\r\n")
            let first = try plain.readResponse()
            #expect(first.status == 200)
            #expect(first.header("Connection") == "close")
            #expect(plain.isClosedByServer())

            let kept = try RawClient(port: port)
            try kept.send("GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let second = try kept.readResponse()
            #expect(second.header("Connection") == "keep-alive")
            try kept.send("GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try kept.readResponse().status == 200)

            let closing = try RawClient(port: port)
            try closing.send("GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try closing.readResponse().header("Connection") == "close")
            #expect(closing.isClosedByServer())
        }
    }

    @Test func headerSectionTooLargeIs431() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            let filler = String(repeating: "a", count: 4000)
            var request = "GET /ping HTTP/1.1\r\nHost: x\r\n"
            for index in 0..<5 { request += "X-Filler-\(index): \(filler)\r\n" }
            try client.send(request + "\r\n")
            #expect(try client.readResponse().status == 431)
            #expect(client.isClosedByServer())
            try expectServes(port)
        }
    }

    @Test func tooManyHeadersIs431() throws {
        try withServer({ $0.maxHeaderCount = 10 }) { _, port in
            let client = try RawClient(port: port)
            var request = "GET /ping HTTP/1.1\r\nHost: x\r\n"
            for index in 0..<10 { request += "X-\(index): y\r\n" }
            try client.send(request + "\r\n")
            #expect(try client.readResponse().status == 431)
            #expect(client.isClosedByServer())
            try expectServes(port)
        }
    }

    @Test func longTargetIs414() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            try client.send("GET /\(String(repeating: "p", count: 9000)) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().status == 414)
            #expect(client.isClosedByServer())
            try expectServes(port)
        }
    }

    @Test func bodyTooLargeIs413BeforeReading() throws {
        try withServer({ $0.maxBodyBytes = 1000 }) { _, port in
            let client = try RawClient(port: port)
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(response.text == "The request body of 1001 bytes exceeds 1000 bytes.")
            #expect(client.isClosedByServer())

            let chunked = try RawClient(port: port)
            try chunked.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n")
            try chunked.send([UInt8](repeating: 65, count: 1000) + Array("\r\n1\r\n".utf8))
            #expect(try chunked.readResponse().status == 413)
            #expect(chunked.isClosedByServer())
            try expectServes(port)
        }
    }

    @Test func expectContinueIsRefusedForLargeBodiesAndGrantedOtherwise() throws {
        try withServer({ $0.maxBodyBytes = 1000 }) { _, port in
            let refused = try RawClient(port: port)
            try refused.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
            #expect(try refused.readResponse().status == 413)
            #expect(refused.isClosedByServer())

            let unrouted = try RawClient(port: port)
            try unrouted.send("POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            #expect(try unrouted.readResponse().status == 404)
            #expect(unrouted.isClosedByServer())

            let granted = try RawClient(port: port)
            try granted.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            #expect(try granted.readResponse().status == 100)
            try granted.send("hello")
            let final = try granted.readResponse()
            #expect(final.status == 200)
            #expect(final.text == "hello")

            let odd = try RawClient(port: port)
            try odd.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: teapot\r\n\r\n")
            #expect(try odd.readResponse().status == 417)
            #expect(odd.isClosedByServer())
        }
    }

    /// Each malformed request gets its exact status and a closed connection, and the server goes on.
    @Test(arguments: [
        ("GET /ping\r\nHost: x\r\n\r\n", 400),
        ("GET  /ping HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /ping HTTP/1.1 \r\nHost: x\r\n\r\n", 400),
        ("G@T /ping HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET ping HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /pi\u{01}ng HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /pi\u{7f}ng HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /ping HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n", 400),
        ("GET /ping HTTP/1.1\r\nHost: x\r\nX-Space : a\r\n\r\n", 400),
        ("GET /ping HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400),
        ("GET /ping HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n", 400),
        ("GET /ping HTTP/1.1\r\nHost: x\r\nX-Ctl: a\u{01}b\r\n\r\n", 400),
        ("GET /ping HTTP/1.1\r\nHost: x\r\nX-Nul: a\u{00}b\r\n\r\n", 400),
        ("GET /ping HTTP/1.1\nHost: x\r\n\r\n", 400),
        ("GET /ping HTTP/1.1\r\nHost: x\n\r\n", 400),
        ("GET /ping HTTP/1.1\r\nHost: x\r\n\n", 400),
        ("GET /ping HTTP/1.1\rHost: x\r\n\r\n", 400),
        ("GET /ping HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n", 400),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd", 400),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\nabc", 400),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\nabc", 400),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        (
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            400
        ),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
        (
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400
        ),
        ("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n", 400),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 400),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400),
        (
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nBad Trailer\r\n\r\n",
            400
        ),
        ("GET /ping HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("GET /ping HTTP/1.2\r\nHost: x\r\n\r\n", 505),
        ("GET /ping HTTP/0.9\r\nHost: x\r\n\r\n", 505),
        ("GET /ping HTTP/1.1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /ping http/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /ping HTTP/1.1\r\n\r\n", 400),
        ("GET /ping HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
        ("GET /pi%zzng HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /ping?a=%G1 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /ping%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ])
    func malformedRequestIsRejectedAndClosed(request: String, status: Int) throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            try client.send(request)
            let response = try client.readResponse()
            #expect(response.status == status)
            #expect(response.header("Connection") == "close")
            #expect(response.header("Content-Type") == "text/plain; charset=utf-8")
            #expect(client.isClosedByServer())
            try expectServes(port)
        }
    }

    @Test func absoluteFormTargetIsAccepted() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            try client.send("GET http://localhost/drivers/abs?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(try client.readResponse().text == "driver:abs")
        }
    }

    @Test func deleteWithNoContentHasNoLength() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            try client.send("DELETE /drivers/a HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            let deleted = try client.readResponse()
            #expect(deleted.status == 204)
            #expect(deleted.header("Content-Length") == nil)
            #expect(try client.readResponse().status == 200)
        }
    }

    /// Mutated requests (seeded, so a failure replays): whatever comes back must be a well-formed
    /// response or a close, and the server must keep serving.
    @Test func mutatedRequestsNeverBreakTheServer() throws {
        let seeds: [[UInt8]] = [
            Array("GET /drivers/a?x=1 HTTP/1.1\r\nHost: x\r\nIf-None-Match: W/\"a\", \"b\"\r\n\r\n".utf8),
            Array(
                "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: v\r\n\r\n"
                    .utf8),
            Array("PUT /echo HTTP/1.0\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nbody".utf8),
        ]
        var random = SplitMix64(seed: 0x5EED)
        let interesting: [UInt8] = [0, 9, 10, 13, 32, 34, 37, 44, 47, 58, 59, 63, 127, 255, 48, 70, 102]
        try withServer({
            $0.headerReadTimeout = .milliseconds(500)
            $0.bodyReadTimeout = .milliseconds(500)
        }) { _, port in
            for round in 0..<150 {
                var bytes = seeds[round % seeds.count]
                for _ in 0..<(1 + Int(random.next() % 4)) {
                    let position = Int(random.next() % UInt64(bytes.count))
                    switch random.next() % 3 {
                    case 0: bytes[position] = interesting[Int(random.next() % UInt64(interesting.count))]
                    case 1: bytes.remove(at: position)
                    default: bytes.insert(interesting[Int(random.next() % UInt64(interesting.count))], at: position)
                    }
                }
                let client = try RawClient(port: port, receiveTimeout: 5)
                try? client.send(bytes)
                shutdown(client.fd, Int32(SHUT_WR))
                if let response = try? client.readResponse() {
                    #expect((100...599).contains(response.status), "round \(round)")
                }
            }
            try expectServes(port)
        }
    }
}

/// A small seeded generator, so the mutation test is the same on every run.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
