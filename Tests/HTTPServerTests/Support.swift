// Shared helpers: a real server on an ephemeral port and the curl binary (the raw socket client is
// SharedTestSupport's RawClient).

import Foundation
import Logging
import SharedTestSupport
import Testing

@testable import HTTPServer

#if canImport(Glibc)
    import Glibc
#endif

/// Tests log only warnings and errors.
let quietLogger: Logger = {
    var logger = Logger(label: "http-test")
    logger.logLevel = .warning
    return logger
}()

/// The routes most tests use.
func testRouter() -> Router {
    var router = Router()
    router.get("/ping") { _ in HTTPResponse(body: "{\"pong\": true}") }
    router.get("/v3/services") { _ in HTTPResponse(etag: "\"v7\"", body: servicesBody) }
    router.post("/echo") { request in
        HTTPResponse(contentType: "application/octet-stream", body: request.body)
    }
    router.put("/echo") { request in HTTPResponse(body: request.body) }
    router.get("/query") { request in
        HTTPResponse.text(request.query.map { "\($0.name)=\($0.value)" }.joined(separator: "|"))
    }
    router.get("/drivers/{id}") { request in
        HTTPResponse.text("driver:\(request.pathParameters["id"] ?? "-")")
    }
    router.get("/drivers/stats") { _ in HTTPResponse.text("stats") }
    router.delete("/drivers/{id}") { request in
        HTTPResponse(status: .noContent, body: [])
    }
    router.get("/path/{a}/{b}") { request in
        HTTPResponse.text("\(request.pathParameters["a"] ?? "")+\(request.pathParameters["b"] ?? "")")
    }
    router.get("/big") { _ in HTTPResponse(body: [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)) }
    router.get("/fail") { _ in throw Busy(reason: "busy \"now\"") }
    router.get("/crash") { _ in throw CocoaError(.fileNoSuchFile) }
    router.get("/peer") { request in HTTPResponse.text("\(request.isFromLoopback) \(request.peer.host)") }
    router.get("/slow") { request in
        let millis = Int(request.query["ms"] ?? "200") ?? 200
        return .deferred { responder in
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(millis)) {
                responder.respond(.text("slow done"))
            }
        }
    }
    router.get("/forgetful") { _ in .deferred { _ in } }
    router.get("/immediate") { _ in .deferred { responder in responder.respond(.text("at once")) } }
    return router
}

/// A handler's own error: it renders itself, whatever the server's `renderError` is.
struct Busy: HTTPResponseError {
    var reason: String
    var status: HTTPStatus { .conflict }
    var headers: HTTPHeaders { ["Retry-After": "1"] }
    func response() -> HTTPResponse {
        HTTPResponse(
            status: status, contentType: "application/x-busy", headers: headers, body: "<busy>\(reason)</busy>")
    }
}

let servicesBody = Array(String(repeating: "{\"binary\": \"cinder-volume\"}", count: 30).utf8)

/// Runs `body` against a started server and shuts it down afterwards.
func withServer(
    router: Router = testRouter(), onResponse: (@Sendable (ResponseRecord) -> Void)? = nil,
    _ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
    _ body: (HTTPServer, Int) throws -> Void
) throws {
    var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.eventLoopCount = 2
    configure(&configuration)
    let server = HTTPServer(configuration: configuration, router: router, logger: quietLogger, onResponse: onResponse)
    try server.start()
    defer { server.shutdown(gracePeriod: .seconds(2)) }
    let port = try #require(server.localPort)
    try body(server, port)
}

/// Runs the curl binary and returns (status, headers+body text, stderr).
@discardableResult
func curl(_ arguments: [String]) throws -> (status: Int, output: String, errors: String) {
    let result = try ExternalTool("curl", package: "curl").run(["-sS", "--max-time", "20", "-i"] + arguments)
    let statusLines = result.stdout.components(separatedBy: "\r\n").filter { $0.hasPrefix("HTTP/") }
    let status = statusLines.last.flatMap { Int($0.split(separator: " ")[1]) } ?? -1
    return (status, result.stdout, result.stderr)
}

/// The body of curl output (after the last blank line of the last header block).
func curlBody(_ output: String) -> String {
    guard let range = output.range(of: "\r\n\r\n", options: .backwards) else { return "" }
    return String(output[range.upperBound...])
}

/// Asserts the server still answers a fresh client.
func expectServes(_ port: Int, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let client = try RawClient(port: port)
    try client.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    let response = try client.readResponse()
    #expect(response.status == 200, sourceLocation: sourceLocation)
    #expect(response.text == "{\"pong\": true}", sourceLocation: sourceLocation)
}
