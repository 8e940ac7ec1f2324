import CurlClient
import Foundation
import Scheduler
import Supervision

/// Cinder's `publish_service_capabilities` over HTTP: each tick's reports go to the scheduler's
/// `POST /v3/scheduler/capabilities` through libcurl, in batches, on kept-alive connections.
///
/// The supervisor calls it on a worker of its driver pool and records the outcome per backend; this type
/// only turns transport failures and non-2xx answers into errors that say what happened.
package final class CurlCapabilityPublisher: CapabilityPublisher {
    /// Why a batch was not accepted.
    package enum Failure: Error, Equatable, CustomStringConvertible {
        /// The batch could not be written as JSON.
        case unencodable(CapabilityReportEncoding.Failure)
        /// The request did not get an answer. `http2Hint`: nothing came back over prior-knowledge
        /// HTTP/2, which is what an HTTP/1.1-only scheduler looks like.
        case unreachable(url: String, error: CurlError, http2Hint: Bool)
        /// The scheduler answered with a status other than 2xx; `excerpt` is the start of its body.
        case answered(url: String, status: Int, excerpt: String)

        package var description: String {
            switch self {
            case .unencodable(let error):
                return "cannot encode the reports: \(error)"
            case .unreachable(let url, let error, let http2Hint):
                let hint =
                    http2Hint
                    ? " (the scheduler may not speak HTTP/2 with prior knowledge: check scheduler_http_version)" : ""
                return "scheduler at \(url) unreachable: \(error)\(hint)"
            case .answered(let url, let status, let excerpt):
                return "scheduler at \(url) answered \(status): \(excerpt)"
            }
        }
    }

    private let url: @Sendable () -> String
    private let client: CurlClient
    private let headers: [CurlHeader]

    /// - Parameter adminToken: sent as `X-Auth-Token`; the scheduler accepts reports only with its
    ///   admin token, or from loopback when it has none.
    package init(url: @escaping @Sendable () -> String, client: CurlClient, adminToken: String?) {
        self.url = url
        self.client = client
        self.headers = adminToken.map { [CurlHeader("X-Auth-Token", $0)] } ?? []
    }

    package func publishServiceCapabilities(_ reports: [BackendReport]) throws -> PublishOutcome {
        try CapabilityReportEncoding.publishInBatches(reports) { (batch) throws(Failure) in try send(batch) }
    }

    /// Sends one batch; returns the reports the scheduler refused (a 200 answer lists them, 204
    /// means none).
    private func send(_ batch: ArraySlice<BackendReport>) throws(Failure) -> [ReportRefusal] {
        let body: [UInt8]
        do {
            body = try CapabilityReportEncoding.batchBody(batch)
        } catch {
            throw .unencodable(error)
        }
        let url = self.url()
        let response: CurlResponse
        do {
            response = try client.post(url, body: body, headers: headers)
        } catch {
            // CURLE_GOT_NOTHING over prior-knowledge HTTP/2 is what an HTTP/1.1-only scheduler looks like.
            throw .unreachable(
                url: url, error: error, http2Hint: error.code == 52 && client.configuration.httpVersion == .http2)
        }
        guard (200..<300).contains(response.status) else {
            throw .answered(url: url, status: response.status, excerpt: String(response.bodyText.prefix(300)))
        }
        // A 200 from volumed's scheduler lists the reports it did not store; any other 2xx answer
        // (204, or a scheduler that says nothing more) means every report was taken.
        guard response.status == 200 else { return [] }
        return ReceiveAnswer.refusals(in: response.body) ?? []
    }
}
