// Shared helpers: a real server on an ephemeral port, a raw socket client, and the curl binary.

import Foundation
import Logging
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

/// A parsed response as a raw client sees it.
struct RawResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    var text: String { String(decoding: body, as: UTF8.self) }
}

enum ClientError: Error {
    case connectFailed(Int32)
    case closed, timedOut
    case malformed(String)
}

/// A blocking TCP client with a receive timeout, for byte-exact requests.
final class RawClient {
    private(set) var fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, host: String = "127.0.0.1", receiveTimeout: Double = 10) throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(
            tv_sec: Int(receiveTimeout), tv_usec: Int((receiveTimeout - Double(Int(receiveTimeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let result: Int32
        if v6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET6, host, &address.sin6_addr)
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &address.sin_addr)
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            fd = -1  // deinit runs for a fully initialized object: never close a reused descriptor twice
            throw ClientError.connectFailed(code)
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { throw ClientError.closed }
            offset += written
        }
    }

    /// Reads more bytes into the buffer; false on EOF or reset.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            buffer.append(contentsOf: chunk[0..<count])
            return true
        }
        if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw ClientError.timedOut }
        return false
    }

    /// Reads one response; `bodyless` for answers to HEAD.
    func readResponse(bodyless: Bool = false) throws -> RawResponse {
        var headEnd: Int?
        while headEnd == nil {
            if let range = findHeadEnd() {
                headEnd = range
                break
            }
            guard try fill() else { throw ClientError.closed }
        }
        let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0] == "HTTP/1.1", let status = Int(parts[1]) else {
            throw ClientError.malformed(statusLine)
        }
        let headers = lines.map { line -> (String, String) in
            let colon = line.firstIndex(of: ":")!
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = RawResponse(status: status, headers: headers, body: [])
        if bodyless || status == 304 || status == 204 || status < 200 { return response }
        let length = Int(response.header("Content-Length") ?? "0") ?? 0
        while buffer.count < length {
            guard try fill() else { throw ClientError.closed }
        }
        response.body = Array(buffer[0..<length])
        buffer.removeFirst(length)
        return response
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4)
        where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }

    /// True when the server closes the connection (EOF or reset) before the receive timeout, with no
    /// further bytes.
    func isClosedByServer() -> Bool {
        guard buffer.isEmpty else { return false }
        do { return try !fill() } catch { return false }
    }
}

/// Runs the curl binary and returns (status, headers+body text, stderr).
@discardableResult
func curl(_ arguments: [String]) throws -> (status: Int, output: String, errors: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    process.arguments = ["-sS", "--max-time", "20", "-i"] + arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    let statusLines = output.components(separatedBy: "\r\n").filter { $0.hasPrefix("HTTP/") }
    let status = statusLines.last.flatMap { Int($0.split(separator: " ")[1]) } ?? -1
    return (status, output, errors)
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
