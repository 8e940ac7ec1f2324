// HTTP/1.1 request heads (RFC 9112), parsed strictly straight from bytes.
//
// Line endings are strict: every line must end in CRLF. A bare LF or a bare CR anywhere in the head is
// a 400, never a line ending, so the server can never frame a request differently from a proxy in
// front of it. Obs-fold, whitespace before a colon, control bytes and NUL are 400 as well.

/// How the body of a request is delimited.
enum BodyFraming: Equatable {
    case none
    case contentLength(Int)
    case chunked
}

/// A request head that passed every syntax check and limit.
struct ParsedHead {
    var method: HTTPMethod
    var version: HTTPVersion
    /// The head bytes (a copy owned by the request) and where the target sits in them.
    var headers: HTTPHeaders
    var targetRange: Range<Int>
    var framing: BodyFraming
    var keepAlive: Bool
    var expectContinue: Bool

    var target: ArraySlice<UInt8> { headers.storage[targetRange] }
}

/// The limits the parser enforces, copied out of the configuration once.
struct ParserLimits {
    var maxHeadBytes: Int
    var maxTargetBytes: Int
    var maxHeaderCount: Int
    var maxBodyBytes: Int
}

/// Finds the end of a request head across reads, checking line endings as it goes. `offset` is where
/// the next scan resumes, so one byte at a time costs O(n) overall, not O(n²).
struct HeadScanner {
    var offset = 0
    var requestLineSeen = false

    enum Result: Equatable {
        case incomplete
        case complete(length: Int)
        case failed(HTTPError)
    }

    mutating func scan(_ bytes: UnsafeBufferPointer<UInt8>, limits: ParserLimits) -> Result {
        var index = max(0, offset - 1)
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if byte == 10 {
                guard index > 0, bytes[index - 1] == 13 else {
                    return .failed(.badRequest("Bare LF in the request head; lines must end in CRLF."))
                }
                requestLineSeen = true
                if index >= 3 && bytes[index - 2] == 10 && bytes[index - 3] == 13 {
                    // The LF that ends the head counts too: the limit check below comes after it.
                    guard index < limits.maxHeadBytes else {
                        return .failed(
                            .requestHeaderFieldsTooLarge(
                                "The request line and header fields exceed \(limits.maxHeadBytes) bytes."))
                    }
                    offset = 0
                    requestLineSeen = false
                    return .complete(length: index + 1)
                }
            } else if byte == 13 {
                // A CR at the end of what has arrived is judged (and counted against the limits)
                // once its next byte is here, so the verdict never depends on where a read ended.
                if index + 1 == count { break }
                if bytes[index + 1] != 10 {
                    return .failed(.badRequest("Bare CR in the request head; lines must end in CRLF."))
                }
            } else if byte == 0 {
                return .failed(.badRequest("NUL byte in the request head."))
            }
            index += 1
            if !requestLineSeen && index > limits.maxTargetBytes + 32 {
                return .failed(.uriTooLong("The request line is longer than \(limits.maxTargetBytes + 32) bytes."))
            }
            if index > limits.maxHeadBytes {
                return .failed(
                    .requestHeaderFieldsTooLarge(
                        "The request line and header fields exceed \(limits.maxHeadBytes) bytes."))
            }
        }
        offset = count
        return .incomplete
    }
}

