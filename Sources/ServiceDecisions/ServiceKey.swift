import Supervision

/// A service as Cinder identifies it: `host` (`<host>@<backend>` for a volume service) and `binary`.
/// Operator decisions belong to a service, not to the lifetime of a backend section: a backend
/// removed by one reload and added back by a later one is the same service with the same flags.
package struct ServiceKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// `<host>@<backend>` for a volume service.
    package var host: String
    /// `cinder-volume` for a backend's service.
    package var binary: String

    /// The binary of every backend's service.
    package static let volumeBinary = "cinder-volume"

    package init(host: String, binary: String) {
        self.host = host
        self.binary = binary
    }

    /// The volume service of backend `backend` on the node named `host`.
    package static func volume(host: String, backend: String) -> ServiceKey {
        ServiceKey(host: "\(host)@\(backend)", binary: volumeBinary)
    }

    package static func < (lhs: ServiceKey, rhs: ServiceKey) -> Bool {
        (lhs.host, lhs.binary) < (rhs.host, rhs.binary)
    }

    package var description: String { "host=\(host) binary=\(binary)" }
}

/// One operator decision about a service, as os-services expresses it.
package enum OperatorDecision: Sendable, Equatable {
    /// `enable`: clears `disabled` and its reason.
    case enable
    /// `disable` (reason nil) or `disable-log-reason`.
    case disable(reason: String?)
    /// `freeze` / `thaw` (Cinder's `frozen` flag; issue 12 wires the actions).
    case freeze
    case thaw

    /// The status a service has once this decision is applied to `status`.
    package func applied(to status: AdminState) -> AdminState {
        var next = status
        switch self {
        case .enable:
            next.disabled = false
            next.disabledReason = nil
        case .disable(let reason):
            next.disabled = true
            next.disabledReason = reason
        case .freeze:
            // Cinder's freeze_host also disables the service, with the reason "frozen"; thaw
            // enables it again.
            next.frozen = true
            next.disabled = true
            next.disabledReason = "frozen"
        case .thaw:
            next.frozen = false
            next.disabled = false
            next.disabledReason = nil
        }
        return next
    }
}
