// How an error becomes a response. An error that knows its answer conforms to `HTTPResponseError`
// and renders itself. The server's own refusals (`HTTPError`: a malformed or over-limit request, no
// route, a handler that failed without saying how) go through `HTTPServerConfiguration.renderError`,
// so their body shape belongs to whoever runs the server (volumed's is OpenStack's fault JSON,
// `VolumeAPI.OpenStackFault`); the server itself knows only a plain-text default.

/// An error that answers the request with a response of its own. A handler throws one to refuse a
/// request; anything else a handler throws is answered `HTTPError.internalServerError` (its text is
/// logged, not sent).
package protocol HTTPResponseError: Error, Sendable {
    var status: HTTPStatus { get }
    /// Fields the answer must carry (e.g. `Allow` for 405, `WWW-Authenticate` for 401).
    var headers: HTTPHeaders { get }
    /// The whole answer: `status`, `headers` and a body in whatever shape the error's protocol uses.
    func response() -> HTTPResponse
}

/// Why the server itself refused a request or could not answer it. The server never writes these
/// with `response()` directly but through `HTTPServerConfiguration.renderError`, whose default is
/// that plain-text rendering; a protocol layer installs its own to give them its body shape.
package enum HTTPError: HTTPResponseError, Equatable, CustomStringConvertible {
    /// A malformed request head, target, body framing or chunk.
    case badRequest(String)
    /// No route matches the path.
    case notFound(String)
    /// A route matches the path but not the method; `allow` lists the methods it has.
    case methodNotAllowed(String, allow: [HTTPMethod])
    /// The head or body did not arrive within its timeout.
    case requestTimeout(String)
    /// The body is larger than `maxBodyBytes`.
    case contentTooLarge(String)
    /// The request-target is longer than `maxTargetBytes`.
    case uriTooLong(String)
    /// An `Expect` other than `100-continue`.
    case expectationFailed(String)
    /// The head (or trailer section) is larger than `maxHeadBytes`, or has too many fields.
    case requestHeaderFieldsTooLarge(String)
    /// A handler threw an error that is not an `HTTPResponseError`, or a deferred answer went wrong.
    case internalServerError(String)
    /// A transfer coding other than `chunked`.
    case notImplemented(String)
    /// Too many connections, or the request bytes do not fit in `maxBufferedRequestBytes`.
    case serviceUnavailable(String)
    /// An HTTP version other than 1.0 and 1.1.
    case httpVersionNotSupported(String)

    package var status: HTTPStatus {
        switch self {
        case .badRequest: .badRequest
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .requestTimeout: .requestTimeout
        case .contentTooLarge: .contentTooLarge
        case .uriTooLong: .uriTooLong
        case .expectationFailed: .expectationFailed
        case .requestHeaderFieldsTooLarge: .requestHeaderFieldsTooLarge
        case .internalServerError: .internalServerError
        case .notImplemented: .notImplemented
        case .serviceUnavailable: .serviceUnavailable
        case .httpVersionNotSupported: .httpVersionNotSupported
        }
    }

    /// What went wrong, in a sentence a client can show.
    package var message: String {
        switch self {
        case .badRequest(let message), .notFound(let message), .methodNotAllowed(let message, _),
            .requestTimeout(let message), .contentTooLarge(let message), .uriTooLong(let message),
            .expectationFailed(let message), .requestHeaderFieldsTooLarge(let message),
            .internalServerError(let message), .notImplemented(let message), .serviceUnavailable(let message),
            .httpVersionNotSupported(let message):
            message
        }
    }

    package var headers: HTTPHeaders {
        guard case .methodNotAllowed(_, let allow) = self else { return HTTPHeaders() }
        return ["Allow": allow.map(\.rawValue).joined(separator: ", ")]
    }

    /// The plain-text default: the message as the body.
    package func response() -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", headers: headers, body: message)
    }

    package var description: String { "\(status.code) \(status.reasonPhrase): \(message)" }
}
