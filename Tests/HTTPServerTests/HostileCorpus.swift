// The hostile-request corpus: byte streams an attacker or a broken proxy might send, each with the
// statuses the server must answer, in order. Every stream ends in a response that closes the
// connection (a rejection, or `Connection: close`), so a test can check that nothing after it is read.

import Testing

@testable import HTTPServer

/// One hostile byte stream and what the server must answer to it.
struct HostileCase: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    /// The statuses of the responses, in order; the last one closes the connection.
    var statuses: [Int]
    /// The body of the last response, when it matters (e.g. what a handler received).
    var lastBody: String?

    init(_ name: String, _ text: String, _ statuses: [Int], lastBody: String? = nil) {
        self.init(name, Array(text.utf8), statuses, lastBody: lastBody)
    }

    init(_ name: String, _ bytes: [UInt8], _ statuses: [Int], lastBody: String? = nil) {
        self.name = name
        self.bytes = bytes
        self.statuses = statuses
        self.lastBody = lastBody
    }

    var testDescription: String { name }
}

/// The limits the corpus is written against (the server's defaults, except a small body limit).
enum HostileLimits {
    static let maxBodyBytes = 1024
    static let maxTargetBytes = HTTPServerConfiguration().maxTargetBytes
    static let maxHeadBytes = HTTPServerConfiguration().maxHeadBytes
    static let maxHeaderCount = HTTPServerConfiguration().maxHeaderCount
}

/// A request the corpus tries to smuggle behind another; the route counts every time it runs.
let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

private let host = "Host: x\r\n"

let hostileCorpus: [HostileCase] = smugglingCases + framingCases + byteCases + sizeCases + lineCases + hostCases

