// What a handler receives: a parsed, validated request.

/// A request as the router hands it to a handler. Every field has already passed the parser's limits
/// and syntax checks, so handlers never see malformed input.
package struct HTTPRequest: Sendable {
    package let method: HTTPMethod
    package let version: HTTPVersion
    /// The request-target exactly as sent (origin-form, e.g. `/v3/services?host=a%40b`).
    package let target: String
    /// The path of the target, percent-decoded.
    package let path: String
    /// Values of the route's `{name}` segments, percent-decoded.
    package internal(set) var pathParameters: Parameters
    /// The query string's `name=value` pairs, percent-decoded with `+` as a space.
    package let query: Parameters
    package let headers: HTTPHeaders
    /// The request body, de-chunked when it was sent chunked.
    package let body: [UInt8]
    /// Who sent the request.
    package let peer: PeerAddress
    /// The pattern of the route that matched (e.g. `/drivers/{id}`), for logs and metrics.
    package internal(set) var routePattern: String?
    /// What `ExchangeHooks.begin` attached for the handler (e.g. a negotiated protocol version).
    package var annotation: (any Sendable)?

    package init(
        method: HTTPMethod, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = [:],
        body: [UInt8] = [], peer: PeerAddress = .loopbackV4
    ) throws(HTTPError) {
        let split = try RequestTarget.split(Array(target.utf8)[...])
        self.init(
            method: method, version: version, target: target, path: split.path,
            query: split.query, headers: headers, body: body, peer: peer)
    }

    init(
        method: HTTPMethod, version: HTTPVersion, target: String, path: String, query: Parameters,
        headers: HTTPHeaders, body: [UInt8], peer: PeerAddress
    ) {
        self.method = method
        self.version = version
        self.target = target
        self.path = path
        self.pathParameters = Parameters()
        self.query = query
        self.headers = headers
        self.body = body
        self.peer = peer
        self.routePattern = nil
        self.annotation = nil
    }

    /// True when the peer is a loopback address (127.0.0.0/8, ::1, or ::ffff:127.x.y.z).
    package var isFromLoopback: Bool { peer.isLoopback }

    /// The body as UTF-8 text (invalid sequences replaced).
    package var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// True when the request's `If-None-Match` matches `etag` (weak comparison, lists and `*`), i.e.
    /// when a handler may answer `HTTPResponse.notModified(etag:)` without building a body. The server
    /// does the same check itself for every response that carries an ETag.
    package func ifNoneMatchMatches(_ etag: String) -> Bool {
        var matched = false
        headers.forEachValue(lowercasedName: HeaderName.ifNoneMatch) { value in
            if !matched, EntityTag.list(value, matches: Array(etag.utf8)) { matched = true }
        }
        return matched
    }
}

/// Ordered name/value pairs (query or path parameters); a name may repeat.
package struct Parameters: Sendable, Sequence, ExpressibleByDictionaryLiteral, Equatable {
    package internal(set) var items: [(name: String, value: String)]

    package init() { items = [] }
    package init(dictionaryLiteral elements: (String, String)...) {
        items = elements.map { (name: $0.0, value: $0.1) }
    }

    package mutating func append(name: String, value: String) { items.append((name, value)) }

    /// The first value called `name`.
    package subscript(name: String) -> String? { items.first { $0.name == name }?.value }

    /// Every value called `name`, in order.
    package func values(forName name: String) -> [String] {
        items.filter { $0.name == name }.map(\.value)
    }

    package var isEmpty: Bool { items.isEmpty }
    package var count: Int { items.count }

    package func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        items.makeIterator()
    }

    package static func == (lhs: Parameters, rhs: Parameters) -> Bool {
        lhs.items.count == rhs.items.count
            && zip(lhs.items, rhs.items).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

/// The address of a connected peer, kept as raw bytes so nothing is formatted unless asked for.
package struct PeerAddress: Sendable, Hashable, CustomStringConvertible {
    package enum Family: Sendable, Hashable { case ipv4, ipv6 }

    package let family: Family
    /// 4 bytes for IPv4, 16 for IPv6, network order.
    package let bytes: [UInt8]
    package let port: Int

    package init(family: Family, bytes: [UInt8], port: Int) {
        self.family = family
        self.bytes = bytes
        self.port = port
    }

    package static let loopbackV4 = PeerAddress(family: .ipv4, bytes: [127, 0, 0, 1], port: 0)

    /// 127.0.0.0/8, ::1, or an IPv4-mapped loopback (::ffff:127.0.0.0/104).
    package var isLoopback: Bool {
        switch family {
        case .ipv4:
            return bytes.first == 127
        case .ipv6:
            guard bytes.count == 16 else { return false }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
            let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
            return mapped && bytes[12] == 127
        }
    }

    /// The address without the port (`127.0.0.1`, `::1`).
    package var host: String {
        switch family {
        case .ipv4:
            return bytes.map(String.init).joined(separator: ".")
        case .ipv6:
            return formatIPv6(bytes)
        }
    }

    package var description: String {
        family == .ipv4 ? "\(host):\(port)" : "[\(host)]:\(port)"
    }
}

/// RFC 5952 text form: lower-case hex, the longest run of two or more zero groups shortened to `::`.
private func formatIPv6(_ bytes: [UInt8]) -> String {
    guard bytes.count == 16 else { return "?" }
    let groups = (0..<8).map { Int(bytes[2 * $0]) << 8 | Int(bytes[2 * $0 + 1]) }
    var bestStart = -1
    var bestLength = 0
    var runStart = -1
    for index in 0...8 {
        if index < 8 && groups[index] == 0 {
            if runStart < 0 { runStart = index }
        } else if runStart >= 0 {
            if index - runStart > bestLength {
                bestStart = runStart
                bestLength = index - runStart
            }
            runStart = -1
        }
    }
    if bestLength < 2 { bestStart = -1 }
    var text = ""
    var index = 0
    while index < 8 {
        if index == bestStart {
            text += "::"
            index += bestLength
            continue
        }
        if !text.isEmpty && !text.hasSuffix(":") { text += ":" }
        text += String(groups[index], radix: 16)
        index += 1
    }
    return text
}
