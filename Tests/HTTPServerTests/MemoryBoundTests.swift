// What no client can make the server hold: unsent responses per connection and across all of them,
// request bodies across all connections; and the answers a half-closed client is still owed.

import Foundation
import SharedTestSupport
import Testing

@testable import HTTPServer

#if canImport(Glibc)
    import Glibc
#endif

/// A 256 KiB body encoded once and shared by every response (like get_pools' cached view).
private let bigBody = [UInt8](repeating: UInt8(ascii: "p"), count: 256 * 1024)
private let headAllowance = 64 * 512  // response heads: well under 512 bytes each

private func memoryRouter() -> Router {
    var router = testRouter()
    router.get("/pools") { _ in HTTPResponse(body: bigBody) }
    return router
}

/// A client whose receive window is small and fixed, so the kernel cannot absorb answers for it.
private func neverReadingClient(port: Int) throws -> RawClient {
    let client = try RawClient(port: port, receiveTimeout: 5)
    var receiveBuffer: Int32 = 16 * 1024
    setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
    return client
}

private let pipelined64 = String(repeating: "GET /pools HTTP/1.1\r\nHost: x\r\n\r\n", count: 64)

/// Whether the peer has closed or reset `fd`.
private func closedByPeer(_ fd: Int32) -> Bool {
    var descriptor = pollfd(fd: fd, events: 0x2000, revents: 0)  // POLLRDHUP
    guard poll(&descriptor, 1, 0) == 1 else { return false }
    return descriptor.revents & (0x2000 | Int16(POLLHUP) | Int16(POLLERR)) != 0
}

