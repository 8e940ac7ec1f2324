// OpenStack's JSON fault shape, e.g. {"itemNotFound": {"code": 404, "message": "..."}}. Written by
// the one JSON writer, so a fault escapes strings as every other body does. (Issue 13 point 3 would
// move this shape into VolumeAPI behind a rendering protocol; HTTPServer imports JSON until then.)

import JSON

/// An error a handler throws to answer with an OpenStack fault; anything else a handler throws is
/// answered `500 computeFault` (its text is logged, not sent).
package struct HTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    package var status: HTTPStatus
    /// The fault's key, e.g. `itemNotFound`.
    package var faultName: String
    package var message: String
    /// Extra response headers (e.g. `Allow` for 405, `WWW-Authenticate` for 401).
    package var headers: [String: String]

    package init(status: HTTPStatus, faultName: String, message: String, headers: [String: String] = [:]) {
        self.status = status
        self.faultName = faultName
        self.message = message
        self.headers = headers
    }

    package var description: String { "\(status.code) \(faultName): \(message)" }

    package static func badRequest(_ message: String) -> HTTPError {
        HTTPError(status: .badRequest, faultName: "badRequest", message: message)
    }
    package static func unauthorized(_ message: String) -> HTTPError {
        HTTPError(status: .unauthorized, faultName: "unauthorized", message: message)
    }
    package static func forbidden(_ message: String) -> HTTPError {
        HTTPError(status: .forbidden, faultName: "forbidden", message: message)
    }
    package static func itemNotFound(_ message: String) -> HTTPError {
        HTTPError(status: .notFound, faultName: "itemNotFound", message: message)
    }
    package static func badMethod(_ message: String, allow: [HTTPMethod]) -> HTTPError {
        HTTPError(
            status: .methodNotAllowed, faultName: "badMethod", message: message,
            headers: ["Allow": allow.map(\.rawValue).joined(separator: ", ")])
    }
    package static func conflict(_ message: String) -> HTTPError {
        HTTPError(status: .conflict, faultName: "conflict", message: message)
    }
    package static func requestTimeout(_ message: String) -> HTTPError {
        HTTPError(status: .requestTimeout, faultName: "requestTimeout", message: message)
    }
    package static func requestEntityTooLarge(_ message: String) -> HTTPError {
        HTTPError(status: .contentTooLarge, faultName: "requestEntityTooLarge", message: message)
    }
    package static func uriTooLong(_ message: String) -> HTTPError {
        HTTPError(status: .uriTooLong, faultName: "uriTooLong", message: message)
    }
    package static func expectationFailed(_ message: String) -> HTTPError {
        HTTPError(status: .expectationFailed, faultName: "expectationFailed", message: message)
    }
    package static func requestHeaderFieldsTooLarge(_ message: String) -> HTTPError {
        HTTPError(status: .requestHeaderFieldsTooLarge, faultName: "requestHeaderFieldsTooLarge", message: message)
    }
    package static func computeFault(_ message: String) -> HTTPError {
        HTTPError(status: .internalServerError, faultName: "computeFault", message: message)
    }
    package static func notImplemented(_ message: String) -> HTTPError {
        HTTPError(status: .notImplemented, faultName: "notImplemented", message: message)
    }
    package static func serviceUnavailable(_ message: String) -> HTTPError {
        HTTPError(status: .serviceUnavailable, faultName: "serviceUnavailable", message: message)
    }
    package static func httpVersionNotSupported(_ message: String) -> HTTPError {
        HTTPError(status: .httpVersionNotSupported, faultName: "httpVersionNotSupported", message: message)
    }
}

extension HTTPResponse {
    /// The JSON fault for `error`: `{"<faultName>": {"code": <status>, "message": "<message>"}}`.
    package init(_ error: HTTPError) {
        var body = JSONWriter(
            style: .pythonDumps, reservingCapacity: error.message.utf8.count + error.faultName.utf8.count + 40)
        body.beginObject()
        body.key(error.faultName)
        body.beginObject()
        body.member("code", error.status.code)
        body.member("message", error.message)
        body.endObject()
        body.endObject()
        var headers = HTTPHeaders()
        for (name, value) in error.headers.sorted(by: { $0.key < $1.key }) { headers.add(name: name, value: value) }
        self.init(status: error.status, headers: headers, body: body.bytes)
    }

    package static func fault(_ error: HTTPError) -> HTTPResponse { HTTPResponse(error) }

    package static func badRequest(_ message: String) -> HTTPResponse { HTTPResponse(.badRequest(message)) }
    package static func unauthorized(_ message: String) -> HTTPResponse { HTTPResponse(.unauthorized(message)) }
    package static func forbidden(_ message: String) -> HTTPResponse { HTTPResponse(.forbidden(message)) }
    package static func itemNotFound(_ message: String) -> HTTPResponse { HTTPResponse(.itemNotFound(message)) }
    package static func badMethod(_ message: String, allow: [HTTPMethod]) -> HTTPResponse {
        HTTPResponse(.badMethod(message, allow: allow))
    }
    package static func conflict(_ message: String) -> HTTPResponse { HTTPResponse(.conflict(message)) }
    package static func requestTimeout(_ message: String) -> HTTPResponse { HTTPResponse(.requestTimeout(message)) }
    package static func requestEntityTooLarge(_ message: String) -> HTTPResponse {
        HTTPResponse(.requestEntityTooLarge(message))
    }
    package static func requestHeaderFieldsTooLarge(_ message: String) -> HTTPResponse {
        HTTPResponse(.requestHeaderFieldsTooLarge(message))
    }
    package static func computeFault(_ message: String) -> HTTPResponse { HTTPResponse(.computeFault(message)) }
    package static func serviceUnavailable(_ message: String) -> HTTPResponse {
        HTTPResponse(.serviceUnavailable(message))
    }
    package static func httpVersionNotSupported(_ message: String) -> HTTPResponse {
        HTTPResponse(.httpVersionNotSupported(message))
    }
}
