import Foundation

/// Where a backend's driver stands in its supervision life cycle.
public enum DriverState: String, Sendable, Equatable, CaseIterable {
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

/// What the scheduler is told about a backend (`backend_state` in Cinder's os-services).
public enum BackendState: String, Sendable, Equatable {
    case up
    case down
}

/// The most recent driver failure, kept after a recovery so operators can see what happened.
public struct ErrorRecord: Sendable, Equatable {
    public var errorClass: ErrorClass
    public var kind: ErrorKind
    public var message: String
    public var at: Date

    public init(errorClass: ErrorClass, kind: ErrorKind, message: String, at: Date) {
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
public struct PublishRecord: Sendable, Equatable {
    public var at: Date
    public var ok: Bool
    /// Why the publish failed; nil when it succeeded.
    public var error: String?
    /// The scheduler received the report and refused or ignored it (`error` says why), as opposed
    /// to a publish that did not reach it.
    public var refused: Bool

    public init(at: Date, ok: Bool, error: String?, refused: Bool = false) {
        self.at = at
        self.ok = ok
        self.error = error
        self.refused = refused
    }
}

/// One entry of a backend's state history.
public struct StateTransition: Sendable, Equatable {
    public var at: Date
    /// nil for the very first state of a backend.
    public var from: DriverState?
    public var to: DriverState
    public var reason: String

    public init(at: Date, from: DriverState?, to: DriverState, reason: String) {
        self.at = at
        self.from = from
        self.to = to
        self.reason = reason
    }
}

/// The service status an operator sets through os-services (Cinder's `disabled`, `disabled_reason`
/// and `frozen`). A disabled or frozen backend is still supervised; the scheduler just skips it.
public struct ServiceStatus: Sendable, Equatable {
    public var disabled: Bool
    public var disabledReason: String?
    /// Cinder's `frozen` (os-services freeze/thaw): kept and persisted like `disabled`.
    public var frozen: Bool

    public init(disabled: Bool = false, disabledReason: String? = nil, frozen: Bool = false) {
        self.disabled = disabled
        self.disabledReason = disabledReason
        self.frozen = frozen
    }

    /// Whether this is what a service has before any operator decision (nothing to remember).
    public var isDefault: Bool { self == ServiceStatus() }

    /// `enabled` / `disabled`, as Cinder's `status` field says it.
    public var status: String { disabled ? "disabled" : "enabled" }
}

/// Monotonic counters for the metrics endpoint. They survive re-initializations and driver
/// replacement; they start at zero when the backend is added.
public struct BackendCounters: Sendable, Equatable {
    /// Driver failures (initialization and stats) by kind; kinds never seen are absent.
    public var failuresByKind: [ErrorKind: Int]
    public var publishesOK: Int
    /// Publishes that did not reach the scheduler.
    public var publishesFailed: Int
    /// Publishes whose report the scheduler refused or ignored.
    public var publishesRefused: Int
    /// Duration in seconds of the most recent initialization attempt (the first start included).
    public var lastReinitDuration: TimeInterval?
    /// Sum and count of all initialization attempt durations, for a Prometheus summary.
    public var reinitDurationSum: TimeInterval
    public var reinitDurationCount: Int

    public init(failuresByKind: [ErrorKind: Int] = [:], publishesOK: Int = 0, publishesFailed: Int = 0,
                publishesRefused: Int = 0,
                lastReinitDuration: TimeInterval? = nil, reinitDurationSum: TimeInterval = 0, reinitDurationCount: Int = 0) {
        self.failuresByKind = failuresByKind
        self.publishesOK = publishesOK
        self.publishesFailed = publishesFailed
        self.publishesRefused = publishesRefused
        self.lastReinitDuration = lastReinitDuration
        self.reinitDurationSum = reinitDurationSum
        self.reinitDurationCount = reinitDurationCount
    }

    /// Failures of one kind (0 when none).
    public func failures(_ kind: ErrorKind) -> Int { failuresByKind[kind] ?? 0 }
}

/// Everything the API shows about one backend, as one immutable value. A class, so that a
/// service snapshot of a thousand backends is rebuilt by copying references, not fields.
public final class BackendSnapshot: Sendable, Equatable {
    /// The section name from `enabled_backends`.
    public let id: String
    /// `<host>@<id>`, as Cinder names a backend's service.
    public let host: String
    /// The configured `volume_driver` name.
    public let volumeDriver: String
    public let volumeBackendName: String
    public let state: DriverState
    /// Whether the driver has completed initialization and not failed since.
    public let initialized: Bool
    /// Automatic re-initializations used in the current failure episode.
    public let reinitAttempts: Int
    /// `reinit_driver_count` (0 = unlimited).
    public let reinitLimit: Int
    public let lastError: ErrorRecord?
    /// When the next automatic re-initialization is due; only set while `retrying`.
    public let nextReinitAt: Date?
    public let lastPublish: PublishRecord?
    /// The stats of the last successful `getVolumeStats`; nil until one succeeds and whenever the
    /// driver is not ready.
    public let capabilities: VolumeStats?
    /// The heartbeat (Cinder's `updated_at`): refreshed every tick while the supervisor runs,
    /// whatever the driver's state, so a stale value means the service itself is stuck or gone.
    public let updatedAt: Date
    public let serviceStatus: ServiceStatus
    /// The last 50 state transitions, oldest first.
    public let transitions: [StateTransition]
    public let counters: BackendCounters

    /// Public so API layers can build snapshots in their own tests; the supervisor makes the real ones.
    public init(id: String, host: String, volumeDriver: String, volumeBackendName: String, state: DriverState,
                initialized: Bool, reinitAttempts: Int, reinitLimit: Int, lastError: ErrorRecord?, nextReinitAt: Date?,
                lastPublish: PublishRecord?, capabilities: VolumeStats?, updatedAt: Date, serviceStatus: ServiceStatus,
                transitions: [StateTransition], counters: BackendCounters) {
        self.id = id
        self.host = host
        self.volumeDriver = volumeDriver
        self.volumeBackendName = volumeBackendName
        self.state = state
        self.initialized = initialized
        self.reinitAttempts = reinitAttempts
        self.reinitLimit = reinitLimit
        self.lastError = lastError
        self.nextReinitAt = nextReinitAt
        self.lastPublish = lastPublish
        self.capabilities = capabilities
        self.updatedAt = updatedAt
        self.serviceStatus = serviceStatus
        self.transitions = transitions
        self.counters = counters
    }

    /// What the scheduler is told: up only while the driver is ready.
    public var backendState: BackendState { state == .ready ? .up : .down }

    public static func == (lhs: BackendSnapshot, rhs: BackendSnapshot) -> Bool {
        if lhs === rhs { return true }
        return lhs.id == rhs.id && lhs.host == rhs.host && lhs.volumeDriver == rhs.volumeDriver
            && lhs.volumeBackendName == rhs.volumeBackendName && lhs.state == rhs.state && lhs.initialized == rhs.initialized
            && lhs.reinitAttempts == rhs.reinitAttempts && lhs.reinitLimit == rhs.reinitLimit && lhs.lastError == rhs.lastError
            && lhs.nextReinitAt == rhs.nextReinitAt && lhs.lastPublish == rhs.lastPublish && lhs.capabilities == rhs.capabilities
            && lhs.updatedAt == rhs.updatedAt && lhs.serviceStatus == rhs.serviceStatus && lhs.transitions == rhs.transitions
            && lhs.counters == rhs.counters
    }

    /// How many transitions a snapshot keeps.
    public static let transitionHistoryLimit = 50
}

/// The whole service at one instant: every backend ordered by id, with a version that changes
/// exactly when any visible content changes (heartbeats included), so the API can use it as an ETag
/// and cache the encoded JSON per version. Immutable; reading one is a reference-count bump.
///
/// There is deliberately one version, not a second "drivers" one that ignores heartbeats: every
/// tick changes both `updatedAt` and `lastPublish` of every backend anyway, so a second version
/// would churn just as often unless it hid visible fields, and an ETag that stays while the body
/// changes would be a lie. One re-encoding per tick is cheap.
public struct ServiceSnapshot: Sendable {
    /// Bumps by one for each change of visible content; never bumps without one.
    public let version: UInt64
    /// Cinder's `host` of this service.
    public let host: String
    /// `backend_stats_polling_interval` in seconds.
    public let tickInterval: TimeInterval
    /// Whether the supervision loop is running (between `start()` and `stop()`).
    public let running: Bool
    /// Ordered by `id`.
    public let backends: [BackendSnapshot]
    /// Publishes skipped because the previous one was still running; their reports were merged
    /// into the next one.
    public let publishesCoalesced: Int

    public init(version: UInt64, host: String, tickInterval: TimeInterval, running: Bool,
                backends: [BackendSnapshot], publishesCoalesced: Int) {
        self.version = version
        self.host = host
        self.tickInterval = tickInterval
        self.running = running
        self.backends = backends
        self.publishesCoalesced = publishesCoalesced
    }

    /// The backend with this id, found by binary search.
    public func backend(id: String) -> BackendSnapshot? {
        var low = 0
        var high = backends.count
        while low < high {
            let mid = (low + high) / 2
            if backends[mid].id < id { low = mid + 1 } else { high = mid }
        }
        return low < backends.count && backends[low].id == id ? backends[low] : nil
    }
}
