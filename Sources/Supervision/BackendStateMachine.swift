import Clocks
import Foundation

/// The supervision policy of one backend as a pure value: events go in (with the time they happen),
/// the new state is kept, and commands for the runtime come out. It never calls a driver, sleeps or
/// reads a clock, so every rule of the Cinder spec is testable with plain values. Deadlines and
/// durations are reckoned on the monotonic clock; the wall clock only dates what operators see.
///
/// Every driver call the machine asks for carries a call id; a result whose id is not the pending
/// call's (a call that timed out, or was overtaken by a manual re-initialization or a
/// reconfiguration) is ignored, so a late result can never flip the state.
struct BackendStateMachine: Sendable {
    enum CallKind: Sendable, Equatable {
        case initialization
        case stats
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

    /// Where the driver stands, each case carrying exactly the data that is valid in it: a pending
    /// initialization only while initializing, capabilities and the stats call only while ready,
    /// the deadline only while retrying, the failure only while failed. The combinations that made
    /// no sense with separate fields (ready with a due retry, failed without an error) cannot be
    /// built.
    enum State: Sendable, Equatable {
        /// Supervision has not started; shown as `initializing`.
        case notStarted
        /// `doSetup` + `checkForSetupError` are running as `call`.
        case initializing(call: Call)
        /// Initialized. `capabilities` are the last stats collected (nil until the first call
        /// succeeds); `statsCall` is the stats call still running, if any.
        case ready(capabilities: VolumeStats?, statsCall: Call?)
        /// A recoverable failure; the next automatic re-initialization is due at `due` (decided on
        /// its monotonic part, shown by its wall part).
        case retrying(ErrorRecord, due: ClockReading)
        /// A recoverable failure with the re-initialization budget used up.
        case exhausted(ErrorRecord)
        /// An unrecoverable failure, never retried automatically.
        case failed(ErrorRecord)

        /// The state as the API names it.
        var driverState: DriverState {
            switch self {
            case .notStarted, .initializing: .initializing
            case .ready: .ready
            case .retrying: .retrying
            case .exhausted: .exhausted
            case .failed: .failed
            }
        }

        /// The failure that put the driver in this state, if it is a failed one.
        var failure: ErrorRecord? {
            switch self {
            case .retrying(let failure, _), .exhausted(let failure), .failed(let failure): failure
            case .notStarted, .initializing, .ready: nil
            }
        }
    }

    /// A driver call in flight: its id and when it began.
    struct Call: Sendable, Equatable {
        var id: UInt64
        var startedAt: ClockReading
    }

    let id: String
    let host: String
    let tickInterval: TimeInterval
    private(set) var volumeDriver: String
    private(set) var volumeBackendName: String
    private(set) var supported: Bool
    private(set) var settings: BackendSettings

    private(set) var current: State = .notStarted
    /// Automatic re-initializations used in the current failure episode; kept after a recovery so
    /// operators see what it took.
    private(set) var reinitAttempts = 0
    /// The failure of the last failed state left, which operators still see after a recovery.
    private var earlierFailure: ErrorRecord?
    private(set) var transitions: [StateTransition] = []
    private(set) var counters = BackendCounters()
    private(set) var updatedAt: Date
    private(set) var lastPublish: PublishRecord?
    var adminState = AdminState()
    private var lastCallID: UInt64 = 0
    /// Transitions ever recorded (the history keeps only the last 50), so the runtime can log new ones.
    private(set) var totalTransitions = 0

    init(
        id: String, host: String, tickInterval: TimeInterval, volumeDriver: String, volumeBackendName: String,
        supported: Bool, settings: BackendSettings, now: ClockReading
    ) {
        self.id = id
        self.host = host
        self.tickInterval = tickInterval
        self.volumeDriver = volumeDriver
        self.volumeBackendName = volumeBackendName
        self.supported = supported
        self.settings = settings
        self.updatedAt = now.wall
    }

    var state: DriverState { current.driverState }

    /// Whether the driver has completed initialization and not failed since.
    var initialized: Bool {
        if case .ready = current { return true }
        return false
    }

    /// The last stats collected; only while ready.
    var capabilities: VolumeStats? {
        if case .ready(let capabilities, _) = current { return capabilities }
        return nil
    }

