/// One HTTP header field, kept in the order it was sent or received.
package struct CurlHeader: Sendable, Equatable, CustomStringConvertible {
    package var name: String
    package var value: String

    package init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    package var description: String { "\(name): \(value)" }
}

/// The HTTP version a transfer used.
package enum CurlHTTPVersion: Sendable, Equatable {
    case http1_0
    case http1_1
    case http2
    case http3
    /// libcurl reported no version (no response arrived).
    case unknown
}

/// What to send: a method, an absolute `http://` or `https://` URL, header fields and an optional body.
package struct CurlRequest: Sendable, Equatable {
    package var method: String
    package var url: String
    package var headers: [CurlHeader]
    package var body: [UInt8]?

    package init(method: String = "GET", url: String, headers: [CurlHeader] = [], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// A complete HTTP answer, whatever its status: the caller decides what a 4xx or 5xx means.
package struct CurlResponse: Sendable, Equatable {
    package var status: Int
    /// Header fields of the final response (interim 1xx responses are dropped).
    package var headers: [CurlHeader]
    package var body: [UInt8]
    package var httpVersion: CurlHTTPVersion
    /// New connections libcurl opened for this transfer (`CURLINFO_NUM_CONNECTS`): 0 when a kept-alive
    /// connection was reused.
    package var newConnections: Int

    package init(
        status: Int, headers: [CurlHeader], body: [UInt8], httpVersion: CurlHTTPVersion, newConnections: Int
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.httpVersion = httpVersion
        self.newConnections = newConnections
    }

    /// The first value of the header field `name` (case-insensitive), if present.
    package func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// The body as UTF-8 text (invalid sequences repaired), for logs and error messages.
    package var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// How a streamed transfer (`CurlClient.stream`) ended without a transport error.
package struct CurlStreamEnd: Sendable, Equatable {
    /// Status and header fields; the body is empty (it went to the receiver).
    package var response: CurlResponse
    /// The receiver or `shouldContinue` stopped the transfer, not the peer.
    package var stoppedByCaller: Bool

    package init(response: CurlResponse, stoppedByCaller: Bool) {
        self.response = response
        self.stoppedByCaller = stoppedByCaller
    }
}
