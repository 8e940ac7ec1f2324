import CurlClient
import Foundation
import Supervision

/// Cinder's `publish_service_capabilities` over HTTP: each tick's reports go to the scheduler's
/// `POST /v3/scheduler/capabilities` through libcurl, in batches, on kept-alive connections.
///
/// The supervisor calls it on a thread of its own and records the outcome per backend; this type
/// only turns transport failures and non-2xx answers into errors that say what happened.
public final class CurlCapabilityPublisher: CapabilityPublisher {
    /// Reports per request: bounds a request's size well under the scheduler's body limit (1 MiB by
    /// default) even with 1,000 backends and several pools each.
    public static let reportsPerRequest = 200

    /// Why a batch was not accepted.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private let url: @Sendable () -> String
    private let client: CurlClient
    private let headers: [CurlHeader]

    /// - Parameter adminToken: sent as `X-Auth-Token`; the scheduler accepts reports only with its
    ///   admin token, or from loopback when it has none.
    public init(url: @escaping @Sendable () -> String, client: CurlClient, adminToken: String?) {
        self.url = url
        self.client = client
        self.headers = adminToken.map { [CurlHeader("X-Auth-Token", $0)] } ?? []
    }

    public func publishServiceCapabilities(_ reports: [BackendReport]) throws -> PublishOutcome {
        guard !reports.isEmpty else { return .allAccepted }
        var rejected: [String: String] = [:]
        var lastFailure: Failure?
        var start = 0
        while start < reports.count {
            let batch = reports[start..<min(start + Self.reportsPerRequest, reports.count)]
            start += Self.reportsPerRequest
            do {
                try send(batch)
            } catch {
                lastFailure = error
                for report in batch { rejected[report.host] = error.description }
            }
        }
        if rejected.count == reports.count, let lastFailure {
            throw lastFailure
        }
        return PublishOutcome(rejected: rejected)
    }

    private func send(_ batch: ArraySlice<BackendReport>) throws(Failure) {
        let body: [UInt8]
        do {
            body = try CapabilityReportEncoding.batchBody(batch)
        } catch {
            throw Failure(description: "cannot encode the reports: \(error)")
        }
        let url = self.url()
        let response: CurlResponse
        do {
            response = try client.post(url, body: body, headers: headers)
        } catch {
            // CURLE_GOT_NOTHING over prior-knowledge HTTP/2 is what an HTTP/1.1-only scheduler looks like.
            let hint = error.code == 52 && client.configuration.httpVersion == .http2
                ? " (the scheduler may not speak HTTP/2 with prior knowledge: check scheduler_http_version)" : ""
            throw Failure(description: "scheduler at \(url) unreachable: \(error)\(hint)")
        }
        guard (200..<300).contains(response.status) else {
            let excerpt = String(response.bodyText.prefix(300))
            throw Failure(description: "scheduler at \(url) answered \(response.status): \(excerpt)")
        }
    }
}