enum RequestParser {
    /// Parses a complete head (`bytes` ends with the empty line) into a `ParsedHead`.
    static func parseHead(_ bytes: UnsafeBufferPointer<UInt8>, limits: ParserLimits) throws(HTTPError) -> ParsedHead {
        let end = bytes.count - 2  // the final CRLF
        var lineEnd = 0
        while bytes[lineEnd] != 13 { lineEnd += 1 }

        // request-line = method SP request-target SP HTTP-version
        var index = 0
        while index < lineEnd && isTokenByte(bytes[index]) { index += 1 }
        guard index > 0, index < lineEnd, bytes[index] == 32 else {
            throw .badRequest("Malformed request line: expected a method token and one space.")
        }
        let method = methodFromBytes(UnsafeBufferPointer(rebasing: bytes[0..<index]))
        index += 1
        let targetStart = index
        while index < lineEnd && bytes[index] != 32 {
            let byte = bytes[index]
            guard byte > 32 && byte < 127 else {
                throw .badRequest("The request-target contains a control, non-ASCII or whitespace byte.")
            }
            index += 1
        }
        let targetEnd = index
        guard targetEnd > targetStart, index < lineEnd else {
            throw .badRequest("Malformed request line: expected a request-target and an HTTP version.")
        }
        guard targetEnd - targetStart <= limits.maxTargetBytes else {
            throw .uriTooLong("The request-target is longer than \(limits.maxTargetBytes) bytes.")
        }
        let version = try parseVersion(UnsafeBufferPointer(rebasing: bytes[(index + 1)..<lineEnd]))

        // field-line = field-name ":" OWS field-value OWS
        var fields: [HTTPHeaders.Field] = []
        fields.reserveCapacity(8)
        var lineStart = lineEnd + 2
        while lineStart < end {
            lineEnd = lineStart
            while bytes[lineEnd] != 13 { lineEnd += 1 }
            let first = bytes[lineStart]
            guard first != 32 && first != 9 else {
                throw .badRequest("Obsolete line folding in the header fields.")
            }
            var colon = lineStart
            while colon < lineEnd && isTokenByte(bytes[colon]) { colon += 1 }
            guard colon < lineEnd, bytes[colon] == UInt8(ascii: ":"), colon > lineStart else {
                if colon < lineEnd && (bytes[colon] == 32 || bytes[colon] == 9) {
                    throw .badRequest("Whitespace between a header field name and the colon.")
                }
                throw .badRequest("Malformed header field line.")
            }
            var valueStart = colon + 1
            while valueStart < lineEnd && (bytes[valueStart] == 32 || bytes[valueStart] == 9) { valueStart += 1 }
            var valueEnd = lineEnd
            while valueEnd > valueStart && (bytes[valueEnd - 1] == 32 || bytes[valueEnd - 1] == 9) { valueEnd -= 1 }
            for position in valueStart..<valueEnd {
                let byte = bytes[position]
                guard byte >= 32 && byte != 127 || byte == 9 else {
                    throw .badRequest("A header field value contains a control byte.")
                }
            }
            fields.append(
                HTTPHeaders.Field(
                    nameStart: Int32(lineStart), nameEnd: Int32(colon),
                    valueStart: Int32(valueStart), valueEnd: Int32(valueEnd)))
            guard fields.count <= limits.maxHeaderCount else {
                throw .requestHeaderFieldsTooLarge("More than \(limits.maxHeaderCount) header fields.")
            }
            lineStart = lineEnd + 2
        }

        let headers = HTTPHeaders(parsedHead: Array(bytes), fields: fields)
        var head = ParsedHead(
            method: method, version: version, headers: headers, targetRange: targetStart..<targetEnd,
            framing: .none, keepAlive: version == .http1_1, expectContinue: false)
        try interpretFields(&head)
        return head
    }

    /// Applies the fields that change how the message is read: framing, Host, Connection, Expect.
    private static func interpretFields(_ head: inout ParsedHead) throws(HTTPError) {
        let headers = head.headers
        var contentLength: Int?
        var lengthError: HTTPError?
        headers.forEachValue(lowercasedName: HeaderName.contentLength) { value in
            for item in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                guard let length = parseDecimal(trimmed(item)) else {
                    lengthError = .badRequest("Invalid Content-Length.")
                    return
                }
                if let previous = contentLength, previous != length {
                    lengthError = .badRequest("Conflicting Content-Length values.")
                }
                contentLength = length
            }
        }
        if let lengthError { throw lengthError }

