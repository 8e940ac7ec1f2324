// The OpenStack protocol around volumed's JSON: microversions and request ids on every exchange.
// Depends on HTTPServer and swift-log only, so scripts/bench-http links the same file.

import Foundation
import HTTPServer
import Logging

/// What the OpenStack layer decided for one request, attached for its handler
/// (`HTTPRequest.annotation`) and its access-log line.
/// (The request's own id is the exchange's id: `ExchangeRecord.exchangeID`.) Small enough to sit
/// in an existential's inline buffer, so attaching it allocates nothing.
package struct OpenStackExchange: Sendable {
    /// The negotiated microversion.
    package let version: APIVersion
    /// A valid `X-OpenStack-Request-ID` the client sent: the request id of the operation that
    /// caused this request (oslo's global request id).
    package let globalRequestID: String?
}

extension HTTPRequest {
    /// The microversion this request was negotiated at; for a request that did not pass through the
    /// protocol hooks (a handler called directly), its header is read here.
    package var apiVersion: APIVersion {
        if let exchange = annotation as? OpenStackExchange { return exchange.version }
        if case .version(let version) = MicroversionRequest.parse(
            headers.values(forName: MicroversionRequest.headerName))
        {
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
package final class OpenStackProtocol: Sendable {
    package let minimum: APIVersion
    package let maximum: APIVersion
    let requestIDs = RequestIDGenerator()
    let accessLog: AccessLog
    /// The two fixed fields for each minor version served, encoded once (index: minor - minimum.minor).
    private let versionFields: [EncodedFields]

    package static let requestIDHeader = "x-openstack-request-id"
    package static let globalRequestIDHeader = "X-OpenStack-Request-ID"

    /// - Parameter logLevels: the run-time levels behind `accessLogger`, so the access log's level
    ///   check per request is one atomic load until a level changes.
    package init(
        minimum: APIVersion = .minimum, maximum: APIVersion = .maximum,
        accessLogger: Logger = Logger(label: "volumed.access"), logLevels: LogLevelRegistry? = nil
    ) {
        precondition(minimum.major == maximum.major && minimum <= maximum)
        self.minimum = minimum
        self.maximum = maximum
        self.accessLog = AccessLog(logger: accessLogger, levels: logLevels)
        versionFields = (minimum.minor...maximum.minor).map { minor in
            EncodedFields([
                MicroversionRequest.headerName: "\(MicroversionRequest.serviceType) \(minimum.major).\(minor)",
                "Vary": MicroversionRequest.headerName,
            ])
        }
    }

    /// Pass to `HTTPServer(hooks:)`.
    package var hooks: ExchangeHooks {
        ExchangeHooks(
            begin: { [self] request in begin(&request) },
            unparsedRequestHeaders: versionFields[0], exchangeIDField: Self.requestIDHeader,
            end: { [accessLog] record in accessLog.record(record) })
    }

    /// GET and HEAD: requests that cannot change the log level.
    private static func isRead(_ method: HTTPMethod) -> Bool { method == .get || method == .head }

    private let versionHeaderKey = Array(MicroversionRequest.headerName.lowercased().utf8)
    private let globalRequestIDKey = Array(globalRequestIDHeader.lowercased().utf8)

    /// Per request: the header's fields read without a String unless present, the version's shared
    /// fields, an id made in place; nothing is allocated unless the client sent either header. A read
    /// is recorded (timed, its target kept) only while the access log is on; any other request is
    /// recorded whatever the level, since it may be the `set-log` that turns the log on, and the
    /// log keeps the line of every exchange that ends while it is on.
    func begin(_ request: inout HTTPRequest) -> ExchangeStart {
        var values: [String] = []
        request.headers.forEachValue(lowercasedName: versionHeaderKey) {
            values.append(String(decoding: $0, as: UTF8.self))
        }
        let negotiated = MicroversionRequest.parse(values, minimum: minimum, maximum: maximum)
        let version: APIVersion
        var answer: HTTPResponse?
        if case .version(let served) = negotiated {
            version = served
        } else {
            version = minimum
            answer = negotiated.fault(minimum: minimum, maximum: maximum).map { $0.response() }
        }
        var global: String?
        if let sent = request.headers.firstValue(lowercasedName: globalRequestIDKey) {
            let text = String(decoding: sent, as: UTF8.self)
            if RequestIDGenerator.isValid(text) { global = text }
        }
        request.annotation = OpenStackExchange(version: version, globalRequestID: global)
        var start = ExchangeStart(
            headers: versionFields[version.minor - minimum.minor], exchangeID: requestIDs.next(),
            recordsExchange: accessLog.isEnabled || !Self.isRead(request.method))
        if let answer { start.answer = answer }
        return start
    }
}
