/// One HTTP header field, kept in the order it was sent or received.
public struct CurlHeader: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    public var description: String { "\(name): \(value)" }
}

/// The HTTP version a transfer used.
public enum CurlHTTPVersion: Sendable, Equatable {
    case http1_0
    case http1_1
    case http2
    case http3
    /// libcurl reported no version (no response arrived).
    case unknown
}

/// What to send: a method, an absolute `http://` or `https://` URL, header fields and an optional body.
public struct CurlRequest: Sendable, Equatable {
    public var method: String
    public var url: String
    public var headers: [CurlHeader]
    public var body: [UInt8]?

    public init(method: String = "GET", url: String, headers: [CurlHeader] = [], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// A complete HTTP answer, whatever its status: the caller decides what a 4xx or 5xx means.
public struct CurlResponse: Sendable, Equatable {
    public var status: Int
    /// Header fields of the final response (interim 1xx responses are dropped).
    public var headers: [CurlHeader]
    public var body: [UInt8]
    public var httpVersion: CurlHTTPVersion
    /// New connections libcurl opened for this transfer (`CURLINFO_NUM_CONNECTS`): 0 when a kept-alive
    /// connection was reused.
    public var newConnections: Int

    public init(
        status: Int, headers: [CurlHeader], body: [UInt8], httpVersion: CurlHTTPVersion, newConnections: Int
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.httpVersion = httpVersion
        self.newConnections = newConnections
    }

    /// The first value of the header field `name` (case-insensitive), if present.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// The body as UTF-8 text (invalid sequences repaired), for logs and error messages.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// How a streamed transfer (`CurlClient.stream`) ended without a transport error.
public struct CurlStreamEnd: Sendable, Equatable {
    /// Status and header fields; the body is empty (it went to the receiver).
    public var response: CurlResponse
    /// The receiver or `shouldContinue` stopped the transfer, not the peer.
    public var stoppedByCaller: Bool

    public init(response: CurlResponse, stoppedByCaller: Bool) {
        self.response = response
        self.stoppedByCaller = stoppedByCaller
    }
}