@Suite(.offCooperativePool) struct MemoryBoundTests {
    /// Issue 11, point 1: 64 pipelined requests arrive in one read; the server produced all 64
    /// answers (16 MiB) into its buffers before checking the connection's limit. Now each answer
    /// counts before the next is produced, so the connection holds its limit plus one answer.
    @Test func neverReadingPipelinerHoldsItsQueueLimitPlusOneResponse() throws {
        let log = ResponseLog()
        try withServer(
            router: memoryRouter(), onResponse: { log.append($0) },
            {
                $0.eventLoopCount = 1
                $0.maxQueuedResponseBytes = 512 * 1024
            }
        ) { server, port in
            let hog = try neverReadingClient(port: port)
            try hog.send(pipelined64)
            // Held: answers produced, the kernel's buffers full, output queued and waiting.
            #expect(waitUntil { server.bufferedBytes.output > 0 })
            let buffered = server.bufferedBytes
            #expect(
                buffered.outputPeak <= 512 * 1024 + bigBody.count + headAllowance,
                "peak \(buffered.outputPeak) bytes queued for one connection")
            #expect(log.count(route: "/pools") < 64, "every pipelined request was answered into the buffers")
            try expectServes(port)
        }
    }

    /// Issue 11, point 1: 40 connections x 64 pipelined big answers, none read. The server-wide
    /// output budget holds; the hogs are dropped after the write timeout, every byte they held is
    /// given back, and the server serves again.
    @Test func fortyNeverReadingPipelinersStayWithinTheServerBudget() throws {
        let budget = 4 * 1024 * 1024
        try withServer(
            router: memoryRouter(),
            {
                $0.eventLoopCount = 2
                $0.maxQueuedResponseBytes = 1024 * 1024
                $0.maxBufferedOutputBytes = budget
                $0.writeTimeout = .milliseconds(300)
            }
        ) { server, port in
            var hogs: [RawClient] = []
            for _ in 0..<40 {
                let hog = try neverReadingClient(port: port)
                try hog.send(pipelined64)
                hogs.append(hog)
            }
            #expect(waitUntil { server.bufferedBytes.output > budget / 2 })
            let peak = server.bufferedBytes.outputPeak
            // The budget, exceeded by at most the answer each loop produced when it ran out.
            #expect(peak <= budget + 2 * (bigBody.count + headAllowance), "peak \(peak) bytes queued in all")
            #expect(waitUntil(seconds: 30) { hogs.allSatisfy { closedByPeer($0.fd) } }, "hogs not dropped")
            #expect(
                waitUntil { server.bufferedBytes.output == 0 && server.bufferedBytes.requests == 0 },
                "bytes still counted after every hog was closed: \(server.bufferedBytes)")
            try expectServes(port)
        }
    }

    /// While never-reading clients hold the whole output budget, everyone's answers wait; those
    /// clients are reset once they have read nothing for a second, not after the 30 s write
    /// timeout, so a fresh client waits seconds, not half a minute.
    @Test func stalledReadersAreShedWhileTheOutputBudgetIsUsedUp() throws {
        try withServer(
            router: memoryRouter(),
            {
                $0.eventLoopCount = 1
                $0.maxQueuedResponseBytes = 512 * 1024
                $0.maxBufferedOutputBytes = 1024 * 1024
                $0.writeTimeout = .seconds(30)
            }
        ) { server, port in
            var hogs: [RawClient] = []
            for _ in 0..<8 {
                let hog = try neverReadingClient(port: port)
                try hog.send(pipelined64)
                hogs.append(hog)
            }
            #expect(waitUntil { server.bufferedBytes.output >= 1024 * 1024 })
            let began = Date()
            let fresh = try RawClient(port: port, receiveTimeout: 25)
            try fresh.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try fresh.readResponse().status == 200)
            let waited = Date().timeIntervalSince(began)
            #expect(waited < 10, "a fresh client waited \(waited) s behind never-reading clients")
            #expect(hogs.contains { closedByPeer($0.fd) }, "no stalled reader was shed")
        }
    }

    /// Issue 11, point 7: request bodies across all connections are capped. A declared body that
    /// does not fit in what is left gets 503 at once (before `100 Continue`, before a byte of it is
    /// read), a chunked one when its bytes stop fitting; the room comes back when the holder's
    /// request is done.
    @Test func bodiesBeyondTheServerRequestBudgetGet503() throws {
        try withServer({
            $0.maxBodyBytes = 1024 * 1024
            $0.maxBufferedRequestBytes = 64 * 1024
        }) { server, port in
            let holder = try RawClient(port: port)
            try holder.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n")
            try holder.send([UInt8](repeating: UInt8(ascii: "b"), count: 59_000))
            #expect(waitUntil { server.bufferedBytes.requests >= 59_000 })

            let declared = try RawClient(port: port)
            try declared.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n")
            let refused = try declared.readResponse()
            #expect(refused.status == 503)
            #expect(refused.header("Connection") == "close")
            #expect(refused.text == EventLoop.requestBudgetMessage)

            let expecting = try RawClient(port: port)
            try expecting.send(
                "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10000\r\n\r\n")
            #expect(try expecting.readResponse().status == 503, "100 Continue granted over the budget")

            let chunked = try RawClient(port: port)
            try chunked.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2710\r\n")
            try? chunked.send([UInt8](repeating: UInt8(ascii: "c"), count: 10_000))
            #expect(try chunked.readResponse().status == 503)

            try holder.send([UInt8](repeating: UInt8(ascii: "b"), count: 1_000))
            let held = try holder.readResponse()
            #expect(held.status == 200 && held.body.count == 60_000)
            #expect(waitUntil { server.bufferedBytes.requests == 0 }, "\(server.bufferedBytes)")

            let later = try RawClient(port: port)
            try later.send("POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10000\r\n\r\n")
            try later.send([UInt8](repeating: UInt8(ascii: "c"), count: 10_000))
            #expect(try later.readResponse().status == 200)
        }
    }

    /// Found by the hunt: reserving declared lengths let clients that announce bodies and never
    /// send them take the whole request budget for the body timeout with a few idle connections.
    /// Only bytes received count.
    @Test func announcedBodiesThatNeverComeTakeNoBudget() throws {
        try withServer({
            $0.maxBodyBytes = 1024 * 1024
            $0.maxBufferedRequestBytes = 64 * 1024
        }) { server, port in
            var idle: [RawClient] = []
            for _ in 0..<8 {
                let client = try RawClient(port: port)
                try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n")
                idle.append(client)
            }
            let honest = try RawClient(port: port)
            try honest.send("POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10000\r\n\r\n")
            try honest.send([UInt8](repeating: UInt8(ascii: "h"), count: 10_000))
            #expect(try honest.readResponse().status == 200)
            #expect(server.bufferedBytes.requests < 64 * 1024)
        }
    }

    /// Issue 11, point 11: a client that pipelines behind a deferred answer and then shuts its
    /// sending side still gets every answer it asked for, in order, then the connection closes.
    @Test func halfClosedClientGetsTheAnswersQueuedBehindADeferredOne() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            try client.send(
                "GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /drivers/a HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /immediate HTTP/1.1\r\nHost: x\r\n\r\n"
                    // The last request never completes.
                    + "GET /drivers/b HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHo")
            shutdown(client.fd, Int32(SHUT_WR))
            #expect(try client.readResponse().text == "slow done")
            #expect(try client.readResponse().text == "{\"pong\": true}")
            #expect(try client.readResponse().text == "driver:a")
            #expect(try client.readResponse().text == "at once")
            #expect(try client.readResponse().text == "driver:b")
            #expect(client.isClosedByServer())
        }
    }

    /// The same without a deferred answer in front: answers to everything complete, then close.
    @Test func halfClosedClientGetsEveryPipelinedAnswer() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            try client.send(String(repeating: "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", count: 3))
            shutdown(client.fd, Int32(SHUT_WR))
            for _ in 0..<3 { #expect(try client.readResponse().status == 200) }
            #expect(client.isClosedByServer())
        }
    }

    /// Issue 11, point 11: the accept-failure warning (out of descriptors) repeats every 100 ms
    /// while the condition lasts; it is logged once per 10 s with the count of what was not.
    @Test func acceptFailureWarningIsRateLimited() {
        var warning = RepeatedWarning(intervalMilliseconds: 10_000)
        #expect(warning.occurred(at: 1_000) == 0)
        var logged = 0
        for step in 1...99 where warning.occurred(at: 1_000 + Int64(step) * 100) != nil { logged += 1 }
        #expect(logged == 0, "logged during the 10 s after a warning")
        #expect(warning.occurred(at: 11_000) == 99)
        #expect(warning.occurred(at: 11_100) == nil)
        #expect(warning.occurred(at: 30_000) == 1)
    }

    /// A large body is queued by reference, not copied per response; small ones are copied.
    @Test func outputQueueSharesLargeBodiesAndKeepsOrder() {
        var queue = OutputQueue()
        let context = ResponseContext(
            method: .get, version: .http1_1, keepAlive: true, routePattern: nil, ifNoneMatch: nil)
        let date = Array("Date: x\r\n".utf8)
        let server = Array("Server: t\r\n".utf8)
        for _ in 0..<64 {
            queue.append(HTTPResponse(body: bigBody), context: context, dateLine: date, serverLine: server)
        }
        queue.append(HTTPResponse(body: "small"), context: context, dateLine: date, serverLine: server)
        var expected: [UInt8] = []
        for _ in 0..<64 {
            _ = ResponseEncoder.encode(
                HTTPResponse(body: bigBody), context: context, dateLine: date, serverLine: server, into: &expected)
        }
        _ = ResponseEncoder.encode(
            HTTPResponse(body: "small"), context: context, dateLine: date, serverLine: server, into: &expected)
        #expect(queue.count == expected.count)
        #expect(queue.bytes == expected)
        #expect(queue.sharedBytes == 64 * bigBody.count, "large bodies were copied")
    }

    /// Partial writes keep order across owned and shared segments.
    @Test func outputQueueWritesInOrderThroughPartialWrites() throws {
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer {
            close(pair[0])
            close(pair[1])
        }
        var small: Int32 = 4096
        setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        _ = fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK)
        var queue = OutputQueue()
        let context = ResponseContext(
            method: .get, version: .http1_1, keepAlive: true, routePattern: nil, ifNoneMatch: nil)
        let date = Array("Date: x\r\n".utf8)
        let server = Array("Server: t\r\n".utf8)
        let bodies: [[UInt8]] = (0..<20).map { index in
            [UInt8](repeating: UInt8(65 + index), count: index % 2 == 0 ? 40_000 : 100)
        }
        for body in bodies {
            queue.append(HTTPResponse(body: body), context: context, dateLine: date, serverLine: server)
        }
        let expected = queue.bytes
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while received.count < expected.count {
            if !queue.isEmpty { _ = queue.write(to: pair[0]) }
            let count = buffer.withUnsafeMutableBytes { recv(pair[1], $0.baseAddress, 3000, Int32(MSG_DONTWAIT)) }
            if count > 0 { received.append(contentsOf: buffer[0..<count]) }
        }
        #expect(queue.isEmpty)
        #expect(received == expected)
    }
}
