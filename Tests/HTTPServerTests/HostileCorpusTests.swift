// The hostile corpus (HostileCorpus.swift) replayed against a live server, plus the attacks that
// need time: slowloris variants and a pipelining client that never reads its responses. After
// each: the hostile connection is closed and a fresh client still gets 200.

import Foundation
import SharedTestSupport
import Synchronization
import Testing

@testable import HTTPServer

#if canImport(Glibc)
    import Glibc
#endif

/// A thread-safe list of what the server answered, filled from `onResponse`.
final class ResponseLog: Sendable {
    private let records = Mutex<[ResponseRecord]>([])

    func append(_ record: ResponseRecord) { records.withLock { $0.append(record) } }
    var statuses: [Int] { records.withLock { $0.map(\.status.code) } }
    func count(route: String) -> Int { records.withLock { $0.filter { $0.routePattern == route }.count } }
}

/// The test router plus `/smuggled` (which must never run) and a 16 KiB body for the flood test.
private func hostileRouter() -> Router {
    var router = testRouter()
    router.get("/smuggled") { _ in HTTPResponse.text("smuggled") }
    let block = [UInt8](repeating: UInt8(ascii: "z"), count: 16 * 1024)
    router.get("/block") { _ in HTTPResponse(contentType: "application/octet-stream", body: block) }
    return router
}

@Suite(.offCooperativePool) struct HostileCorpusTests {
    @Test(.serialized, arguments: hostileCorpus)
    func hostileStreamGetsItsStatusesAndIsClosed(_ hostile: HostileCase) throws {
        let log = ResponseLog()
        try withServer(
            router: hostileRouter(), onResponse: { log.append($0) },
            {
                $0.maxBodyBytes = HostileLimits.maxBodyBytes
            }
        ) { _, port in
            let client = try RawClient(port: port)
            try client.send(hostile.bytes)
            var last: RawResponse?
            for (index, status) in hostile.statuses.enumerated() {
                let response = try client.readResponse()
                #expect(response.status == status, "response \(index + 1)")
                last = response
            }
            let final = try #require(last)
            #expect(final.header("Connection") == "close")
            if let body = hostile.lastBody { #expect(final.text == body) }
            if final.status >= 400 { #expect(final.header("Content-Type") == "text/plain; charset=utf-8") }
            #expect(client.isClosedByServer())
            // Exactly these responses were written, and nothing behind the stream ran.
            #expect(log.statuses == hostile.statuses)
            #expect(log.count(route: "/smuggled") == 0)
            try expectServes(port)
        }
    }

    /// Header lines trickled well within any per-read pause: the head deadline still runs from its
    /// first byte, so the connection is answered 408 and closed, while others are served.
    @Test func slowlorisTricklingHeaderLinesGets408() throws {
        try withServer({ $0.headerReadTimeout = .milliseconds(500) }) { _, port in
            let client = try RawClient(port: port)
            try client.send("GET /ping HTTP/1.1\r\nHost: x\r\n")
            var trickled = 0
            while trickled < 100 && !client.hasInput() {
                if trickled == 2 { try expectServes(port) }
                guard (try? client.send("X-Trickle-\(trickled): y\r\n")) != nil else { break }
                trickled += 1
                usleep(100_000)  // the scenario: a slow client trickling its request
            }
            #expect(trickled < 100, "the server never cut the trickling head off")
            #expect(try client.readResponse().status == 408)
            #expect(client.isClosedByServer())
            try expectServes(port)
        }
    }

    @Test func slowlorisTricklingTheBodyGets408() throws {
        try withServer({ $0.bodyReadTimeout = .milliseconds(500) }) { _, port in
            let client = try RawClient(port: port)
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            var trickled = 0
            while trickled < 100 && !client.hasInput() {
                guard (try? client.send("b")) != nil else { break }
                trickled += 1
                usleep(100_000)  // the scenario: a slow client trickling its request
            }
            #expect(trickled < 100, "the server never cut the trickling body off")
            #expect(try client.readResponse().status == 408)
            #expect(client.isClosedByServer())
            try expectServes(port)
        }
    }

    /// Empty lines before a request line are allowed, but not forever: the head deadline covers them.
    @Test func slowlorisSendingOnlyEmptyLinesIsClosed() throws {
        try withServer({ $0.headerReadTimeout = .milliseconds(500) }) { _, port in
            let client = try RawClient(port: port)
            var sent = 0
            while sent < 100 && !client.peerHasClosed() && !client.hasInput() {
                guard (try? client.send("\r\n")) != nil else { break }
                sent += 1
                usleep(100_000)  // the scenario: a slow client trickling empty lines
            }
            #expect(sent < 100, "the server kept a connection that only sends empty lines")
            // Closed silently (nothing of a request had arrived), or with a 408 if a read ended
            // between a CR and its LF.
            if client.hasInput(), let response = try? client.readResponse() {
                #expect(response.status == 408)
            }
            #expect(client.isClosedByServer())
            try expectServes(port)
        }
    }

    @Test func connectionThatSendsNothingIsClosedSilently() throws {
        try withServer({ $0.headerReadTimeout = .milliseconds(300) }) { _, port in
            let client = try RawClient(port: port)
            #expect(waitUntil(seconds: 10) { client.peerHasClosed() })
            #expect(client.isClosedByServer())
            try expectServes(port)
        }
    }

    /// 2,000 pipelined requests for 16 KiB each (32 MiB of answers), never read. The server must
    /// stop reading that connection once its queue is full (so it answers only what the socket
    /// buffers and its bounded queue hold), drop it after the write timeout, and serve others meanwhile.
    @Test func pipeliningClientThatNeverReadsIsCappedAndDropped() throws {
        let log = ResponseLog()
        try withServer(
            router: hostileRouter(), onResponse: { log.append($0) },
            {
                $0.writeTimeout = .milliseconds(500)
                $0.maxQueuedResponseBytes = 256 * 1024
                $0.maxPipelinedRequests = 16
            }
        ) { _, port in
            let hog = try RawClient(port: port, receiveTimeout: 5)
            // A small, fixed receive window: the kernel cannot absorb the flood on the hog's behalf.
            var receiveBuffer: Int32 = 16 * 1024
            setsockopt(hog.fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
            let requests = 2_000
            // The send may stall once the server stops reading: what matters is what it answers.
            try? hog.send(String(repeating: "GET /block HTTP/1.1\r\nHost: x\r\n\r\n", count: requests))
            try expectServes(port)
            #expect(waitUntil(seconds: 15) { hog.peerHasClosed() }, "the never-reading client was not dropped")
            let answered = log.count(route: "/block")
            #expect(answered > 0)
            // Socket buffers (a few MiB at most here) plus the 256 KiB queue, not 2,000 answers.
            #expect(answered < 1_000, "answered \(answered) of \(requests): reading was not paused")
            usleep(300_000)  // nothing to await: the claim is that no answer follows in this time
            #expect(log.count(route: "/block") == answered, "the server went on answering a dropped client")
            try expectServes(port)
        }
    }
}
