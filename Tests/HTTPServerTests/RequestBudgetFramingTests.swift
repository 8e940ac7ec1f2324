// The 503 of an exhausted request budget answers the oldest request not yet answered, and is
// framed for that request's method once the parser has accepted its head: the answer to a HEAD
// has no body (RFC 9112 section 6.3), so a pipelining client reads the stream as the server meant it.
// Found by the fuzzer (scripts/fuzz/findings of 2026-12-02: a 503 with a body in place of a
// pipelined HEAD, which the client read as the start of the next response).

import SharedTestSupport
import Testing

@testable import HTTPServer

#if canImport(Glibc)
    import Glibc
#endif

/// 8 MiB: more than the kernel's socket buffers can take for a client that does not read
/// (tcp_wmem's maximum is 4 MiB), so the server must queue part of it and stop reading.
private let hugeBody = [UInt8](repeating: UInt8(ascii: "h"), count: 8 * 1024 * 1024)

private func budgetRouter() -> Router {
    var router = testRouter()
    router.get("/huge") { _ in HTTPResponse(body: hugeBody) }
    return router
}

/// A request the server cannot answer yet (its client holds the huge answer unread), then `next`,
/// then a partial request: what waits behind the held answer is more than the 1 KiB request
/// budget, so the server answers `next` with 503 and closes.
private func pipelineBehindAHeldAnswer(_ next: String) -> String {
    "GET /huge HTTP/1.1\r\nHost: x\r\n\r\n" + next
        + "GET /ping HTTP/1.1\r\nHost: x\r\nX-Filler: " + String(repeating: "f", count: 1_500)
}

/// One connection: the pipeline in one write, the client reading nothing until the server has
/// produced its 503 (so it cannot make room for the huge answer early). Returns the client,
/// positioned after the huge answer.
private func sendBehindAHeldAnswer(_ next: String, log: ResponseLog, port: Int) throws -> RawClient {
    let client = try RawClient(port: port)
    var receiveBuffer: Int32 = 16 * 1024
    setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
    try client.send(pipelineBehindAHeldAnswer(next))
    #expect(waitUntil { log.statuses.contains(503) })
    let huge = try client.readResponse()
    #expect(huge.status == 200 && huge.body.count == hugeBody.count)
    return client
}

@Suite(.offCooperativePool) struct RequestBudgetFramingTests {
    private func withBudgetServer(_ body: (ResponseLog, Int) throws -> Void) throws {
        let log = ResponseLog()
        try withServer(
            router: budgetRouter(), onResponse: { log.append($0) },
            {
                $0.eventLoopCount = 1
                $0.maxQueuedResponseBytes = 64 * 1024
                $0.maxBufferedRequestBytes = 1024
            }
        ) { _, port in try body(log, port) }
    }

    /// The fuzzer's finding: the 503 standing in for a pipelined HEAD carried a body, which the
    /// client read as the next response.
    @Test func pipelinedHeadBehindAnExhaustedBudgetGetsA503WithoutBody() throws {
        try withBudgetServer { log, port in
            let client = try sendBehindAHeldAnswer(
                "HEAD /ping HTTP/1.1\r\nHost: x\r\n\r\n", log: log, port: port)
            let refused = try client.readResponse(bodyless: true)
            #expect(refused.status == 503)
            #expect(refused.header("Connection") == "close")
            #expect(client.isClosedByServer(), "bytes after the 503 that answers a HEAD")
        }
    }

    /// The same place for a GET: the 503 keeps its fault body (the reason, for the client).
    @Test func pipelinedGetBehindAnExhaustedBudgetGetsA503WithItsFault() throws {
        try withBudgetServer { log, port in
            let client = try sendBehindAHeldAnswer("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", log: log, port: port)
            let refused = try client.readResponse()
            #expect(refused.status == 503)
            #expect(refused.text == EventLoop.requestBudgetMessage)
            #expect(client.isClosedByServer())
        }
    }

    /// Bytes the parser refuses never became a HEAD: the 503 in their place is framed as for a
    /// GET (the rule the fuzz harness's model encodes too).
    @Test func refusedHeadBytesBehindAnExhaustedBudgetGetA503WithItsFault() throws {
        try withBudgetServer { log, port in
            let client = try sendBehindAHeldAnswer(
                "HEAD /ping HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", log: log, port: port)
            let refused = try client.readResponse()
            #expect(refused.status == 503)
            #expect(refused.text == EventLoop.requestBudgetMessage)
            #expect(client.isClosedByServer())
        }
    }

    /// A HEAD whose declared body does not fit in the budget is refused before its body is read;
    /// the refusal answers that HEAD, so it has no body either.
    @Test func headWithADeclaredBodyOverTheBudgetGetsA503WithoutBody() throws {
        try withBudgetServer { _, port in
            let client = try RawClient(port: port)
            try client.send("HEAD /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
            let refused = try client.readResponse(bodyless: true)
            #expect(refused.status == 503)
            #expect(client.isClosedByServer(), "bytes after the 503 that answers a HEAD")
        }
    }

    /// A HEAD with a chunked body that outgrows the budget while it is read: the same.
    @Test func headWithAChunkedBodyOutgrowingTheBudgetGetsA503WithoutBody() throws {
        try withBudgetServer { _, port in
            let client = try RawClient(port: port)
            try client.send(
                "HEAD /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n"
                    + String(repeating: "c", count: 2048))
            let refused = try client.readResponse(bodyless: true)
            #expect(refused.status == 503)
            #expect(client.isClosedByServer(), "bytes after the 503 that answers a HEAD")
        }
    }

    /// The rule is not the budget's alone: any refusal of a HEAD whose head the parser accepted
    /// (here a chunk size that is not hex) is framed for the HEAD.
    @Test func headWithAMalformedChunkGetsA400WithoutBody() throws {
        try withBudgetServer { _, port in
            let client = try RawClient(port: port)
            try client.send("HEAD /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
            let refused = try client.readResponse(bodyless: true)
            #expect(refused.status == 400)
            #expect(client.isClosedByServer(), "bytes after the 400 that answers a HEAD")
        }
    }
}
