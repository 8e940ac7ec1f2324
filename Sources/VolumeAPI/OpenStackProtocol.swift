// The OpenStack protocol around volumed's JSON: microversions, request ids, version discovery.

import Foundation
import HTTPServer
import Logging
import Scheduler

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

/// Cinder's version documents (cinder/api/versions.py): `GET /` lists the API versions with 300
/// Multiple Choices, `GET /v3/` describes v3 with 200. Links point at `public_endpoint` when set (a
/// service behind a proxy), else at the `Host` the client used.
enum VersionDocuments {
    /// When volumed's v3 API last changed.
    static let updated = "2026-12-02T00:00:00Z"

    /// `{"versions": [<v3>]}`.
    static func encode(base: String, minimum: APIVersion, maximum: APIVersion) -> [UInt8] {
        var json = JSONWriter(style: .pythonDumps, reservingCapacity: 512)
        json.beginObject()
        json.key("versions")
        json.beginArray()
        json.beginObject()
        json.member("id", "v3.0")
        json.member("status", "CURRENT")
        json.member("version", maximum.description)
        json.member("min_version", minimum.description)
        json.member("updated", updated)
        json.key("links")
        json.beginArray()
        json.beginObject()
        json.member("rel", "describedby")
        json.member("type", "text/html")
        json.member("href", "https://docs.openstack.org/")
        json.endObject()
        json.beginObject()
        json.member("rel", "self")
        json.member("href", base + "/v3/")
        json.endObject()
        json.endArray()
        json.key("media-types")
        json.beginArray()
        json.beginObject()
        json.member("base", "application/json")
        json.member("type", "application/vnd.openstack.volume+json;version=3")
        json.endObject()
        json.endArray()
        json.endObject()
        json.endArray()
        json.endObject()
        return json.bytes
    }

    /// `public_endpoint` without its trailing slash, or `http://<Host>`; a `Host` that is not a
    /// plain host[:port] (RFC 9110 uri-host) falls back to `listen`.
    static func base(publicEndpoint: String?, request: HTTPRequest, listen: String) -> String {
        if let publicEndpoint, !publicEndpoint.isEmpty {
            var base = Substring(publicEndpoint)
            while base.hasSuffix("/") { base = base.dropLast() }
            return String(base)
        }
        if let host = request.headers["Host"], !host.isEmpty, host.utf8.count <= 255,
           host.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-._~:[]%".unicodeScalars.contains($0)) })
        {
            return "http://" + host
        }
        return "http://" + listen
    }
}
