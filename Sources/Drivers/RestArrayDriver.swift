import Config
import CurlClient
import Foundation
import JSON
import Supervision
import Synchronization

/// A storage array driven through its management REST API (`openapi/array-api.yaml`): health
/// and per-pool capacity over libcurl. Marked unsupported, as Cinder marks third-party array
/// drivers that lack CI, so it only starts with `enable_unsupported_driver = true`.
///
/// Error classes follow what can fix itself: an array that refuses connections, times out or
/// answers 5xx may come back (`backend_unavailable`); rejected credentials or a URL with no API
/// behind it will not (`config_error`); a document off contract is `other`, also retried.
package final class RestArrayDriver: VolumeDriver {
    /// How the driver proves who it is to the array.
    package enum Credentials: Sendable, Equatable {
        case none
        /// HTTP basic auth from `san_login` / `san_password`.
        case basic(login: String, password: String)
        /// A bearer token from `san_api_token`.
        case token(String)
    }

    package struct Options: Sendable, Equatable {
        package var volumeBackendName: String
        /// Base URL without a trailing slash; `/health` and `/capacity` are appended.
        package var apiURL: String
        package var credentials: Credentials
        /// Seconds for a whole request (connection included).
        package var timeout: Double
        package var verifyTLS: Bool
        /// A PEM CA bundle to trust instead of the system's.
        package var caFile: String?
        var pool = CommonPoolOptions()

        package init(
            volumeBackendName: String, apiURL: String, credentials: Credentials = .none,
            timeout: Double = 10, verifyTLS: Bool = true, caFile: String? = nil
        ) {
            self.volumeBackendName = volumeBackendName
            self.apiURL = apiURL
            self.credentials = credentials
            self.timeout = timeout
            self.verifyTLS = verifyTLS
            self.caFile = caFile
        }

        static let names: Set<String> = CommonPoolOptions.names.union([
            "san_api_url", "san_login", "san_password", "san_api_token", "san_api_timeout",
            "driver_ssl_cert_verify", "driver_ssl_cert_path",
        ])

        static func read(_ reader: inout DriverOptionReader) -> Options? {
            let url = reader.required("san_api_url") { v throws(ConfigDiagnostic) in try v.httpURL() }
            let login = reader.optional("san_login") { v throws(ConfigDiagnostic) in try v.nonEmptyString() }
            let password = reader.raw("san_password")?.text
            let token = reader.optional("san_api_token") { v throws(ConfigDiagnostic) in try v.nonEmptyString() }
            let timeout = reader.optional("san_api_timeout") { v throws(ConfigDiagnostic) in try v.seconds() }
            let verify = reader.optional("driver_ssl_cert_verify") { v throws(ConfigDiagnostic) in try v.bool() }
            let caFile = reader.optional("driver_ssl_cert_path") { v throws(ConfigDiagnostic) in try v.path() }
            let pool = CommonPoolOptions(reading: &reader)

            var credentials = Credentials.none
            switch (login, password, token) {
            case (nil, nil, nil):
                break
            case (nil, nil, let token?):
                credentials = .token(token)
            case (let login?, let password?, nil):
                credentials = .basic(login: login, password: password)
            case (_, _, _?):
                reader.add(
                    reader.raw("san_api_token")!.problem("set san_login and san_password, or san_api_token, not both"))
            case (nil, _?, nil):
                reader.add(reader.raw("san_password")!.problem("san_login is not set"))
            case (_?, nil, nil):
                reader.add(reader.raw("san_login")!.problem("san_password is not set"))
            }
            guard let url, reader.problems.isEmpty else { return nil }
            var options = Options(
                volumeBackendName: reader.backend.volumeBackendName, apiURL: url,
                credentials: credentials, timeout: timeout ?? 10, verifyTLS: verify ?? true, caFile: caFile)
            options.pool = pool
            return options
        }
    }

    package static let version = "1.0.0"
    package let volumeDriverName: String
    package let options: Options
    /// Third-party array drivers without CI are unsupported in Cinder's sense.
    package var supported: Bool { false }
    private let client = Mutex<CurlClient?>(nil)

    package init(volumeDriverName: String = "rest", options: Options) {
        self.volumeDriverName = volumeDriverName
        self.options = options
    }

    /// A fresh client per initialization, so a re-initialization also starts fresh connections.
    package func doSetup() throws {
        let configuration = CurlClient.Configuration(
            connectTimeout: min(5, options.timeout), totalTimeout: options.timeout, verifyTLS: options.verifyTLS,
            caFile: options.caFile, userAgent: "volumed-rest-driver/\(Self.version)", maxResponseBodyBytes: 1 << 20)
        let created: CurlClient
        do {
            created = try CurlClient(configuration: configuration)
        } catch {
            throw DriverError(.missingLibrary, "cannot set up libcurl: \(error)")
        }
        client.withLock { $0 = created }
    }

    /// The array must answer its health document and not be down.
    package func checkForSetupError() throws {
        _ = try health()
    }

    package func getVolumeStats() throws -> VolumeStats {
        let health = try health()
        let capacity: ArrayCapacity
        do {
            capacity = try ArrayDocuments.capacity(fetch("/capacity"))
        } catch let error as ArrayDocumentError {
            throw DriverError(.other, "capacity document from \(options.apiURL)/capacity: \(error.message)")
        }
        let pools = capacity.pools.map { pool in
            PoolStats(
                poolName: pool.name, totalCapacityGB: .gib(gibRounded(pool.totalCapacityGB)),
                freeCapacityGB: .gib(gibRounded(pool.freeCapacityGB)),
                reservedPercentage: options.pool.reservedPercentage,
                thinProvisioningSupport: pool.thinProvisioningSupport, thickProvisioningSupport: true,
                maxOverSubscriptionRatio: pool.maxOverSubscriptionRatio ?? options.pool.maxOverSubscriptionRatio)
        }
        let total = capacity.pools.reduce(0) { $0 + $1.totalCapacityGB }
        let free = capacity.pools.reduce(0) { $0 + $1.freeCapacityGB }
        return VolumeStats(
            volumeBackendName: options.volumeBackendName, vendorName: health.vendor ?? "Unknown",
            driverVersion: Self.version, storageProtocol: health.storageProtocol ?? "iSCSI",
            totalCapacityGB: .gib(gibRounded(total)), freeCapacityGB: .gib(gibRounded(free)),
            reservedPercentage: options.pool.reservedPercentage, pools: pools)
    }

    private func health() throws -> ArrayHealth {
        let health: ArrayHealth
        do {
            health = try ArrayDocuments.health(fetch("/health"))
        } catch let error as ArrayDocumentError {
            throw DriverError(.other, "health document from \(options.apiURL)/health: \(error.message)")
        }
        if health.status == .down {
            let reason = health.message.map { ": \($0)" } ?? ""
            throw DriverError(.backendUnavailable, "the array at \(options.apiURL) reports status down\(reason)")
        }
        return health
    }

    /// The body of a 200 answer to `GET <url><path>`; every other outcome as a classified error.
    private func fetch(_ path: String) throws(DriverError) -> [UInt8] {
        guard let client = client.withLock({ $0 }) else {
            throw DriverError(.other, "doSetup has not created the HTTP client yet")
        }
        let url = options.apiURL + path
        var headers = [CurlHeader("Accept", "application/json")]
        switch options.credentials {
        case .none: break
        case .basic(let login, let password):
            headers.append(
                CurlHeader("Authorization", "Basic " + Data("\(login):\(password)".utf8).base64EncodedString()))
        case .token(let token):
            headers.append(CurlHeader("Authorization", "Bearer " + token))
        }
        let response: CurlResponse
        do {
            response = try client.send(CurlRequest(method: "GET", url: url, headers: headers))
        } catch {
            throw Self.classify(error, url: url)
        }
        switch response.status {
        case 200:
            return response.body
        case 401, 403:
            throw DriverError(
                .configError,
                "the array rejected the credentials for GET \(url) (HTTP \(response.status))"
                    + Self.reason(response) + "; fix san_login/san_password or san_api_token")
        case 404:
            throw DriverError(.configError, "no array API at \(url) (HTTP 404); check san_api_url")
        case 500...599:
            throw DriverError(
                .backendUnavailable, "the array answered HTTP \(response.status) to GET \(url)" + Self.reason(response))
        default:
            throw DriverError(.other, "unexpected HTTP \(response.status) to GET \(url)" + Self.reason(response))
        }
    }

    static func classify(_ error: CurlError, url: String) -> DriverError {
        let reason = curlReason(error)
        if error.isTimeout {
            return DriverError(.backendUnavailable, "GET \(url) timed out: \(reason)")
        }
        if error.isConnectFailure {
            return DriverError(.backendUnavailable, "cannot connect to \(url): \(reason)")
        }
        if error.isTLSFailure {
            return DriverError(.backendUnavailable, "TLS with \(url) failed (check driver_ssl_cert_path): \(reason)")
        }
        if error.isResponseTooLarge {
            return DriverError(.other, "the answer to GET \(url) is too large: \(reason)")
        }
        return DriverError(.backendUnavailable, "GET \(url) failed: \(reason)")
    }

    /// libcurl's specific text once, then the code: its error buffer already ends with the generic
    /// text, which `CurlError.description` would repeat ("Couldn't connect to server: Failed to
    /// connect ...: Couldn't connect to server").
    static func curlReason(_ error: CurlError) -> String {
        "\(error.detail.isEmpty ? error.message : error.detail) (curl error \(error.code))"
    }

    /// The error document's message, or the start of the body, for the operator.
    private static func reason(_ response: CurlResponse) -> String {
        if case .string(let message)? = (try? JSONParser.parse(response.body))?["message"] {
            return ": " + String(message.prefix(300))
        }
        let text = String(decoding: response.body.prefix(300), as: UTF8.self).trimmingCharacters(
            in: .whitespacesAndNewlines)
        return text.isEmpty ? "" : ": " + text
    }
}
