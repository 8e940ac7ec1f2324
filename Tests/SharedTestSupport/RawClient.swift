import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A response as a raw client read it off the wire.
package struct RawResponse: Sendable {
    package var status: Int
    /// In the order received, names as sent.
    package var headers: [(String, String)]
    package var body: [UInt8]

    package init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header named `name` (case-insensitive).
    package func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    package var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object (empty when it is not one).
    package var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }

    /// Parses a status line and header lines (`head`, without the blank line that ends it).
    static func parseHead(_ head: String) throws(RawClientError) -> RawResponse {
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0] == "HTTP/1.1", let status = Int(parts[1]) else {
            throw .malformed(statusLine)
        }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return RawResponse(status: status, headers: headers, body: [])
    }

    /// Whether a response to `method` with `status` has no body whatever its headers say.
    static func isBodyless(method: String, status: Int) -> Bool {
        method == "HEAD" || status == 304 || status == 204 || status < 200
    }
}

package enum RawClientError: Error, CustomStringConvertible {
    case connectFailed(port: Int, errno: Int32)
    case closed, timedOut
    case malformed(String)

    package var description: String {
        switch self {
        case .connectFailed(let port, let code): "connect() to port \(port) failed: errno \(code)"
        case .closed: "the server closed the connection"
        case .timedOut: "no answer within the receive timeout"
        case .malformed(let text): "not an HTTP/1.1 response: \(text.prefix(200))"
        }
    }
}

/// The one socket client of the test targets: a blocking TCP connection to a loopback server with
/// receive and send timeouts (a broken server fails the test instead of hanging it), for byte-exact
/// requests, requests sent in pieces, and reading answers whole or as they come.
package final class RawClient {
    package private(set) var fd: Int32
    private var buffer: [UInt8] = []
    /// How the last read that got no bytes ended: "end of stream", or the error.
    private var lastEnd = ""

    package init(port: Int, host: String = "127.0.0.1", receiveTimeout: Double = 10) throws(RawClientError) {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
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
            var address = Loopback.address(port: port)
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
            // deinit runs for a failed init too: a second close would hit whatever descriptor another
            // thread opened with this number in between (seen as a reset of an in-process server's
            // fresh connection in another suite).
            fd = -1
            throw .connectFailed(port: port, errno: code)
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    package func send(_ text: String) throws(RawClientError) { try send(Array(text.utf8)) }

    package func send(_ bytes: [UInt8]) throws(RawClientError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw .closed }
            offset += written
        }
    }

    /// Reads more bytes into the buffer; false on EOF or reset. A signal (a child of another test
    /// exiting: SIGCHLD) interrupts a receive with a timeout even under SA_RESTART; it is retried.
    private func fill() throws(RawClientError) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        var count = 0
        repeat {
            count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        } while count < 0 && errno == EINTR
        if count > 0 {
            buffer.append(contentsOf: chunk[0..<count])
            return true
        }
        let code = errno
        if count < 0 && (code == EAGAIN || code == EWOULDBLOCK) { throw .timedOut }
        lastEnd = count == 0 ? "end of stream" : String(cString: strerror(code))
        return false
    }

    /// Reads one response, its body by `Content-Length`; `bodyless` for answers to HEAD.
    package func readResponse(bodyless: Bool = false) throws(RawClientError) -> RawResponse {
        var headEnd = Self.headEnd(in: buffer)
        while headEnd == nil {
            guard try fill() else { throw .closed }
            headEnd = Self.headEnd(in: buffer)
        }
        let end = headEnd!
        var response = try RawResponse.parseHead(String(decoding: buffer[0..<end], as: UTF8.self))
        buffer.removeFirst(end + 4)
        if RawResponse.isBodyless(method: bodyless ? "HEAD" : "GET", status: response.status) { return response }
        let length = Int(response.header("Content-Length") ?? "0") ?? 0
        while buffer.count < length {
            guard try fill() else { throw .closed }
        }
        response.body = Array(buffer[0..<length])
        buffer.removeFirst(length)
        return response
    }

    /// What one `recv` returns (at least one byte unless the peer closed or the timeout passed).
    package func readSome() -> String {
        if buffer.isEmpty { _ = try? fill() }
        defer { buffer.removeAll() }
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Everything the peer sends until it closes the connection (or the receive timeout passes).
    package func readUntilClosed(limit: Int = 1 << 20) -> String {
        String(decoding: readBytesUntilClosed(limit: limit), as: UTF8.self)
    }

    private func readBytesUntilClosed(limit: Int) -> [UInt8] {
        while buffer.count < limit, (try? fill()) == true {}
        defer { buffer.removeAll() }
        return buffer
    }

    /// True when the server closes the connection (EOF or reset) before the receive timeout, with no
    /// further bytes.
    package func isClosedByServer() -> Bool {
        guard buffer.isEmpty else { return false }
        do { return try !fill() } catch { return false }
    }

    /// Whether the peer has closed or reset the connection (without reading what is buffered).
    package func peerHasClosed() -> Bool {
        var descriptor = pollfd(fd: fd, events: Self.pollReadHangUp, revents: 0)
        guard poll(&descriptor, 1, 0) == 1 else { return false }
        return descriptor.revents & (Self.pollReadHangUp | Int16(POLLHUP) | Int16(POLLERR)) != 0
    }

    /// Whether bytes are waiting (a response has started to arrive).
    package func hasInput() -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return !buffer.isEmpty || poll(&descriptor, 1, 0) == 1
    }

    /// Linux's POLLRDHUP (the peer shut its sending side), which Glibc's module does not import.
    private static let pollReadHangUp: Int16 = 0x2000

    /// The local (client-side) port of the connection.
    package var localPort: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func headEnd(in buffer: [UInt8]) -> Int? {
        guard buffer.count >= 4 else { return nil }
        return (0...(buffer.count - 4)).first {
            buffer[$0] == 13 && buffer[$0 + 1] == 10 && buffer[$0 + 2] == 13 && buffer[$0 + 3] == 10
        }
    }

    /// One request on a connection of its own (`Connection: close`), its answer read until the server
    /// closes. A `Host` among `headers` replaces the default one (a client that names the server
    /// otherwise). The body is cut at `Content-Length` when the server sent one.
    package static func request(
        port: Int, method: String, path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        receiveTimeout: Double = 30
    ) throws(RawClientError) -> RawResponse {
        let client = try RawClient(port: port, receiveTimeout: receiveTimeout)
        let host = headers.contains { $0.0.lowercased() == "host" } ? "" : "Host: 127.0.0.1:\(port)\r\n"
        var head = "\(method) \(path) HTTP/1.1\r\n\(host)Connection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try client.send(Array(head.utf8) + (body ?? []))
        var received: [UInt8] = []
        while try client.fill() {}
        received = client.buffer
        guard let end = headEnd(in: received) else {
            throw .malformed(
                "no complete response head in \(received.count) bytes (then \(client.lastEnd)), for \(method) \(path)")
        }
        var response = try RawResponse.parseHead(String(decoding: received[0..<end], as: UTF8.self))
        var rest = Array(received[(end + 4)...])
        if let length = response.header("Content-Length").flatMap(Int.init), length <= rest.count {
            rest = Array(rest[0..<length])
        }
        response.body = RawResponse.isBodyless(method: method, status: response.status) ? [] : rest
        return response
    }
}
