// The words a volume service and the scheduler exchange about a backend, one type each, so the
// value a volume service reports is the value the scheduler reads.

/// Whether a backend's driver is working, as its volume service reports it to the scheduler and
/// os-services shows it (Cinder's `backend_state`): up only while the driver is ready.
package enum BackendState: String, Sendable, Equatable {
    case up
    case down
}

/// Whether the operator lets the scheduler place volumes on a service (Cinder's service `status`).
package enum ServiceStatus: String, Sendable, Equatable {
    case enabled
    case disabled
}
