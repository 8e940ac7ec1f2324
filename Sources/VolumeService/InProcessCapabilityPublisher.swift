import Foundation
import Scheduler
import Supervision

/// Cinder's `publish_service_capabilities` when the scheduler runs in this process (no
/// `scheduler_url`): each tick's reports go straight into its `CapabilityStore`, not through this
/// process's own HTTP server, so a flood of outside connections (up to `http_max_connections`)
/// can never make the service's own backends look down.
///
/// The reports take the same path as over HTTP: the same JSON body, in the same batches, through
/// the store's `receive` (the intake `POST /v3/scheduler/capabilities` uses), so validation,
/// refusals and limits behave identically.
package final class InProcessCapabilityPublisher: CapabilityPublisher {
    /// Why a batch was not accepted.
    package enum Failure: Error, Equatable, CustomStringConvertible {
        /// The batch could not be written as JSON.
        case unencodable(CapabilityReportEncoding.Failure)
        /// The store's intake refused the batch whole.
        case refused(CapabilityReportError)

        package var description: String {
            switch self {
            case .unencodable(let error): "the in-process scheduler refused the batch: \(error)"
            case .refused(let error): "the in-process scheduler refused the batch: \(error)"
            }
        }
    }

    private let store: CapabilityStore

    package init(store: CapabilityStore) {
        self.store = store
    }

    package func publishServiceCapabilities(_ reports: [BackendReport]) throws -> PublishOutcome {
        try CapabilityReportEncoding.publishInBatches(reports) { (batch) throws(Failure) in
            let body: [UInt8]
            do throws(CapabilityReportEncoding.Failure) {
                body = try CapabilityReportEncoding.batchBody(batch)
            } catch {
                throw .unencodable(error)
            }
            do throws(CapabilityReportError) {
                return try store.receive(body).refused
            } catch {
                throw .refused(error)
            }
        }
    }
}
