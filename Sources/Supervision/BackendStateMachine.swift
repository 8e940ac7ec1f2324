import Foundation

/// The supervision policy of one backend as a pure value: events go in (with the time they happen),
/// the new state is kept, and commands for the runtime come out. It never calls a driver, sleeps or
/// reads a clock, so every rule of the Cinder spec is testable with plain values.
///
/// Every driver call the machine asks for carries a call id; a result whose id is not the pending
/// call's (a call that timed out, or was overtaken by a manual re-initialization or a
/// reconfiguration) is ignored, so a late result can never flip the state.
struct BackendStateMachine: Sendable {
    enum CallKind: Sendable, Equatable {
        case initialization
        case stats
    }

    struct PendingCall: Sendable, Equatable {
        var id: UInt64
        var kind: CallKind
        var startedAt: Date
    }

    /// A driver call the runtime must make.
    enum Command: Sendable, Equatable {
        case runInitialization(callID: UInt64)
        case collectStats(callID: UInt64)
    }

    /// What one tick means for this backend.
    enum TickStep: Sendable, Equatable {
        /// Ready: collect stats and publish them.
        case collectStats(callID: UInt64)
        /// Ready, but the previous stats call is still running: publish the last stats again.
        case reportUp(VolumeStats)
        /// Ready without stats yet (the first collection is still running): nothing to publish.
        case noReport
        /// Not ready: tell the scheduler it is down.
        case reportDown
        /// Retrying and due: re-initialize now (and report down meanwhile).
        case reinitialize(callID: UInt64)
    }

    /// What the end of an initialization call means.
    enum InitStep: Sendable, Equatable {
        /// A result for a call that is no longer pending.
        case ignored
        /// Ready: collect the first stats now.
        case ready(collectStats: UInt64)
        /// The attempt failed; the state is now retrying, exhausted or failed.
        case failed
    }

    /// What the end of a stats call means.
    enum StatsStep: Sendable, Equatable {
        case ignored
        case up(VolumeStats)
        /// The stats call failed; the driver left `ready`.
        case down
    }

    enum ManualStep: Sendable, Equatable {
        case alreadyRunning
        /// Started; nil when the driver failed at once without being called (unsupported).
        case started(Command?)
    }

    let id: String
    let host: String
    let tickInterval: TimeInterval
    private(set) var volumeDriver: String
    private(set) var volumeBackendName: String
    private(set) var supported: Bool
    private(set) var settings: BackendSettings

    private(set) var state: DriverState = .initializing
    private(set) var initialized = false
    private(set) var reinitAttempts = 0
    private(set) var lastError: ErrorRecord?
    private(set) var nextReinitAt: Date?
    private(set) var capabilities: VolumeStats?
    private(set) var transitions: [StateTransition] = []
    private(set) var counters = BackendCounters()
    private(set) var pendingCall: PendingCall?
    private(set) var updatedAt: Date
    private(set) var lastPublish: PublishRecord?
    var serviceStatus = ServiceStatus()
    private var lastCallID: UInt64 = 0
    /// Whether supervision has begun; the first transition has no `from`.
    private var started = false
    /// Transitions ever recorded (the history keeps only the last 50), so the runtime can log new ones.
    private(set) var totalTransitions = 0

    init(
        id: String, host: String, tickInterval: TimeInterval, volumeDriver: String, volumeBackendName: String,
        supported: Bool, settings: BackendSettings, now: Date
    ) {
        self.id = id
        self.host = host
        self.tickInterval = tickInterval
        self.volumeDriver = volumeDriver
        self.volumeBackendName = volumeBackendName
        self.supported = supported
        self.settings = settings
        self.updatedAt = now
    }

    // MARK: events

    /// The first initialization, when supervision starts.
    mutating func start(now: Date) -> Command? {
        begin(now: now, reason: "start-up")
    }