    /// When the next automatic re-initialization is due, as shown; only while retrying.
    var nextReinitAt: Date? {
        if case .retrying(_, let due) = current { return due.wall }
        return nil
    }

    /// The most recent failure: the current one while failed, else the one last recovered from.
    var lastError: ErrorRecord? { current.failure ?? earlierFailure }

    /// The driver call whose result the machine waits for, if any: an initialization while
    /// initializing, a stats call while ready.
    var pendingCall: Call? {
        switch current {
        case .initializing(let call), .ready(_, let call?): call
        case .notStarted, .ready, .retrying, .exhausted, .failed: nil
        }
    }

    // MARK: events

    /// The first initialization, when supervision starts.
    mutating func start(now: ClockReading) -> Command? {
        begin(now: now, reason: "start-up")
    }

    mutating func tick(now: ClockReading, jitter: Double) -> TickStep {
        updatedAt = now.wall
        switch current {
        case .ready(let capabilities, let statsCall):
            if statsCall != nil {
                if let capabilities { return .reportUp(capabilities) }
                return .noReport
            }
            let call = newCall(now: now)
            current = .ready(capabilities: capabilities, statsCall: call)
            return .collectStats(callID: call.id)
        case .retrying(_, let due):
            // A hair of slack (2% of a tick) absorbs timer jitter between an attempt's tick and the
            // tick its backoff lands on; attempts still start only on ticks, at most one per tick.
            // Monotonic: a step of the wall clock neither postpones nor hastens a retry.
            guard due.monotonic <= now.monotonic.advanced(by: tickInterval * 0.02) else { return .reportDown }
            reinitAttempts += 1
            let reason = "automatic re-initialization \(reinitAttempts) of \(limitDescription)"
            guard case .runInitialization(let callID)? = begin(now: now, reason: reason) else { return .reportDown }
            return .reinitialize(callID: callID)
        case .notStarted, .initializing, .exhausted, .failed:
            return .reportDown
        }
    }

    mutating func initializationFinished(
        callID: UInt64, result: Result<Void, DriverError>, now: ClockReading, jitter: Double
    ) -> InitStep {
        guard case .initializing(let call) = current, call.id == callID else { return .ignored }
        let duration = max(0, now.seconds(since: call.startedAt))
        counters.lastReinitDuration = duration
        counters.reinitDurationSum += duration
        counters.reinitDurationCount += 1
        switch result {
        case .success:
            let stats = newCall(now: now)
            move(
                to: .ready(capabilities: nil, statsCall: stats), at: now,
                reason: "initialized in \(Self.seconds(duration))")
            return .ready(collectStats: stats.id)
        case .failure(let error):
            fail(error, now: now, jitter: jitter, attemptStartedAt: call.startedAt)
            return .failed
        }
    }

