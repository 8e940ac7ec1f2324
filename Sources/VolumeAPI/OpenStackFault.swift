// OpenStack's fault, the error body every Cinder client parses: {"<name>": {"code": <status>,
// "message": "..."}}, written by the one JSON writer. The one list of fault names volumed answers
// with; the server's own refusals (`HTTPError`) are mapped onto it by `render`, which the service
// installs as `HTTPServerConfiguration.renderError`, so a malformed request gets the same shape as a
// refused one.

import HTTPServer
import JSON

/// An error a handler throws to answer with an OpenStack fault. Each case is a fault name Cinder
/// uses, carrying its message (and what its fields need).
package enum OpenStackFault: HTTPResponseError, Equatable, CustomStringConvertible {
    case badRequest(String)
    /// `challenge` is written as `WWW-Authenticate`.
    case unauthorized(String, challenge: String)
    case forbidden(String)
    case itemNotFound(String)
    /// `allow` is written as `Allow`.
    case badMethod(String, allow: [HTTPMethod])
    case notAcceptable(String)
    case requestTimeout(String)
    case conflict(String)
    case requestEntityTooLarge(String)
    case uriTooLong(String)
    case badMediaType(String)
    case expectationFailed(String)
    case requestHeaderFieldsTooLarge(String)
    case computeFault(String)
    case notImplemented(String)
    case serviceUnavailable(String)
    case httpVersionNotSupported(String)

    /// The server's own refusal under the name Cinder gives it.
    package init(_ error: HTTPError) {
        switch error {
        case .badRequest(let message): self = .badRequest(message)
        case .notFound(let message): self = .itemNotFound(message)
        case .methodNotAllowed(let message, let allow): self = .badMethod(message, allow: allow)
        case .requestTimeout(let message): self = .requestTimeout(message)
        case .contentTooLarge(let message): self = .requestEntityTooLarge(message)
        case .uriTooLong(let message): self = .uriTooLong(message)
        case .expectationFailed(let message): self = .expectationFailed(message)
        case .requestHeaderFieldsTooLarge(let message): self = .requestHeaderFieldsTooLarge(message)
        case .internalServerError(let message): self = .computeFault(message)
        case .notImplemented(let message): self = .notImplemented(message)
        case .serviceUnavailable(let message): self = .serviceUnavailable(message)
        case .httpVersionNotSupported(let message): self = .httpVersionNotSupported(message)
        }
    }

    /// `HTTPServerConfiguration.renderError` for an OpenStack API: the server's refusals as faults.
    package static let render: @Sendable (HTTPError) -> HTTPResponse = { OpenStackFault($0).response() }

    /// The fault's key in the body, e.g. `itemNotFound`.
    package var name: String {
        switch self {
        case .badRequest: "badRequest"
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        case .itemNotFound: "itemNotFound"
        case .badMethod: "badMethod"
        case .notAcceptable: "notAcceptable"
        case .requestTimeout: "requestTimeout"
        case .conflict: "conflict"
        case .requestEntityTooLarge: "requestEntityTooLarge"
        case .uriTooLong: "uriTooLong"
        case .badMediaType: "badMediaType"
        case .expectationFailed: "expectationFailed"
        case .requestHeaderFieldsTooLarge: "requestHeaderFieldsTooLarge"
        case .computeFault: "computeFault"
        case .notImplemented: "notImplemented"
        case .serviceUnavailable: "serviceUnavailable"
        case .httpVersionNotSupported: "httpVersionNotSupported"
        }
    }

    package var status: HTTPStatus {
        switch self {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .itemNotFound: .notFound
        case .badMethod: .methodNotAllowed
        case .notAcceptable: .notAcceptable
        case .requestTimeout: .requestTimeout
        case .conflict: .conflict
        case .requestEntityTooLarge: .contentTooLarge
        case .uriTooLong: .uriTooLong
        case .badMediaType: HTTPStatus(code: 415, reasonPhrase: "Unsupported Media Type")
        case .expectationFailed: .expectationFailed
        case .requestHeaderFieldsTooLarge: .requestHeaderFieldsTooLarge
        case .computeFault: .internalServerError
        case .notImplemented: .notImplemented
        case .serviceUnavailable: .serviceUnavailable
        case .httpVersionNotSupported: .httpVersionNotSupported
        }
    }

    package var message: String {
        switch self {
        case .badRequest(let message), .unauthorized(let message, _), .forbidden(let message),
            .itemNotFound(let message), .badMethod(let message, _), .notAcceptable(let message),
            .requestTimeout(let message), .conflict(let message), .requestEntityTooLarge(let message),
            .uriTooLong(let message), .badMediaType(let message), .expectationFailed(let message),
            .requestHeaderFieldsTooLarge(let message), .computeFault(let message), .notImplemented(let message),
            .serviceUnavailable(let message), .httpVersionNotSupported(let message):
            message
        }
    }

    package var headers: HTTPHeaders {
        switch self {
        case .unauthorized(_, let challenge): ["WWW-Authenticate": challenge]
        case .badMethod(_, let allow): ["Allow": allow.map(\.rawValue).joined(separator: ", ")]
        default: HTTPHeaders()
        }
    }

    /// `{"<name>": {"code": <status>, "message": "<message>"}}` with `headers`.
    package func response() -> HTTPResponse {
        let name = self.name
        let message = self.message
        let status = self.status
        var body = JSONWriter(style: .pythonDumps, reservingCapacity: message.utf8.count + name.utf8.count + 40)
        body.beginObject()
        body.key(name)
        body.beginObject()
        body.member("code", status.code)
        body.member("message", message)
        body.endObject()
        body.endObject()
        return HTTPResponse(status: status, headers: headers, body: body.bytes)
    }

    package var description: String { "\(status.code) \(name): \(message)" }
}