    mutating func tick(now: Date, jitter: Double) -> TickStep {
        updatedAt = now
        switch state {
        case .ready:
            if let pending = pendingCall, pending.kind == .stats {
                if let capabilities { return .reportUp(capabilities) }
                return .noReport
            }
            return .collectStats(callID: newCall(.stats, now: now))
        case .retrying:
            // A hair of slack (2% of a tick) absorbs timer jitter between an attempt's tick and the
            // tick its backoff lands on; attempts still start only on ticks, at most one per tick.
            guard let due = nextReinitAt, due <= now.addingTimeInterval(tickInterval * 0.02) else { return .reportDown }
            reinitAttempts += 1
            let reason = "automatic re-initialization \(reinitAttempts) of \(limitDescription)"
            guard case .runInitialization(let callID)? = begin(now: now, reason: reason) else { return .reportDown }
            return .reinitialize(callID: callID)
        case .initializing, .exhausted, .failed:
            return .reportDown
        }
    }

    mutating func initializationFinished(callID: UInt64, result: Result<Void, DriverError>, now: Date, jitter: Double)
        -> InitStep
    {
        guard let pending = pendingCall, pending.id == callID, pending.kind == .initialization else { return .ignored }
        let duration = max(0, now.timeIntervalSince(pending.startedAt))
        counters.lastReinitDuration = duration
        counters.reinitDurationSum += duration
        counters.reinitDurationCount += 1
        pendingCall = nil
        switch result {
        case .success:
            initialized = true
            nextReinitAt = nil
            move(to: .ready, at: now, reason: "initialized in \(Self.seconds(duration))")
            return .ready(collectStats: newCall(.stats, now: now))
        case .failure(let error):
            fail(error, now: now, jitter: jitter, attemptStartedAt: pending.startedAt)
            return .failed
        }
    }

    mutating func statsFinished(callID: UInt64, result: Result<VolumeStats, DriverError>, now: Date, jitter: Double)
        -> StatsStep
    {
        guard let pending = pendingCall, pending.id == callID, pending.kind == .stats else { return .ignored }
        pendingCall = nil
        switch result {
        case .success(let stats):
            capabilities = stats
            return .up(stats)
        case .failure(let error):
            // A new failure episode: the budget counts re-initializations since this failure.
            reinitAttempts = 0
            fail(error, now: now, jitter: jitter, attemptStartedAt: pending.startedAt)
            return .down
        }
    }

    /// The pending call ran past its timeout: a recoverable failure of kind `timeout`.
    func timeoutError(for kind: CallKind) -> DriverError {
        switch kind {
        case .initialization:
            return DriverError(
                .timeout,
                "initialization did not finish within \(Self.seconds(settings.driverInitTimeout)) (driver_init_timeout)"
            )
        case .stats:
            return DriverError(
                .timeout, "get_volume_stats did not finish within \(Self.seconds(settings.statsTimeout))")
        }
    }

    /// An operator asked for a re-initialization: any state but `initializing`, counter reset
    /// whatever the error class was.
    mutating func manualReinit(now: Date) -> ManualStep {
        if state == .initializing { return .alreadyRunning }
        reinitAttempts = 0
        return .started(begin(now: now, reason: "manual re-initialization"))
    }

    /// The configuration of this backend changed (driver or options): start over with a fresh
    /// counter, abandoning any call in flight. History, counters and service status are kept.
    mutating func reconfigure(
        volumeDriver: String, volumeBackendName: String, supported: Bool,
        settings: BackendSettings, now: Date
    ) -> Command? {
        self.volumeDriver = volumeDriver
        self.volumeBackendName = volumeBackendName
        self.supported = supported
        self.settings = settings
        reinitAttempts = 0
        pendingCall = nil
        return begin(now: now, reason: "configuration changed")
    }

    mutating func heartbeat(now: Date) {
        updatedAt = now
    }

    mutating func recordPublish(_ record: PublishRecord) {
        lastPublish = record
        if record.ok {
            counters.publishesOK += 1
        } else if record.refused {
            counters.publishesRefused += 1
        } else {
            counters.publishesFailed += 1
        }
    }

    // MARK: views

    var snapshot: BackendSnapshot {
        BackendSnapshot(
            id: id, host: host, volumeDriver: volumeDriver, volumeBackendName: volumeBackendName,
            state: state, initialized: initialized, reinitAttempts: reinitAttempts,
            reinitLimit: settings.reinitDriverCount, lastError: lastError, nextReinitAt: nextReinitAt,
            lastPublish: lastPublish, capabilities: capabilities, updatedAt: updatedAt,
            serviceStatus: serviceStatus, transitions: transitions, counters: counters)
    }

