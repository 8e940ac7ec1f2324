// What must hold for every request the parser lets through, whatever the input. A violation aborts,
// so libFuzzer records the input as a crash.

enum Invariants {
    static func fail(_ message: String) -> Never {
        fatalError("invariant violated: \(message)")
    }

    static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fail(message()) }
    }

    /// A parsed head re-checks its own limits and syntax.
    static func checkHead(_ head: ParsedHead, headLength: Int, limits: ParserLimits) {
        require(headLength <= limits.maxHeadBytes, "head of \(headLength) bytes passed a limit of \(limits.maxHeadBytes)")
        require(head.headers.storage.count == headLength, "the head copy is \(head.headers.storage.count), not \(headLength) bytes")
        let target = head.target
        require(!target.isEmpty && target.count <= limits.maxTargetBytes, "target of \(target.count) bytes accepted")
        require(target.allSatisfy { $0 > 32 && $0 < 127 }, "target with a control, space or non-ASCII byte accepted")
        let method = Array(head.method.rawValue.utf8)
        require(!method.isEmpty && method.allSatisfy(isTokenByte), "method \(head.method) is not a token")
        require(head.version == .http1_1 || head.version == .http1_0, "version \(head.version) accepted")
        require(head.headers.count <= limits.maxHeaderCount, "\(head.headers.count) header fields accepted")
        let storage = head.headers.storage
        var hosts = 0
        for field in head.headers.fields {
            let name = storage[Int(field.nameStart)..<Int(field.nameEnd)]
            let value = storage[Int(field.valueStart)..<Int(field.valueEnd)]
            require(!name.isEmpty && name.allSatisfy(isTokenByte), "a header name that is not a token")
            require(value.allSatisfy { $0 == 9 || ($0 >= 32 && $0 != 127) }, "a header value with a control byte")
            if let first = value.first, let last = value.last {
                require(first != 32 && first != 9 && last != 32 && last != 9, "a header value with surrounding whitespace")
            }
            if equalsIgnoringCase(name, HeaderName.host) { hosts += 1 }
        }
        if head.version == .http1_1 { require(hosts == 1, "an HTTP/1.1 request with \(hosts) Host fields") }
        require(hosts <= 1, "more than one Host field")
        switch head.framing {
        case .none:
            break
        case .contentLength(let length):
            require(length > 0, "a Content-Length framing of \(length)")
            require(head.headers.firstValue(lowercasedName: HeaderName.transferEncoding) == nil,
                    "Content-Length framing while Transfer-Encoding is present")
        case .chunked:
            require(head.version == .http1_1, "chunked framing in HTTP/1.0")
            require(head.headers.firstValue(lowercasedName: HeaderName.contentLength) == nil,
                    "chunked framing while Content-Length is present")
        }
        if head.expectContinue { require(head.version == .http1_1, "100-continue in HTTP/1.0") }
    }

    /// A complete body is within its limit and matches its declared length.
    static func checkBody(_ body: [UInt8], framing: BodyFraming, forceClose: Bool, limits: ParserLimits) {
        require(body.count <= limits.maxBodyBytes, "a body of \(body.count) bytes accepted")
        if forceClose {
            require(body.isEmpty, "an unwanted body was read")
            return
        }
        switch framing {
        case .none: require(body.isEmpty, "a body without framing")
        case .contentLength(let length): require(body.count == length, "a body of \(body.count) bytes for Content-Length \(length)")
        case .chunked: break
        }
    }

    /// The response the server would write: a well-formed head (no bare CR or LF, so nothing a
    /// request carried can split it), a Content-Length that matches, `Connection: close` iff closing.
    /// Works on the bytes (no String conversions): it runs for every input.
    static func checkEncodedResponse(_ bytes: [UInt8], status: HTTPStatus, method: HTTPMethod, keepAlive: Bool) {
        guard let headEnd = findHeadEnd(bytes) else { fail("an encoded response without an empty line") }
        var closes = false
        var declared: Int?
        var lineStart = 0
        var lineNumber = 0
        var index = 0
        while index <= headEnd {
            let byte = bytes[index]
            require(byte != 0, "a NUL in a response head")
            if byte == 13 || index == headEnd {
                if index < headEnd {
                    require(bytes[index + 1] == 10, "a bare CR in a response head")
                }
                let line = bytes[lineStart..<index]
                if lineNumber == 0 {
                    require(line.starts(with: statusLinePrefix(status.code)), "a status line that does not carry \(status.code)")
                } else if equalsIgnoringCase(line, connectionClose) {
                    closes = true
                } else if line.count > contentLengthPrefix.count,
                    equalsIgnoringCase(line.prefix(contentLengthPrefix.count), contentLengthPrefix)
                {
                    declared = parseDecimal(line.dropFirst(contentLengthPrefix.count))
                    require(declared != nil, "an unreadable Content-Length in a response")
                }
                lineNumber += 1
                index += 2
                lineStart = index
                continue
            }
            require(byte != 10, "a bare LF in a response head")
            index += 1
        }
        require(closes == !keepAlive, "Connection: close is \(closes) for keepAlive \(keepAlive)")
        let body = bytes.count - (headEnd + 4)
        let bodyForbidden = status.code == 304 || status.code == 204 || status.code < 200
        if bodyForbidden {
            require(declared == nil && body == 0, "a \(status.code) with a body or a Content-Length")
        } else {
            guard let declared else { fail("a \(status.code) response without Content-Length") }
            require(body == (method == .head ? 0 : declared), "Content-Length \(declared) with \(body) body bytes")
        }
    }

    private static let connectionClose = Array("connection: close".utf8)
    private static let contentLengthPrefix = Array("content-length: ".utf8)
    private static func statusLinePrefix(_ code: Int) -> [UInt8] { Array("HTTP/1.1 \(code) ".utf8) }

    private static func findHeadEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}