        var codings: [ArraySlice<UInt8>] = []
        headers.forEachValue(lowercasedName: HeaderName.transferEncoding) { value in
            for item in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                codings.append(trimmed(item))
            }
        }
        if !codings.isEmpty {
            guard head.version == .http1_1 else {
                throw .badRequest("Transfer-Encoding is not allowed in an HTTP/1.0 request.")
            }
            guard contentLength == nil else {
                throw .badRequest("Content-Length together with Transfer-Encoding.")
            }
            let chunked = Array("chunked".utf8)
            let chunkedCount = codings.filter { equalsIgnoringCase($0, chunked) }.count
            guard let last = codings.last, equalsIgnoringCase(last, chunked), chunkedCount == 1 else {
                throw .badRequest("Transfer-Encoding must end with exactly one 'chunked'.")
            }
            guard codings.count == 1 else {
                throw .notImplemented("Only the 'chunked' transfer coding is supported.")
            }
            head.framing = .chunked
        } else if let contentLength, contentLength > 0 {
            head.framing = .contentLength(contentLength)
        }

        var hostCount = 0
        var hostValid = true
        headers.forEachValue(lowercasedName: HeaderName.host) { value in
            hostCount += 1
            if !isValidHost(value) { hostValid = false }
        }
        if head.version == .http1_1 && hostCount != 1 || hostCount > 1 {
            throw .badRequest(hostCount == 0 ? "Missing Host header." : "More than one Host header.")
        }
        guard hostValid else {
            throw .badRequest("Invalid Host header: expected host[:port] (RFC 9112 3.2, RFC 3986 3.2.2).")
        }

        var sawClose = false
        var sawKeepAlive = false
        headers.forEachValue(lowercasedName: HeaderName.connection) { value in
            for item in value.split(separator: UInt8(ascii: ",")) {
                let token = trimmed(item)
                if equalsIgnoringCase(token, Array("close".utf8)) { sawClose = true }
                if equalsIgnoringCase(token, Array("keep-alive".utf8)) { sawKeepAlive = true }
            }
        }
        head.keepAlive = !sawClose && (head.version == .http1_1 || sawKeepAlive)

        var expectation: ArraySlice<UInt8>?
        headers.forEachValue(lowercasedName: HeaderName.expect) { value in expectation = value }
        if let expectation {
            guard equalsIgnoringCase(expectation, Array("100-continue".utf8)) else {
                throw .expectationFailed("Only 'Expect: 100-continue' is supported.")
            }
            head.expectContinue = head.version == .http1_1
        }
    }

    private static func parseVersion(_ bytes: UnsafeBufferPointer<UInt8>) throws(HTTPError) -> HTTPVersion {
        let prefix: [UInt8] = Array("HTTP/".utf8)
        guard bytes.count >= 8, bytes.prefix(5).elementsEqual(prefix) else {
            throw .badRequest("Malformed HTTP version in the request line.")
        }
        let rest = bytes[5...]
        guard let dot = rest.firstIndex(of: UInt8(ascii: ".")), dot > 5, dot < bytes.count - 1,
            rest[5..<dot].allSatisfy(isDigit), rest[(dot + 1)...].allSatisfy(isDigit)
        else { throw .badRequest("Malformed HTTP version in the request line.") }
        guard bytes.count == 8, bytes[5] == UInt8(ascii: "1"),
            bytes[7] == UInt8(ascii: "0") || bytes[7] == UInt8(ascii: "1")
        else {
            throw .httpVersionNotSupported("Only HTTP/1.0 and HTTP/1.1 are supported.")
        }
        return bytes[7] == UInt8(ascii: "1") ? .http1_1 : .http1_0
    }

    static func methodFromBytes(_ bytes: UnsafeBufferPointer<UInt8>) -> HTTPMethod {
        switch bytes.count {
        case 3:
            if bytes[0] == 71 && bytes[1] == 69 && bytes[2] == 84 { return .get }
            if bytes[0] == 80 && bytes[1] == 85 && bytes[2] == 84 { return .put }
        case 4:
            if bytes.elementsEqual("HEAD".utf8) { return .head }
            if bytes.elementsEqual("POST".utf8) { return .post }
        case 5:
            if bytes.elementsEqual("PATCH".utf8) { return .patch }
        case 6:
            if bytes.elementsEqual("DELETE".utf8) { return .delete }
        default:
            break
        }
        return HTTPMethod(String(decoding: bytes, as: UTF8.self))
    }
}

