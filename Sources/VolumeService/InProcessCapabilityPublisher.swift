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
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    private let store: CapabilityStore

    package init(store: CapabilityStore) {
        self.store = store
    }

    package func publishServiceCapabilities(_ reports: [BackendReport]) throws -> PublishOutcome {
        try CapabilityReportEncoding.publishInBatches(reports) { (batch) throws(Failure) in
            do {
                return try store.receive(try CapabilityReportEncoding.batchBody(batch)).refused
            } catch {
                throw Failure(description: "the in-process scheduler refused the batch: \(error)")
            }
        }
    }
}
