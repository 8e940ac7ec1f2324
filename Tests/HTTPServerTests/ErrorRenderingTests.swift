// The server writes no error body of its own choosing: every refusal goes through the configured
// renderer, and a handler's own `HTTPResponseError` renders itself.

import SharedTestSupport
import Synchronization
import Testing

@testable import HTTPServer

@Suite(.offCooperativePool) struct ErrorRenderingTests {
    /// Renders each refusal as `refused <code>: <message>` and remembers what it was asked to render.
    final class RecordingRenderer: Sendable {
        let seen = Mutex<[HTTPError]>([])

        var render: @Sendable (HTTPError) -> HTTPResponse {
            { [self] error in
                seen.withLock { $0.append(error) }
                var headers = error.headers
                headers.add(name: "X-Refusal", value: "\(error.status.code)")
                return HTTPResponse(
                    status: error.status, contentType: "application/x-refusal", headers: headers,
                    body: "refused \(error.status.code): \(error.message)")
            }
        }
    }

    /// Sends `request` on a new connection and returns the one response.
    private func exchange(_ port: Int, _ request: String) throws -> RawResponse {
        let client = try RawClient(port: port)
        try client.send(request)
        return try client.readResponse()
    }

    @Test("every protocol error the server answers itself goes through the configured renderer")
    func protocolErrorsUseTheRenderer() throws {
        let renderer = RecordingRenderer()
        try withServer({
            $0.renderError = renderer.render
            $0.maxBodyBytes = 1000
            $0.maxHeaderCount = 10
        }) { _, port in
            let cases: [(request: String, expected: HTTPError)] = [
                ("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", .notFound("The resource could not be found.")),
                (
                    "PATCH /drivers/a HTTP/1.1\r\nHost: x\r\n\r\n",
                    .methodNotAllowed(
                        "The method PATCH is not allowed for this resource.", allow: [.delete, .get, .head])
                ),
                ("GET /ping HTTP/1.1\r\n\r\n", .badRequest("Missing Host header.")),
                (
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
                    .contentTooLarge("The request body of 1001 bytes exceeds 1000 bytes.")
                ),
                (
                    "GET /\(String(repeating: "p", count: 8200)) HTTP/1.1\r\nHost: x\r\n\r\n",
                    .uriTooLong("The request-target is longer than 8192 bytes.")
                ),
                (
                    "GET /ping HTTP/1.1\r\nHost: x\r\n" + (0..<10).map { "X-\($0): y\r\n" }.joined() + "\r\n",
                    .requestHeaderFieldsTooLarge("More than 10 header fields.")
                ),
                (
                    "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: bananas\r\nContent-Length: 1\r\n\r\nx",
                    .expectationFailed("Only 'Expect: 100-continue' is supported.")
                ),
                (
                    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                    .notImplemented("Only the 'chunked' transfer coding is supported.")
                ),
                (
                    "GET /ping HTTP/2.0\r\nHost: x\r\n\r\n",
                    .httpVersionNotSupported("Only HTTP/1.0 and HTTP/1.1 are supported.")
                ),
                (
                    "GET /crash HTTP/1.1\r\nHost: x\r\n\r\n",
                    .internalServerError(
                        "The server has either erred or is incapable of performing the requested operation.")
                ),
                (
                    "GET /forgetful HTTP/1.1\r\nHost: x\r\n\r\n",
                    .internalServerError("The request handler finished without answering.")
                ),
            ]
            for (request, expected) in cases {
                let response = try exchange(port, request)
                #expect(response.status == expected.status.code, "\(expected)")
                #expect(response.header("Content-Type") == "application/x-refusal", "\(expected)")
                #expect(response.header("X-Refusal") == "\(expected.status.code)", "\(expected)")
                #expect(response.text == "refused \(expected.status.code): \(expected.message)", "\(expected)")
                #expect(renderer.seen.withLock { $0.last } == expected)
            }
            let wrongMethod = try exchange(port, "PATCH /drivers/a HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(wrongMethod.header("Allow") == "DELETE, GET, HEAD")
        }
    }

    @Test("timeouts and the connection limit are rendered by the configured renderer too")
    func timeoutAndConnectionLimitUseTheRenderer() throws {
        let renderer = RecordingRenderer()
        try withServer({
            $0.renderError = renderer.render
            $0.headerReadTimeout = .milliseconds(200)
            $0.maxConnections = 1
        }) { _, port in
            // Served once first, so it surely holds the one connection before the next arrives.
            let slow = try RawClient(port: port)
            try slow.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try slow.readResponse().status == 200)
            try slow.send("GET /ping HTTP/1.1\r\nHost: x\r\n")
            let extra = try RawClient(port: port)
            let refused = try extra.readResponse()
            #expect(refused.status == 503)
            #expect(refused.text == "refused 503: The server has too many open connections.")
            let timedOut = try slow.readResponse()
            #expect(timedOut.status == 408)
            #expect(timedOut.header("Content-Type") == "application/x-refusal")
            #expect(timedOut.text == "refused 408: The request was not received in time.")
        }
    }

    @Test("a handler's own HTTPResponseError renders itself, not through the renderer")
    func handlerErrorsRenderThemselves() throws {
        let renderer = RecordingRenderer()
        try withServer({ $0.renderError = renderer.render }) { _, port in
            let response = try exchange(port, "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(response.status == 409)
            #expect(response.header("Content-Type") == "application/x-busy")
            #expect(response.header("Retry-After") == "1")
            #expect(response.text == #"<busy>busy "now"</busy>"#)
            #expect(renderer.seen.withLock { $0.isEmpty })
        }
    }
}