/// `Host = uri-host [ ":" port ]` (RFC 9112 3.2, RFC 3986 3.2.2): an IP literal in brackets (IPv6
/// or IPvFuture), or a reg-name (which covers IPv4 too: unreserved, sub-delims and `%HH`), then
/// an optional port of digits. Empty is allowed (RFC 9112 3.2). No userinfo, path or spaces.
func isValidHost(_ value: ArraySlice<UInt8>) -> Bool {
    var index = value.startIndex
    let end = value.endIndex
    if index < end && value[index] == UInt8(ascii: "[") {
        guard let close = value[index...].firstIndex(of: UInt8(ascii: "]")), close > index + 1 else { return false }
        let literal = value[(index + 1)..<close]
        if asciiLower(literal[literal.startIndex]) == UInt8(ascii: "v") {
            // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
            guard let dot = literal.firstIndex(of: UInt8(ascii: ".")), dot > literal.startIndex + 1,
                dot < literal.endIndex - 1,
                literal[(literal.startIndex + 1)..<dot].allSatisfy({ RequestTarget.hexValue($0) != nil }),
                literal[(dot + 1)...].allSatisfy({ isUnreservedOrSubDelim($0) || $0 == UInt8(ascii: ":") })
            else { return false }
        } else {
            guard literal.contains(UInt8(ascii: ":")),
                literal.allSatisfy({
                    RequestTarget.hexValue($0) != nil || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".")
                })
            else { return false }
        }
        index = close + 1
    } else {
        while index < end && value[index] != UInt8(ascii: ":") {
            let byte = value[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < end, RequestTarget.hexValue(value[index + 1]) != nil,
                    RequestTarget.hexValue(value[index + 2]) != nil
                else { return false }
                index += 3
                continue
            }
            guard isUnreservedOrSubDelim(byte) else { return false }
            index += 1
        }
    }
    guard index < end else { return true }
    guard value[index] == UInt8(ascii: ":") else { return false }
    return value[(index + 1)...].allSatisfy(isDigit)
}

/// unreserved / sub-delims (RFC 3986 2.2, 2.3).
@inline(__always)
func isUnreservedOrSubDelim(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"),
        UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
        UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
        UInt8(ascii: ")"),
        UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="):
        return true
    default:
        return false
    }
}

/// tchar (RFC 9110 5.6.2): the bytes of a method or a field name.
@inline(__always)
func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
        UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
        UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        return true
    default:
        return false
    }
}

@inline(__always)
func isDigit(_ byte: UInt8) -> Bool { byte &- 48 < 10 }

func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var start = bytes.startIndex
    var end = bytes.endIndex
    while start < end && (bytes[start] == 32 || bytes[start] == 9) { start += 1 }
    while end > start && (bytes[end - 1] == 32 || bytes[end - 1] == 9) { end -= 1 }
    return bytes[start..<end]
}

func equalsIgnoringCase(_ bytes: ArraySlice<UInt8>, _ lowercased: [UInt8]) -> Bool {
    bytes.count == lowercased.count && zip(bytes, lowercased).allSatisfy { asciiLower($0) == $1 }
}

/// 1 to 18 decimal digits (no sign, no spaces), so the value can never overflow.
func parseDecimal(_ bytes: ArraySlice<UInt8>) -> Int? {
    guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
    var value = 0
    for byte in bytes {
        guard isDigit(byte) else { return nil }
        value = value * 10 + Int(byte - 48)
    }
    return value
}
