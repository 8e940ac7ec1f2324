// The small value types of HTTP/1.1 shared by the parser, the router and handlers.

/// A request method. A struct rather than an enum because HTTP allows any token as a method, and the
/// router must be able to answer 405 for methods it has never heard of.
package struct HTTPMethod: Hashable, Sendable, CustomStringConvertible {
    package let rawValue: String

    package init(_ rawValue: String) { self.rawValue = rawValue }

    package static let get = HTTPMethod("GET")
    package static let head = HTTPMethod("HEAD")
    package static let post = HTTPMethod("POST")
    package static let put = HTTPMethod("PUT")
    package static let delete = HTTPMethod("DELETE")
    package static let patch = HTTPMethod("PATCH")
    package static let options = HTTPMethod("OPTIONS")

    package var description: String { rawValue }
}

/// The protocol version of a request. Only 1.0 and 1.1 are ever produced by the parser; anything else
/// is answered 505 before a handler sees it.
package struct HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    package let major: Int
    package let minor: Int

    package init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    package static let http1_0 = HTTPVersion(major: 1, minor: 0)
    package static let http1_1 = HTTPVersion(major: 1, minor: 1)

    package var description: String { "HTTP/\(major).\(minor)" }
}

/// A response status. Carries its own reason phrase so the encoder writes the status line without a
/// table lookup; equality is by code only.
package struct HTTPStatus: Hashable, Sendable, CustomStringConvertible {
    package let code: Int
    package let reasonPhrase: String

    package init(code: Int, reasonPhrase: String) {
        self.code = code
        self.reasonPhrase = reasonPhrase
    }

    package static func == (lhs: HTTPStatus, rhs: HTTPStatus) -> Bool { lhs.code == rhs.code }
    package func hash(into hasher: inout Hasher) { hasher.combine(code) }
    package var description: String { "\(code) \(reasonPhrase)" }

    package static let `continue` = HTTPStatus(code: 100, reasonPhrase: "Continue")
    package static let ok = HTTPStatus(code: 200, reasonPhrase: "OK")
    package static let created = HTTPStatus(code: 201, reasonPhrase: "Created")
    package static let accepted = HTTPStatus(code: 202, reasonPhrase: "Accepted")
    package static let noContent = HTTPStatus(code: 204, reasonPhrase: "No Content")
    package static let multipleChoices = HTTPStatus(code: 300, reasonPhrase: "Multiple Choices")
    package static let notModified = HTTPStatus(code: 304, reasonPhrase: "Not Modified")
    package static let badRequest = HTTPStatus(code: 400, reasonPhrase: "Bad Request")
    package static let unauthorized = HTTPStatus(code: 401, reasonPhrase: "Unauthorized")
    package static let forbidden = HTTPStatus(code: 403, reasonPhrase: "Forbidden")
    package static let notFound = HTTPStatus(code: 404, reasonPhrase: "Not Found")
    package static let methodNotAllowed = HTTPStatus(code: 405, reasonPhrase: "Method Not Allowed")
    package static let notAcceptable = HTTPStatus(code: 406, reasonPhrase: "Not Acceptable")
    package static let requestTimeout = HTTPStatus(code: 408, reasonPhrase: "Request Timeout")
    package static let conflict = HTTPStatus(code: 409, reasonPhrase: "Conflict")
    package static let contentTooLarge = HTTPStatus(code: 413, reasonPhrase: "Content Too Large")
    package static let uriTooLong = HTTPStatus(code: 414, reasonPhrase: "URI Too Long")
    package static let expectationFailed = HTTPStatus(code: 417, reasonPhrase: "Expectation Failed")
    package static let requestHeaderFieldsTooLarge = HTTPStatus(
        code: 431, reasonPhrase: "Request Header Fields Too Large")
    package static let internalServerError = HTTPStatus(code: 500, reasonPhrase: "Internal Server Error")
    package static let notImplemented = HTTPStatus(code: 501, reasonPhrase: "Not Implemented")
    package static let serviceUnavailable = HTTPStatus(code: 503, reasonPhrase: "Service Unavailable")
    package static let httpVersionNotSupported = HTTPStatus(
        code: 505, reasonPhrase: "HTTP Version Not Supported")

    /// The status for a bare code, with the standard reason phrase when the code is a known one.
    package init(code: Int) {
        let known: [HTTPStatus] = [
            .continue, .ok, .created, .accepted, .noContent, .notModified, .badRequest, .unauthorized,
            .forbidden, .notFound, .methodNotAllowed, .requestTimeout, .conflict, .contentTooLarge,
            .uriTooLong, .expectationFailed, .requestHeaderFieldsTooLarge, .internalServerError,
            .notImplemented, .serviceUnavailable, .httpVersionNotSupported,
        ]
        self = known.first { $0.code == code } ?? HTTPStatus(code: code, reasonPhrase: "Status \(code)")
    }
}