    mutating func statsFinished(
        callID: UInt64, result: Result<VolumeStats, DriverError>, now: ClockReading, jitter: Double
    ) -> StatsStep {
        guard case .ready(_, let call?) = current, call.id == callID else { return .ignored }
        switch result {
        case .success(let stats):
            current = .ready(capabilities: stats, statsCall: nil)
            return .up(stats)
        case .failure(let error):
            // A new failure episode: the budget counts re-initializations since this failure.
            reinitAttempts = 0
            fail(error, now: now, jitter: jitter, attemptStartedAt: call.startedAt)
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
    mutating func manualReinit(now: ClockReading) -> ManualStep {
        if state == .initializing { return .alreadyRunning }
        reinitAttempts = 0
        return .started(begin(now: now, reason: "manual re-initialization"))
    }

    /// The configuration of this backend changed (driver or options): start over with a fresh
    /// counter, abandoning any call in flight. History, counters and admin state are kept.
    mutating func reconfigure(
        volumeDriver: String, volumeBackendName: String, supported: Bool,
        settings: BackendSettings, now: ClockReading
    ) -> Command? {
        self.volumeDriver = volumeDriver
        self.volumeBackendName = volumeBackendName
        self.supported = supported
        self.settings = settings
        reinitAttempts = 0
        return begin(now: now, reason: "configuration changed")
    }

    mutating func heartbeat(now: ClockReading) {
        updatedAt = now.wall
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
            state: state, reinitAttempts: reinitAttempts,
            reinitLimit: settings.reinitDriverCount, lastError: lastError, nextReinitAt: nextReinitAt,
            lastPublish: lastPublish, capabilities: capabilities, updatedAt: updatedAt,
            adminState: adminState, transitions: transitions, counters: counters)
    }

    /// The report the scheduler should get now: up with the last stats only while ready.
    func report(at now: Date) -> BackendReport? {
        if state == .ready {
            guard let capabilities else { return nil }
            return BackendReport(
                backendID: id, host: host, timestamp: now, backendState: .up,
                adminState: adminState, capabilities: capabilities)
        }
        return downReport(at: now)
    }

    func downReport(at now: Date) -> BackendReport {
        BackendReport(
            backendID: id, host: host, timestamp: now, backendState: .down,
            adminState: adminState, capabilities: nil)
    }

    var limitDescription: String {
        settings.reinitDriverCount == 0 ? "unlimited" : String(settings.reinitDriverCount)
    }

    // MARK: rules

    /// Moves to `initializing` and asks for an initialization call, unless the driver is
    /// unsupported and not enabled: then it fails unrecoverably without being called.
    private mutating func begin(now: ClockReading, reason: String) -> Command? {
        let call = newCall(now: now)
        move(to: .initializing(call: call), at: now, reason: reason)
        if !supported && !settings.enableUnsupportedDriver {
            fail(
                DriverError(
                    .driverNotSupported,
                    "driver \(volumeDriver) is marked unsupported and enable_unsupported_driver is false"),
                now: now, jitter: 1)
            return nil
        }
        return .runInitialization(callID: call.id)
    }

    /// - Parameter attemptStartedAt: when the failed call began. An attempt that failed within one
    ///   tick interval counts its backoff from its start (a tick), so the next attempt lands on a
    ///   tick instead of just after one, which would cost almost a whole extra tick of recovery. A
    ///   longer attempt (a hang until its timeout) counts from its end, so backoff still spaces out
    ///   attempts against a dead array.
    private mutating func fail(
        _ error: DriverError, now: ClockReading, jitter: Double, attemptStartedAt: ClockReading? = nil
    ) {
        let failure = ErrorRecord(error, at: now.wall)
        counters.failuresByKind[error.kind, default: 0] += 1
        let what = "\(error.errorClass.rawValue) \(error.kind.rawValue): \(error.message)"
        if error.errorClass == .unrecoverable {
            move(to: .failed(failure), at: now, reason: what)
            return
        }
        let limit = settings.reinitDriverCount
        if limit > 0 && reinitAttempts >= limit {
            move(
                to: .exhausted(failure), at: now,
                reason: "\(what); \(reinitAttempts) of \(limit) re-initializations used")
            return
        }
        let delay = ReinitBackoff.delay(
            attemptsUsed: reinitAttempts, tickInterval: tickInterval,
            cap: settings.reinitBackoffMax, jitter: jitter)
        var anchor = now
        if let started = attemptStartedAt, now.seconds(since: started) < tickInterval { anchor = started }
        move(
            to: .retrying(failure, due: anchor.advanced(by: delay)), at: now,
            reason: "\(what); next attempt in \(Self.seconds(delay))")
    }

    /// Enters `newState` and records the transition; the failure of a failed state left behind
    /// stays visible as `lastError`.
    private mutating func move(to newState: State, at now: ClockReading, reason: String) {
        if let failure = current.failure { earlierFailure = failure }
        let from: DriverState? = current == .notStarted ? nil : current.driverState
        current = newState
        record(StateTransition(at: now.wall, from: from, to: newState.driverState, reason: reason))
    }

    private mutating func record(_ transition: StateTransition) {
        totalTransitions += 1
        transitions.append(transition)
        if transitions.count > BackendSnapshot.transitionHistoryLimit {
            transitions.removeFirst(transitions.count - BackendSnapshot.transitionHistoryLimit)
        }
    }

    private mutating func newCall(now: ClockReading) -> Call {
        lastCallID += 1
        return Call(id: lastCallID, startedAt: now)
    }

    static func seconds(_ value: TimeInterval) -> String {
        String(format: "%.3gs", value)
    }
}
