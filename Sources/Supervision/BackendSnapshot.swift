import Foundation
import ServiceVocabulary

/// Where a backend's driver stands in its supervision life cycle.
package enum DriverState: String, Sendable, Equatable, CaseIterable {
    /// `doSetup` + `checkForSetupError` are running.
    case initializing
    /// Initialized; its stats are collected and published every tick.
    case ready
    /// A recoverable failure; the next automatic re-initialization is due at `nextReinitAt`.
    case retrying
    /// A recoverable failure with `reinit_driver_count` re-initializations used; only a manual
    /// re-initialization (or a configuration change) starts another.
    case exhausted
    /// An unrecoverable failure (configuration, unsupported driver, missing library); never retried
    /// automatically.
    case failed
}

/// The most recent driver failure, kept after a recovery so operators can see what happened.
package struct ErrorRecord: Sendable, Equatable {
    package var errorClass: ErrorClass
    package var kind: ErrorKind
    package var message: String
    package var at: Date

    package init(errorClass: ErrorClass, kind: ErrorKind, message: String, at: Date) {
        self.errorClass = errorClass
        self.kind = kind
        self.message = message
        self.at = at
    }

    init(_ error: DriverError, at: Date) {
        self.init(errorClass: error.errorClass, kind: error.kind, message: error.message, at: at)
    }
}

/// The outcome of the last publish that carried this backend's report.
package struct PublishRecord: Sendable, Equatable {
    package var at: Date
    package var ok: Bool
    /// Why the publish failed; nil when it succeeded.
    package var error: String?
    /// The scheduler received the report and refused or ignored it (`error` says why), as opposed
    /// to a publish that did not reach it.
    package var refused: Bool

    package init(at: Date, ok: Bool, error: String?, refused: Bool = false) {
        self.at = at
        self.ok = ok
        self.error = error
        self.refused = refused
    }
}

/// One entry of a backend's state history.
package struct StateTransition: Sendable, Equatable {
    package var at: Date
    /// nil for the very first state of a backend.
    package var from: DriverState?
    package var to: DriverState
    package var reason: String

    package init(at: Date, from: DriverState?, to: DriverState, reason: String) {
        self.at = at
        self.from = from
        self.to = to
        self.reason = reason
    }
}

/// What operators decided for a service through os-services (Cinder's `disabled`,
/// `disabled_reason` and `frozen`). A disabled or frozen backend is still supervised; the scheduler
/// just skips it.
package struct AdminState: Sendable, Equatable {
    package var disabled: Bool
    package var disabledReason: String?
    /// Cinder's `frozen` (os-services freeze/thaw): kept and persisted like `disabled`.
    package var frozen: Bool

    package init(disabled: Bool = false, disabledReason: String? = nil, frozen: Bool = false) {
        self.disabled = disabled
        self.disabledReason = disabledReason
        self.frozen = frozen
    }

    /// Whether this is what a service has before any operator decision (nothing to remember).
    package var isDefault: Bool { self == AdminState() }

    /// Cinder's `status` field: whether the scheduler may place volumes here.
    package var status: ServiceStatus { disabled ? .disabled : .enabled }
}

/// Monotonic counters for the metrics endpoint. They survive re-initializations and driver
/// replacement; they start at zero when the backend is added.
package struct BackendCounters: Sendable, Equatable {
    /// Driver failures (initialization and stats) by kind; kinds never seen are absent.
    package var failuresByKind: [ErrorKind: Int]
    package var publishesOK: Int
    /// Publishes that did not reach the scheduler.
    package var publishesFailed: Int
    /// Publishes whose report the scheduler refused or ignored.
    package var publishesRefused: Int
    /// Duration in seconds of the most recent initialization attempt (the first start included).
    package var lastReinitDuration: TimeInterval?
    /// Sum and count of all initialization attempt durations, for a Prometheus summary.
    package var reinitDurationSum: TimeInterval
    package var reinitDurationCount: Int

    package init(
        failuresByKind: [ErrorKind: Int] = [:], publishesOK: Int = 0, publishesFailed: Int = 0,
        publishesRefused: Int = 0,
        lastReinitDuration: TimeInterval? = nil, reinitDurationSum: TimeInterval = 0, reinitDurationCount: Int = 0
    ) {
        self.failuresByKind = failuresByKind
        self.publishesOK = publishesOK
        self.publishesFailed = publishesFailed
        self.publishesRefused = publishesRefused
        self.lastReinitDuration = lastReinitDuration
        self.reinitDurationSum = reinitDurationSum
        self.reinitDurationCount = reinitDurationCount
    }

    /// Failures of one kind (0 when none).
    package func failures(_ kind: ErrorKind) -> Int { failuresByKind[kind] ?? 0 }
}

