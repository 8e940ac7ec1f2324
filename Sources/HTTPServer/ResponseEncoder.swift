// Responses to bytes, straight into the event loop's output buffer.

/// What the server remembers about a request while its response is produced, so a deferred response
/// is framed exactly as an immediate one would have been.
struct ResponseContext {
    var method: HTTPMethod
    var version: HTTPVersion
    /// False when the request asked to close, or the server is draining.
    var keepAlive: Bool
    var routePattern: String?
    /// Kept only when the request carried If-None-Match.
    var ifNoneMatch: HTTPHeaders?
    /// `ExchangeStart.headers`, appended to whatever answers this request.
    var exchangeHeaders: EncodedFields? = nil
    /// `ExchangeStart.exchangeID`, written under `exchangeIDField`.
    var exchangeID: ExchangeID? = nil
    /// `ExchangeHooks.exchangeIDField`'s bytes and `: `, followed by `exchangeID`.
    var exchangeIDField: [UInt8]? = nil
    /// Set when `ExchangeHooks.begin` saw the request and asked for its record: what
    /// `ExchangeHooks.end` reports.
    var exchange: ExchangeInFlight? = nil
}

/// An exchange between `ExchangeHooks.begin` and `end`, kept only when its record is wanted: a
/// reference, so a context without one copies and destroys as one nil pointer.
final class ExchangeInFlight {
    let target: String
    let startedAt: UInt64
    let annotation: (any Sendable)?

    init(target: String, startedAt: UInt64, annotation: (any Sendable)?) {
        self.target = target
        self.startedAt = startedAt
        self.annotation = annotation
    }
}

enum ResponseEncoder {
    /// Appends the status line, the server's fields, the handler's fields and the body; returns the
    /// status actually sent (304 when the ETag matched).
    static func encode(
        _ response: HTTPResponse, context: ResponseContext, dateLine: [UInt8], serverLine: [UInt8],
        into buffer: inout [UInt8]
    ) -> HTTPStatus {
        let (status, writesBody) = encodeHead(
            response, context: context, dateLine: dateLine, serverLine: serverLine, into: &buffer)
        if writesBody { buffer.append(contentsOf: response.body) }
        return status
    }

    /// Appends everything but the body; returns the status actually sent and whether the body
    /// follows (not for HEAD, 1xx, 204 or 304).
    static func encodeHead(
        _ response: HTTPResponse, context: ResponseContext, dateLine: [UInt8], serverLine: [UInt8],
        into buffer: inout [UInt8]
    ) -> (status: HTTPStatus, writesBody: Bool) {
        var status = response.status
        if let etag = response.etag, status.code == 200, let conditional = context.ifNoneMatch,
            context.method == .get || context.method == .head
        {
            var matched = false
            let tag = Array(etag.utf8)
            conditional.forEachValue(lowercasedName: HeaderName.ifNoneMatch) { value in
                if !matched && EntityTag.list(value, matches: tag) { matched = true }
            }
            if matched { status = .notModified }
        }
        if !(100...999).contains(status.code) { status = .internalServerError }
        let code = status.code
        let bodyForbidden = code == 304 || code == 204 || code < 200
        let writesBody = !bodyForbidden && context.method != .head

        buffer.append(contentsOf: statusPrefix)
        appendDecimal(code, to: &buffer)
        buffer.append(32)
        appendFieldText(status.reasonPhrase, to: &buffer)
        buffer.append(contentsOf: crlf)
        buffer.append(contentsOf: serverLine)
        buffer.append(contentsOf: dateLine)
        buffer.append(contentsOf: contentTypePrefix)
        appendFieldText(response.contentType, to: &buffer)
        buffer.append(contentsOf: crlf)
        if !bodyForbidden {
            buffer.append(contentsOf: contentLengthPrefix)
            appendDecimal(response.body.count, to: &buffer)
            buffer.append(contentsOf: crlf)
        }
        if let etag = response.etag {
            buffer.append(contentsOf: etagPrefix)
            appendFieldText(etag, to: &buffer)
            buffer.append(contentsOf: crlf)
        }
        if !response.headers.isEmpty { response.headers.encode(into: &buffer) }
        if let extra = context.exchangeHeaders { buffer.append(contentsOf: extra.bytes) }
        if let field = context.exchangeIDField, let id = context.exchangeID {
            buffer.append(contentsOf: field)
            id.appendLine(to: &buffer)
        }
        if !context.keepAlive {
            buffer.append(contentsOf: connectionClose)
        } else if context.version == .http1_0 {
            buffer.append(contentsOf: connectionKeepAlive)
        }
        buffer.append(contentsOf: crlf)
        return (status, writesBody)
    }

    /// Appends handler-supplied text, replacing CR, LF and NUL so it can never split the response.
    @inline(__always)
    private static func appendFieldText(_ text: String, to buffer: inout [UInt8]) {
        for byte in text.utf8 { buffer.append(byte == 13 || byte == 10 || byte == 0 ? 32 : byte) }
    }

    static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
    private static let statusPrefix: [UInt8] = Array("HTTP/1.1 ".utf8)
    private static let crlf: [UInt8] = [13, 10]
    private static let contentTypePrefix: [UInt8] = Array("Content-Type: ".utf8)
    private static let contentLengthPrefix: [UInt8] = Array("Content-Length: ".utf8)
    private static let etagPrefix: [UInt8] = Array("ETag: ".utf8)
    private static let connectionClose: [UInt8] = Array("Connection: close\r\n".utf8)
    private static let connectionKeepAlive: [UInt8] = Array("Connection: keep-alive\r\n".utf8)

    static func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
        if value < 10 {
            buffer.append(UInt8(48 + value))
            return
        }
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var remaining = value
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            while remaining > 0 && count < 20 {
                raw[19 - count] = UInt8(48 + remaining % 10)
                remaining /= 10
                count += 1
            }
            buffer.append(contentsOf: raw[(20 - count)...])
        }
    }
}
