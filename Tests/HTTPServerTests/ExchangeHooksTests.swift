// The exchange hooks' pieces byte for byte, and the server running them.

import SharedTestSupport
import Synchronization
import Testing

@testable import HTTPServer

@Suite(.offCooperativePool) struct ExchangeHooksTests {
    @Test func exchangeIDHoldsUpToFortyBytesAndNoLineBreaks() {
        let short = ExchangeID("req-1")
        #expect(short.description == "req-1")
        #expect(short.count == 5)
        #expect(ExchangeID("a\r\nb\0c").description == "a  b c")
        let forty = String(repeating: "0123456789", count: 4)
        #expect(ExchangeID(forty).description == forty)
        #expect(ExchangeID(forty + "overflow").description == forty)
        // Full length, so the word-at-a-time test decides whether the bytes are looked at one by one.
        let broken = String(repeating: "a", count: 19) + "\r\n" + String(repeating: "b", count: 19)
        #expect(
            ExchangeID(broken).description == String(repeating: "a", count: 19) + "  "
                + String(repeating: "b", count: 19))
        let edges = "\u{0D}\u{0E}" + String(repeating: "~", count: 37) + "\u{0A}"
        #expect(ExchangeID(edges).description == " \u{0E}" + String(repeating: "~", count: 37) + " ")
        #expect(ExchangeID("req-1") == ExchangeID("req-1"))
        #expect(ExchangeID("req-1") != ExchangeID("req-2"))
        #expect(ExchangeID("") != ExchangeID("\0"))
    }

    @Test func encodedFieldsAreTheLinesOfTheirHeaders() {
        let fields = EncodedFields(["OpenStack-API-Version": "volume 3.49", "Vary": "OpenStack-API-Version"])
        #expect(fields.bytes == Array("OpenStack-API-Version: volume 3.49\r\nVary: OpenStack-API-Version\r\n".utf8))
        #expect(EncodedFields(["X-A": "1\r\nX-B: 2"]).bytes == Array("X-A: 1  X-B: 2\r\n".utf8))
        #expect(EncodedFields().isEmpty)
    }

    @Test func encoderWritesTheExchangeFieldsAfterTheHandlersOwn() {
        var context = ResponseContext(
            method: .get, version: .http1_1, keepAlive: true, routePattern: nil, ifNoneMatch: nil)
        context.exchangeHeaders = EncodedFields(["Vary": "X-Version"])
        context.exchangeIDField = Array("x-request-id: ".utf8)
        context.exchangeID = ExchangeID("req-00000000-0000-4000-8000-000000000001")
        var buffer: [UInt8] = []
        let status = ResponseEncoder.encode(
            HTTPResponse(headers: ["X-Handler": "yes"], body: "{}"), context: context,
            dateLine: Array("Date: D\r\n".utf8), serverLine: Array("Server: S\r\n".utf8), into: &buffer)
        #expect(status == .ok)
        let expected =
            "HTTP/1.1 200 OK\r\nServer: S\r\nDate: D\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            + "X-Handler: yes\r\nVary: X-Version\r\nx-request-id: req-00000000-0000-4000-8000-000000000001\r\n\r\n{}"
        #expect(String(decoding: buffer, as: UTF8.self) == expected)

        // Without an id, no id field; a closing HTTP/1.0 exchange still gets its shared fields.
        context.exchangeID = nil
        context.keepAlive = false
        buffer = []
        _ = ResponseEncoder.encode(
            HTTPResponse(status: .noContent), context: context, dateLine: [], serverLine: [], into: &buffer)
        #expect(
            String(decoding: buffer, as: UTF8.self)
                == "HTTP/1.1 204 No Content\r\nContent-Type: application/json\r\nVary: X-Version\r\nConnection: close\r\n\r\n"
        )
    }

    /// A server whose hooks number the exchanges and record only while `recording` is set.
    @Test func endSeesOnlyTheExchangesBeginAskedToRecord() throws {
        let recording = Atomic<Bool>(false)
        let counter = Atomic<Int>(0)
        let records = Mutex<[ExchangeRecord]>([])
        let hooks = ExchangeHooks(
            begin: { request in
                request.annotation = "annotated"
                let number = counter.wrappingAdd(1, ordering: .relaxed).newValue
                return ExchangeStart(
                    headers: EncodedFields(["Vary": "X-Version"]), exchangeID: ExchangeID("id-\(number)"),
                    recordsExchange: recording.load(ordering: .relaxed))
            },
            unparsedRequestHeaders: EncodedFields(["Vary": "X-Version"]), exchangeIDField: "x-request-id",
            end: { record in records.withLock { $0.append(record) } })
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopCount = 1
        let server = HTTPServer(configuration: configuration, router: testRouter(), logger: quietLogger, hooks: hooks)
        try server.start()
        defer { server.shutdown(gracePeriod: .seconds(2)) }
        let client = try RawClient(port: try #require(server.localPort))

        try client.send("GET /v3/services HTTP/1.1\r\nHost: x\r\n\r\n")
        let unrecorded = try client.readResponse()
        #expect(unrecorded.status == 200)
        #expect(unrecorded.header("x-request-id") == "id-1")
        #expect(unrecorded.header("Vary") == "X-Version")

        recording.store(true, ordering: .relaxed)
        try client.send("GET /v3/services?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        let recorded = try client.readResponse()
        #expect(recorded.header("x-request-id") == "id-2")
        // `end` runs when the response is queued, before it is written: it has run by now.
        let seen = records.withLock { $0 }
        #expect(seen.count == 1)
        #expect(seen.first?.exchangeID == ExchangeID("id-2"))
        #expect(seen.first?.target == "/v3/services?x=1")
        #expect(seen.first?.status == .ok)
        #expect(seen.first?.bodyBytes == recorded.body.count)
        #expect(seen.first?.annotation as? String == "annotated")
    }
}