/// Everything the API shows about one backend, as one immutable value. A class, so that a
/// service snapshot of a thousand backends is rebuilt by copying references, not fields.
package final class BackendSnapshot: Sendable, Equatable {
    /// The section name from `enabled_backends`.
    package let id: String
    /// `<host>@<id>`, as Cinder names a backend's service.
    package let host: String
    /// The configured `volume_driver` name.
    package let volumeDriver: String
    package let volumeBackendName: String
    package let state: DriverState
    /// Automatic re-initializations used in the current failure episode.
    package let reinitAttempts: Int
    /// `reinit_driver_count` (0 = unlimited).
    package let reinitLimit: Int
    package let lastError: ErrorRecord?
    /// When the next automatic re-initialization is due; only set while `retrying`.
    package let nextReinitAt: Date?
    package let lastPublish: PublishRecord?
    /// The stats of the last successful `getVolumeStats`; nil until one succeeds and whenever the
    /// driver is not ready.
    package let capabilities: VolumeStats?
    /// The heartbeat (Cinder's `updated_at`): refreshed every tick while the supervisor runs,
    /// whatever the driver's state, so a stale value means the service itself is stuck or gone.
    package let updatedAt: Date
    package let adminState: AdminState
    /// The last 50 state transitions, oldest first.
    package let transitions: [StateTransition]
    package let counters: BackendCounters

    /// Public so API layers can build snapshots in their own tests; the supervisor makes the real ones.
    package init(
        id: String, host: String, volumeDriver: String, volumeBackendName: String, state: DriverState,
        reinitAttempts: Int, reinitLimit: Int, lastError: ErrorRecord?, nextReinitAt: Date?,
        lastPublish: PublishRecord?, capabilities: VolumeStats?, updatedAt: Date, adminState: AdminState,
        transitions: [StateTransition], counters: BackendCounters
    ) {
        self.id = id
        self.host = host
        self.volumeDriver = volumeDriver
        self.volumeBackendName = volumeBackendName
        self.state = state
        self.reinitAttempts = reinitAttempts
        self.reinitLimit = reinitLimit
        self.lastError = lastError
        self.nextReinitAt = nextReinitAt
        self.lastPublish = lastPublish
        self.capabilities = capabilities
        self.updatedAt = updatedAt
        self.adminState = adminState
        self.transitions = transitions
        self.counters = counters
    }

    /// Whether the driver has completed initialization and not failed since: exactly while ready.
    package var initialized: Bool { state == .ready }

    /// What the scheduler is told: up only while the driver is ready.
    package var backendState: BackendState { state == .ready ? .up : .down }

    package static func == (lhs: BackendSnapshot, rhs: BackendSnapshot) -> Bool {
        if lhs === rhs { return true }
        return lhs.id == rhs.id && lhs.host == rhs.host && lhs.volumeDriver == rhs.volumeDriver
            && lhs.volumeBackendName == rhs.volumeBackendName && lhs.state == rhs.state
            && lhs.reinitAttempts == rhs.reinitAttempts && lhs.reinitLimit == rhs.reinitLimit
            && lhs.lastError == rhs.lastError
            && lhs.nextReinitAt == rhs.nextReinitAt && lhs.lastPublish == rhs.lastPublish
            && lhs.capabilities == rhs.capabilities
            && lhs.updatedAt == rhs.updatedAt && lhs.adminState == rhs.adminState
            && lhs.transitions == rhs.transitions
            && lhs.counters == rhs.counters
    }

    /// How many transitions a snapshot keeps.
    package static let transitionHistoryLimit = 50
}

/// The whole service at one instant: every backend ordered by id, with a version that changes
/// exactly when any visible content changes (heartbeats included), so the API can use it as an ETag
/// and cache the encoded JSON per version. Immutable; reading one is a reference-count bump.
///
/// There is deliberately one version, not a second "drivers" one that ignores heartbeats: every
/// tick changes both `updatedAt` and `lastPublish` of every backend anyway, so a second version
/// would churn just as often unless it hid visible fields, and an ETag that stays while the body
/// changes would be a lie. One re-encoding per tick is cheap.
package struct ServiceSnapshot: Sendable {
    /// Bumps by one for each change of visible content; never bumps without one.
    package let version: UInt64
    /// Cinder's `host` of this service.
    package let host: String
    /// `backend_stats_polling_interval` in seconds.
    package let tickInterval: TimeInterval
    /// Whether the supervision loop is running (between `start()` and `stop()`).
    package let running: Bool
    /// Ordered by `id`.
    package let backends: [BackendSnapshot]
    /// Publishes skipped because the previous one was still running; their reports were merged
    /// into the next one.
    package let publishesCoalesced: Int

    package init(
        version: UInt64, host: String, tickInterval: TimeInterval, running: Bool,
        backends: [BackendSnapshot], publishesCoalesced: Int
    ) {
        self.version = version
        self.host = host
        self.tickInterval = tickInterval
        self.running = running
        self.backends = backends
        self.publishesCoalesced = publishesCoalesced
    }

    /// The backend with this id, found by binary search.
    package func backend(id: String) -> BackendSnapshot? {
        var low = 0
        var high = backends.count
        while low < high {
            let mid = (low + high) / 2
            if backends[mid].id < id { low = mid + 1 } else { high = mid }
        }
        return low < backends.count && backends[low].id == id ? backends[low] : nil
    }
}
