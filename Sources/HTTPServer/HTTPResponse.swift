// What a handler returns: a complete response, or a promise to answer later.

import Synchronization

/// A response. The body is a `[UInt8]`, so a body encoded once and cached is shared by every response
/// that carries it (copy-on-write: no copy per request). The server adds `Date`, `Server`,
/// `Content-Length` and `Connection` itself; `headers` holds anything else.
package struct HTTPResponse: Sendable {
    package var status: HTTPStatus
    /// Written as `Content-Type`; every response carries one.
    package var contentType: String
    /// A full entity-tag including its quotes, e.g. `"v42"` or `W/"v42"`. When set and the request's
    /// `If-None-Match` matches it, the server sends `304 Not Modified` with no body instead.
    package var etag: String?
    package var headers: HTTPHeaders
    package var body: [UInt8]

    /// Set only by `deferred(_:)`.
    let deferral: (@Sendable (Responder) -> Void)?

    package static let jsonContentType = "application/json"

    package init(
        status: HTTPStatus = .ok, contentType: String = HTTPResponse.jsonContentType, etag: String? = nil,
        headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []
    ) {
        self.status = status
        self.contentType = contentType
        self.etag = etag
        self.headers = headers
        self.body = body
        self.deferral = nil
    }

    package init(
        status: HTTPStatus = .ok, contentType: String = HTTPResponse.jsonContentType, etag: String? = nil,
        headers: HTTPHeaders = HTTPHeaders(), body: String
    ) {
        self.init(status: status, contentType: contentType, etag: etag, headers: headers, body: Array(body.utf8))
    }

    /// A response produced later, without holding a server thread: the server calls `start` at once on
    /// its event loop with a `Responder`, and `start` hands the responder to whatever will answer
    /// (e.g. a completion callback). Requests pipelined behind it wait, so answers stay in order.
    /// `start` must return promptly; it must not block.
    package static func deferred(_ start: @escaping @Sendable (Responder) -> Void) -> HTTPResponse {
        HTTPResponse(deferral: start)
    }

    private init(deferral: @escaping @Sendable (Responder) -> Void) {
        status = .internalServerError
        contentType = HTTPResponse.jsonContentType
        etag = nil
        headers = HTTPHeaders()
        body = []
        self.deferral = deferral
    }

    /// `304 Not Modified` carrying `etag`, for handlers that checked `ifNoneMatchMatches` themselves.
    package static func notModified(etag: String) -> HTTPResponse {
        HTTPResponse(status: .notModified, etag: etag)
    }

    /// A plain-text response.
    package static func text(_ text: String, status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: text)
    }
}

/// The answer channel of a deferred response. Thread-safe; the first `respond` wins and later ones
/// are ignored. A responder dropped without answering answers `500` itself, so a forgetful handler
/// can never leave a client hanging.
package final class Responder: Sendable {
    private let deliver: Mutex<(@Sendable (HTTPResponse) -> Void)?>
    /// The server's `renderError`, for the 500s of a misused responder.
    private let renderError: @Sendable (HTTPError) -> HTTPResponse

    init(
        renderError: @escaping @Sendable (HTTPError) -> HTTPResponse,
        deliver: @escaping @Sendable (HTTPResponse) -> Void
    ) {
        self.deliver = Mutex(deliver)
        self.renderError = renderError
    }

    /// Sends `response` (from any thread). Returns false when an answer was already given.
    @discardableResult
    package func respond(_ response: HTTPResponse) -> Bool {
        guard
            let deliver = self.deliver.withLock({ current -> (@Sendable (HTTPResponse) -> Void)? in
                defer { current = nil }
                return current
            })
        else { return false }
        if response.deferral != nil {
            deliver(
                renderError(.internalServerError("A deferred response cannot answer with another deferred response.")))
        } else {
            deliver(response)
        }
        return true
    }

    /// Whether an answer was already given.
    package var hasResponded: Bool { deliver.withLock { $0 == nil } }

    deinit {
        if let deliver = deliver.withLock({ $0 }) {
            deliver(renderError(.internalServerError("The request handler finished without answering.")))
        }
    }
}
