import Foundation
import ServiceVocabulary

/// One backend's report to the scheduler for one tick (Cinder's `publish_service_capabilities`
/// payload, per backend). A down backend carries no capabilities, so the scheduler stops placing
/// volumes on it at once instead of waiting for its last report to go stale.
package struct BackendReport: Sendable, Equatable {
    /// The backend id (section name).
    package var backendID: String
    /// `<host>@<backend>`.
    package var host: String
    /// When the report was made; the scheduler keeps only the newest per host.
    package var timestamp: Date
    package var backendState: BackendState
    package var adminState: AdminState
    /// The driver's stats; non-nil exactly when `backendState` is `up`.
    package var capabilities: VolumeStats?

    package init(
        backendID: String, host: String, timestamp: Date, backendState: BackendState,
        adminState: AdminState, capabilities: VolumeStats?
    ) {
        self.backendID = backendID
        self.host = host
        self.timestamp = timestamp
        self.backendState = backendState
        self.adminState = adminState
        self.capabilities = capabilities
    }
}

/// Which reports of a publish the scheduler did not take, keyed by backend host, with why.
/// An empty outcome means every report was accepted.
package struct PublishOutcome: Sendable, Equatable {
    /// Reports that did not reach the scheduler (their batch failed: unreachable, 5xx, ...).
    package var rejected: [String: String]
    /// Reports the scheduler received and refused or ignored, with its reason (invalid, dated
    /// ahead of its clock, older than the report it holds, store full): the backend is missing
    /// from `get_pools` or shown with old data although every publish "succeeds".
    package var refused: [String: String]

    package init(rejected: [String: String] = [:], refused: [String: String] = [:]) {
        self.rejected = rejected
        self.refused = refused
    }

    package static let allAccepted = PublishOutcome()
}

/// Where tick reports go (the libcurl client to the scheduler lives outside this module).
///
/// Called on a worker of the supervisor's driver pool (never on the tick's queue), one call at a
/// time; it may block, but should bound its own time (e.g. libcurl timeouts): while it runs, newer
/// reports are merged into the next call, and the pool's other workers keep calling drivers. Throwing means no report was accepted. A failure is logged, recorded in each
/// backend's `lastPublish` and retried with the next tick; it never changes a driver's state. A
/// report the scheduler refused is recorded the same way (`refused`), logged once per change of
/// reason, and counted apart in the metrics.
package protocol CapabilityPublisher: Sendable {
    func publishServiceCapabilities(_ reports: [BackendReport]) throws -> PublishOutcome
}
