// The OpenStack protocol around volumed's JSON: microversions and request ids on every exchange.
// Depends on HTTPServer and swift-log only, so scripts/bench-http links the same file.

import Foundation
import HTTPServer
import Logging

/// What the OpenStack layer decided for one request, attached for its handler
/// (`HTTPRequest.annotation`) and its access-log line.
public struct OpenStackExchange: Sendable {
    /// The negotiated microversion.
    public let version: APIVersion
    /// `req-<uuid>`, sent back in `x-openstack-request-id`.
    public let requestID: String
    /// A valid `X-OpenStack-Request-ID` the client sent: the request id of the operation that
    /// caused this request (oslo's global request id).
    public let globalRequestID: String?
}

extension HTTPRequest {
    /// The microversion this request was negotiated at; for a request that did not pass through the
    /// protocol hooks (a handler called directly), its header is read here.
    public var apiVersion: APIVersion {
        if let exchange = annotation as? OpenStackExchange { return exchange.version }
        if case .version(let version) = MicroversionRequest.parse(headers.values(forName: MicroversionRequest.headerName)) {
            return version
        }
        return .minimum
    }
}

/// The exchange hooks that make every response OpenStack's: each carries
/// `OpenStack-API-Version: volume X.Y`, `Vary: OpenStack-API-Version` and
/// `x-openstack-request-id`; a malformed version header answers 400, one outside the versions
/// served 406, both as OpenStack faults carrying the same fields. Every exchange can also be
/// written to the `volumed.access` log (at debug; see `AccessLog`).
public final class OpenStackProtocol: Sendable {
    public let minimum: APIVersion
    public let maximum: APIVersion
    let requestIDs = RequestIDGenerator()
    let accessLog: AccessLog
    /// The two fixed fields for each minor version served, built once (index: minor - minimum.minor).
    private let versionFields: [HTTPHeaders]

    public static let requestIDHeader = "x-openstack-request-id"
    public static let globalRequestIDHeader = "X-OpenStack-Request-ID"

    public init(minimum: APIVersion = .minimum, maximum: APIVersion = .maximum,
                accessLogger: Logger = Logger(label: "volumed.access")) {
        precondition(minimum.major == maximum.major && minimum <= maximum)
        self.minimum = minimum
        self.maximum = maximum
        self.accessLog = AccessLog(logger: accessLogger)
        versionFields = (minimum.minor...maximum.minor).map { minor in
            [MicroversionRequest.headerName: "\(MicroversionRequest.serviceType) \(minimum.major).\(minor)",
             "Vary": MicroversionRequest.headerName]
        }
    }

    /// Pass to `HTTPServer(hooks:)`.
    public var hooks: ExchangeHooks {
        ExchangeHooks(
            begin: { [self] request in begin(&request) },
            unparsedRequestHeaders: versionFields[0],
            end: { [accessLog] record in accessLog.record(record) })
    }

    func begin(_ request: inout HTTPRequest) -> ExchangeStart {
        let requestID = requestIDs.next()
        let negotiated = MicroversionRequest.parse(
            request.headers.values(forName: MicroversionRequest.headerName), minimum: minimum, maximum: maximum)
        let version: APIVersion
        if case .version(let served) = negotiated { version = served } else { version = minimum }
        var headers = versionFields[version.minor - minimum.minor]
        headers.add(name: Self.requestIDHeader, value: requestID)
        let global = request.headers[Self.globalRequestIDHeader].flatMap { RequestIDGenerator.isValid($0) ? $0 : nil }
        request.annotation = OpenStackExchange(version: version, requestID: requestID, globalRequestID: global)
        let answer = negotiated.fault(minimum: minimum, maximum: maximum).map { HTTPResponse($0) }
        return ExchangeStart(headers: headers, answer: answer, exchangeID: requestID)
    }
}