    /// The report the scheduler should get now: up with the last stats only while ready.
    func report(at now: Date) -> BackendReport? {
        if state == .ready {
            guard let capabilities else { return nil }
            return BackendReport(
                backendID: id, host: host, timestamp: now, backendState: .up,
                serviceStatus: serviceStatus, capabilities: capabilities)
        }
        return downReport(at: now)
    }

    func downReport(at now: Date) -> BackendReport {
        BackendReport(
            backendID: id, host: host, timestamp: now, backendState: .down,
            serviceStatus: serviceStatus, capabilities: nil)
    }

    var limitDescription: String {
        settings.reinitDriverCount == 0 ? "unlimited" : String(settings.reinitDriverCount)
    }

    // MARK: rules

    /// Moves to `initializing` and asks for an initialization call, unless the driver is
    /// unsupported and not enabled: then it fails unrecoverably without being called.
    private mutating func begin(now: Date, reason: String) -> Command? {
        initialized = false
        capabilities = nil
        nextReinitAt = nil
        move(to: .initializing, at: now, reason: reason)
        if !supported && !settings.enableUnsupportedDriver {
            pendingCall = nil
            fail(
                DriverError(
                    .driverNotSupported,
                    "driver \(volumeDriver) is marked unsupported and enable_unsupported_driver is false"),
                now: now, jitter: 1)
            return nil
        }
        return .runInitialization(callID: newCall(.initialization, now: now))
    }

    /// - Parameter attemptStartedAt: when the failed call began. An attempt that failed within one
    ///   tick interval counts its backoff from its start (a tick), so the next attempt lands on a
    ///   tick instead of just after one, which would cost almost a whole extra tick of recovery. A
    ///   longer attempt (a hang until its timeout) counts from its end, so backoff still spaces out
    ///   attempts against a dead array.
    private mutating func fail(_ error: DriverError, now: Date, jitter: Double, attemptStartedAt: Date? = nil) {
        lastError = ErrorRecord(error, at: now)
        counters.failuresByKind[error.kind, default: 0] += 1
        initialized = false
        capabilities = nil
        pendingCall = nil
        let what = "\(error.errorClass.rawValue) \(error.kind.rawValue): \(error.message)"
        if error.errorClass == .unrecoverable {
            nextReinitAt = nil
            move(to: .failed, at: now, reason: what)
            return
        }
        let limit = settings.reinitDriverCount
        if limit > 0 && reinitAttempts >= limit {
            nextReinitAt = nil
            move(to: .exhausted, at: now, reason: "\(what); \(reinitAttempts) of \(limit) re-initializations used")
            return
        }
        let delay = ReinitBackoff.delay(
            attemptsUsed: reinitAttempts, tickInterval: tickInterval,
            cap: settings.reinitBackoffMax, jitter: jitter)
        var anchor = now
        if let started = attemptStartedAt, now.timeIntervalSince(started) < tickInterval { anchor = started }
        nextReinitAt = anchor.addingTimeInterval(delay)
        move(to: .retrying, at: now, reason: "\(what); next attempt in \(Self.seconds(delay))")
    }

    private mutating func move(to newState: DriverState, at now: Date, reason: String) {
        let from: DriverState? = started ? state : nil
        started = true
        state = newState
        record(StateTransition(at: now, from: from, to: newState, reason: reason))
    }

    private mutating func record(_ transition: StateTransition) {
        totalTransitions += 1
        transitions.append(transition)
        if transitions.count > BackendSnapshot.transitionHistoryLimit {
            transitions.removeFirst(transitions.count - BackendSnapshot.transitionHistoryLimit)
        }
    }

    private mutating func newCall(_ kind: CallKind, now: Date) -> UInt64 {
        lastCallID += 1
        pendingCall = PendingCall(id: lastCallID, kind: kind, startedAt: now)
        return lastCallID
    }

    static func seconds(_ value: TimeInterval) -> String {
        String(format: "%.3gs", value)
    }
}
