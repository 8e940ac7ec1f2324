import JSON
import ServiceVocabulary

/// One pool a backend reported, with the keys it sent for it (including `pool_name`).
package struct PoolReport: Sendable, Equatable {
    package let name: String
    package let capabilities: [JSONMember]

    package init(name: String, capabilities: [JSONMember]) {
        self.name = name
        self.capabilities = capabilities
    }
}

/// One validated capability report from a volume service (Cinder's `publish_service_capabilities`
/// payload): who sent it, when, and what its backend can do.
package struct CapabilityReport: Sendable, Equatable {
    /// `host@backend`, the key the scheduler stores reports under.
    package let host: String
    package let service: String
    /// When the volume service took the stats; only a newer report replaces a stored one.
    package let timestamp: CapabilityTimestamp
    package let backendState: BackendState
    package let status: ServiceStatus
    package let disabledReason: String?
    /// Cinder's `frozen` (os-services freeze): a frozen backend is skipped like a disabled one.
    package let frozen: Bool
    /// Backend-level capabilities in the order sent, without `pools`; unknown keys kept as-is.
    package let capabilities: [JSONMember]
    /// The reported pools; nil when the driver reported none, in which case the backend forms one
    /// pool named after `volume_backend_name` (Cinder's rule for drivers without pools).
    package let pools: [PoolReport]?

    package init(
        host: String, service: String, timestamp: CapabilityTimestamp, backendState: BackendState,
        status: ServiceStatus, disabledReason: String?, capabilities: [JSONMember], pools: [PoolReport]?,
        frozen: Bool = false
    ) {
        self.host = host
        self.service = service
        self.timestamp = timestamp
        self.backendState = backendState
        self.status = status
        self.disabledReason = disabledReason
        self.frozen = frozen
        self.capabilities = capabilities
        self.pools = pools
    }

    /// The backend-level capability `key`, if reported.
    package func capability(_ key: String) -> JSONValue? {
        capabilities.first { $0.key == key }?.value
    }
}

/// Why a capability report body was refused, naming the exact field (e.g.
/// `reports[3].capabilities.free_capacity_gb`) so the API can answer 400 with a fault that says it.
package struct CapabilityReportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A path into the body (`body` for the body as a whole).
    package let field: String
    package let problem: String

    package init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    package var description: String { "\(field): \(problem)" }
}