/// Request smuggling: two ways to frame one body. Each is rejected outright (never "pick one"), so
/// the smuggled request behind it never runs.
private let smugglingCases: [HostileCase] = [
    HostileCase(
        "CL then TE",
        "POST /echo HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\(smuggled)",
        [400]),
    HostileCase(
        "TE then CL",
        "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n\(smuggled)",
        [400]),
    HostileCase(
        "two different Content-Lengths",
        "POST /echo HTTP/1.1\r\n\(host)Content-Length: 0\r\nContent-Length: 36\r\n\r\n\(smuggled)", [400]),
    HostileCase(
        "a Content-Length list that disagrees",
        "POST /echo HTTP/1.1\r\n\(host)Content-Length: 0, 36\r\n\r\n\(smuggled)", [400]),
    HostileCase(
        "TE chunked, identity",
        "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n\(smuggled)", [400]),
    HostileCase(
        "TE identity, chunked",
        "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n\(smuggled)", [501]),
    HostileCase(
        "TE with a space before the colon",
        "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n\(smuggled)", [400]),
    HostileCase(
        "TE value on an obs-fold line",
        "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n\(smuggled)", [400]),
    HostileCase(
        "Content-Length on an obs-fold line", "POST /echo HTTP/1.1\r\n\(host)Content-Length:\r\n\t0\r\n\r\n\(smuggled)",
        [400]),
    HostileCase(
        "TE xchunked", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n\(smuggled)", [400]),
    HostileCase(
        "TE chunked in two fields",
        "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\(smuggled)",
        [400]),
    HostileCase(
        "TE with a vertical tab",
        "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: \u{0b}chunked\r\n\r\n0\r\n\r\n\(smuggled)", [400]),
    HostileCase(
        "TE in an HTTP/1.0 request", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\(smuggled)",
        [400]),
    // Not a framing field at all: the body is empty, and the chunk bytes are read as the next request.
    HostileCase(
        "Transfer_Encoding is not Transfer-Encoding",
        "POST /echo HTTP/1.1\r\n\(host)Transfer_Encoding: chunked\r\n\r\n0\r\n\r\n\(smuggled)", [200, 400]),
    // Trailer fields are read and dropped: they can never change the framing afterwards.
    HostileCase(
        "framing fields in the trailer",
        "POST /echo HTTP/1.1\r\n\(host)Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 36\r\nTransfer-Encoding: chunked\r\n\r\n\(smuggled)",
        [200], lastBody: "abc"),
    HostileCase(
        "a second request after a rejected one", "GET /ping HTTP/1.1\r\n\(host)X: a\u{01}\r\n\r\n\(smuggled)", [400]),
]

/// Body framing at its edges: lengths and chunk sizes.
private let framingCases: [HostileCase] = [
    HostileCase("negative Content-Length", "POST /echo HTTP/1.1\r\n\(host)Content-Length: -1\r\n\r\nabc", [400]),
    HostileCase(
        "Content-Length with a plus sign", "POST /echo HTTP/1.1\r\n\(host)Content-Length: +3\r\n\r\nabc", [400]),
    HostileCase("Content-Length in hex", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 0x3\r\n\r\nabc", [400]),
    HostileCase(
        "Content-Length with a space inside", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 1 0\r\n\r\nabcdefghij",
        [400]),
    // Whitespace around a field value is optional whitespace (RFC 9110 5.5), not part of the number.
    HostileCase(
        "Content-Length padded with spaces and tabs",
        "POST /echo HTTP/1.1\r\n\(host)Connection: close\r\nContent-Length: \t 3 \t\r\n\r\nabc", [200], lastBody: "abc"),
    HostileCase(
        "Content-Length of 19 digits", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 1000000000000000000\r\n\r\n",
        [400]),
    HostileCase(
        "Content-Length of 18 digits", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 100000000000000000\r\n\r\n", [413]
    ),
    HostileCase(
        "Content-Length over the body limit",
        "POST /echo HTTP/1.1\r\n\(host)Content-Length: \(HostileLimits.maxBodyBytes + 1)\r\n\r\n", [413]),
    HostileCase(
        "chunk size of 18 hex digits",
        "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", [400]),
    HostileCase(
        "chunk size of 15 hex digits",
        "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n", [413]),
    HostileCase(
        "chunks adding up over the body limit",
        "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n200\r\n\(String(repeating: "a", count: 512))\r\n201\r\n",
        [413]),
    HostileCase(
        "negative chunk size", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n-1\r\na\r\n0\r\n\r\n",
        [400]),
    HostileCase(
        "chunk size with 0x", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
        [400]),
    HostileCase(
        "chunk longer than its size",
        "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", [400]),
    HostileCase(
        "bare LF after a chunk size",
        "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", [400]),
    HostileCase(
        "chunk extension flood",
        "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3;\(String(repeating: "x", count: 5000))\r\nabc\r\n0\r\n\r\n",
        [400]),
]

/// Bytes that have no place in a head: NUL, control bytes, invalid UTF-8.
private let byteCases: [HostileCase] = [
    HostileCase(
        "NUL in the request-target", Array("GET /pi".utf8) + [0] + Array("ng HTTP/1.1\r\n\(host)\r\n".utf8), [400]),
    HostileCase(
        "NUL in a field name", Array("GET /ping HTTP/1.1\r\n\(host)X-".utf8) + [0] + Array(": a\r\n\r\n".utf8), [400]),
    HostileCase("NUL before the request line", [0] + Array("GET /ping HTTP/1.1\r\n\(host)\r\n".utf8), [400]),
    HostileCase(
        "NUL starting a pipelined request",
        Array("GET /ping HTTP/1.1\r\n\(host)\r\n".utf8) + [0] + Array(smuggled.utf8), [200, 400]),
    HostileCase("percent-encoded NUL", "GET /drivers/a%00b HTTP/1.1\r\n\(host)\r\n", [400]),
    HostileCase(
        "raw invalid UTF-8 in the path",
        Array("GET /drivers/".utf8) + [0xff, 0xfe, 0xc3] + Array(" HTTP/1.1\r\n\(host)\r\n".utf8), [400]),
    HostileCase(
        "raw valid UTF-8 in the path",
        Array("GET /drivers/".utf8) + [0xc3, 0xa9] + Array(" HTTP/1.1\r\n\(host)\r\n".utf8), [400]),
    HostileCase("percent-encoded invalid UTF-8 in the path", "GET /drivers/%ff%fe HTTP/1.1\r\n\(host)\r\n", [400]),
    HostileCase("overlong UTF-8 slash", "GET /drivers/..%c0%af..%c0%afetc HTTP/1.1\r\n\(host)\r\n", [400]),
    HostileCase("UTF-16 surrogate in UTF-8", "GET /drivers/%ed%a0%80 HTTP/1.1\r\n\(host)\r\n", [400]),
    HostileCase("invalid UTF-8 in the query", "GET /ping?x=%ff HTTP/1.1\r\n\(host)\r\n", [400]),
    HostileCase("truncated percent-escape", "GET /drivers/a% HTTP/1.1\r\n\(host)\r\n", [400]),
    // obs-text in a field value is allowed (RFC 9110 5.5); handlers see it replaced, never a crash.
    HostileCase(
        "non-ASCII bytes in a field value",
        Array("GET /drivers/x HTTP/1.1\r\n\(host)Connection: close\r\nX-Name: ".utf8) + [0xff, 0xc3, 0xa9]
            + Array("\r\n\r\n".utf8), [200], lastBody: "driver:x"),
    HostileCase("DEL in a field value", "GET /ping HTTP/1.1\r\n\(host)X: a\u{7f}\r\n\r\n", [400]),
    HostileCase("escape sequence in a field value", "GET /ping HTTP/1.1\r\n\(host)X: \u{1b}[2J\r\n\r\n", [400]),
]

/// Oversized pieces: each limit answered with its own status, before the rest is read.
private let sizeCases: [HostileCase] = [
    HostileCase(
        "request line without an end", "GET /" + String(repeating: "a", count: HostileLimits.maxTargetBytes + 100),
        [414]),
    HostileCase(
        "request-target over the limit",
        "GET /" + String(repeating: "a", count: HostileLimits.maxTargetBytes) + " HTTP/1.1\r\n\(host)\r\n", [414]),
    HostileCase(
        "one field over the head limit",
        "GET /ping HTTP/1.1\r\n\(host)X: " + String(repeating: "b", count: HostileLimits.maxHeadBytes) + "\r\n\r\n",
        [431]),
    HostileCase(
        "too many fields",
        "GET /ping HTTP/1.1\r\n\(host)" + String(repeating: "X: y\r\n", count: HostileLimits.maxHeaderCount) + "\r\n",
        [431]),
    HostileCase(
        "head without an end over the limit",
        "GET /ping HTTP/1.1\r\n" + String(repeating: "X: y\r\n", count: HostileLimits.maxHeadBytes / 6 + 1), [431]),
    HostileCase(
        "a 2000-byte method",
        String(repeating: "M", count: 2000) + " /ping HTTP/1.1\r\n\(host)Connection: close\r\n\r\n", [405]),
]

/// Line endings and request-line shapes from other protocols and broken clients.
private let lineCases: [HostileCase] = [
    HostileCase("HTTP/0.9 simple request", "GET /ping\r\n\r\n", [400]),
    HostileCase("HTTP/0.9 with a bare LF", "GET /ping\n", [400]),
    HostileCase("HTTP/0.9 version", "GET /ping HTTP/0.9\r\n\(host)\r\n", [505]),
    HostileCase("HTTP/1.10", "GET /ping HTTP/1.10\r\n\(host)\r\n", [505]),
    HostileCase("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", [505]),
    HostileCase("bare LF line endings", "GET /ping HTTP/1.1\n\(host)\n", [400]),
    HostileCase("bare CR line endings", "GET /ping HTTP/1.1\rHost: x\r\r", [400]),
    HostileCase("bare CR inside a value", "GET /ping HTTP/1.1\r\n\(host)X: a\rb\r\n\r\n", [400]),
    HostileCase("LF LF ends the head", "GET /ping HTTP/1.1\r\n\(host)\n\n", [400]),
    HostileCase("whitespace before the method", " GET /ping HTTP/1.1\r\n\(host)\r\n", [400]),
    HostileCase("tab between method and target", "GET\t/ping HTTP/1.1\r\n\(host)\r\n", [400]),
    HostileCase("whitespace before the first field", "GET /ping HTTP/1.1\r\n \(host)\r\n", [400]),
    HostileCase("missing Host", "GET /ping HTTP/1.1\r\n\r\n", [400]),
    HostileCase("two Host fields", "GET /ping HTTP/1.1\r\n\(host)Host: y\r\n\r\n", [400]),
    HostileCase(
        "TLS handshake bytes",
        [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03] + Array("\r\n\r\n".utf8), [400]),
]

/// Host values (RFC 9112 3.2: a Host that is not `uri-host [":" port]` is 400). The smuggled
/// request behind each shows nothing after the rejection is read.
private let hostCases: [HostileCase] = [
    HostileCase("Host with a space inside", "GET /ping HTTP/1.1\r\nHost: a b\r\n\r\n\(smuggled)", [400]),
    HostileCase("Host with userinfo", "GET /ping HTTP/1.1\r\nHost: user@x\r\n\r\n\(smuggled)", [400]),
    HostileCase("Host with a path", "GET /ping HTTP/1.1\r\nHost: x/y\r\n\r\n\(smuggled)", [400]),
    HostileCase("Host with a query", "GET /ping HTTP/1.1\r\nHost: x?y\r\n\r\n\(smuggled)", [400]),
    HostileCase("Host with a letter in the port", "GET /ping HTTP/1.1\r\nHost: x:80a\r\n\r\n\(smuggled)", [400]),
    HostileCase("Host with two ports", "GET /ping HTTP/1.1\r\nHost: x:80:81\r\n\r\n\(smuggled)", [400]),
    HostileCase("Host with an unclosed IPv6 literal", "GET /ping HTTP/1.1\r\nHost: [::1\r\n\r\n\(smuggled)", [400]),
    HostileCase("Host with an empty IP literal", "GET /ping HTTP/1.1\r\nHost: []\r\n\r\n\(smuggled)", [400]),
    HostileCase("Host with a bracket in a name", "GET /ping HTTP/1.1\r\nHost: a[b]\r\n\r\n\(smuggled)", [400]),
    HostileCase("Host with a bad percent escape", "GET /ping HTTP/1.1\r\nHost: a%zz\r\n\r\n\(smuggled)", [400]),
    HostileCase("Host with a double quote", "GET /ping HTTP/1.1\r\nHost: \"x\"\r\n\r\n\(smuggled)", [400]),
    HostileCase("Host with a backslash", "GET /ping HTTP/1.1\r\nHost: x\\y\r\n\r\n\(smuggled)", [400]),
    HostileCase(
        "Host with non-ASCII bytes", Array("GET /ping HTTP/1.1\r\nHost: \u{e9}x\r\n\r\n\(smuggled)".utf8), [400]),
    HostileCase("Host with a tab inside", "GET /ping HTTP/1.1\r\nHost: a\tb\r\n\r\n\(smuggled)", [400]),
    HostileCase("HTTP/1.0 with an invalid Host", "GET /ping HTTP/1.0\r\nHost: a b\r\n\r\n", [400]),
    HostileCase(
        "Host: IPv6 literal with a port",
        "GET /ping HTTP/1.1\r\nHost: [::1]:8776\r\nConnection: close\r\n\r\n\(smuggled)", [200]),
    HostileCase(
        "Host: IPv4 with a port", "GET /ping HTTP/1.1\r\nHost: 127.0.0.1:8776\r\nConnection: close\r\n\r\n\(smuggled)",
        [200]),
    HostileCase(
        "Host: IPvFuture literal",
        "GET /ping HTTP/1.1\r\nHost: [v1.fe80::a+en1]\r\nConnection: close\r\n\r\n\(smuggled)", [200]),
    HostileCase(
        "Host: empty (RFC 9112 3.2 allows it)", "GET /ping HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n\(smuggled)",
        [200]),
    HostileCase(
        "Host: name with a percent escape and an empty port",
        "GET /ping HTTP/1.1\r\nHost: a%41b:\r\nConnection: close\r\n\r\n\(smuggled)", [200]),
]
