import Foundation

/// The runtime's record of one supervised backend: a value inside `SupervisorSet.State`, changed
/// only under its lock. Calls in flight tell by `incarnation` and `driverEpoch` whether the backend
/// they were started for is still the one supervised (a backend removed and added again under the
/// same id is a new incarnation).
struct BackendRecord: Sendable {
    var machine: BackendStateMachine
    var driver: any VolumeDriver
    /// Unique per `addBackend` within one supervisor set.
    let incarnation: UInt64
    /// Bumped when the driver is replaced, so calls into the old driver are recognised as stale.
    var driverEpoch: UInt64 = 0
    /// The snapshot readers last saw; compared after every event to decide whether the version bumps.
    var published: BackendSnapshot
    /// Transitions already logged (see `BackendStateMachine.totalTransitions`).
    var loggedTransitions = 0
    /// How loudly the next transitions are logged (repeats of one failure are quiet).
    var logPolicy = TransitionLogPolicy()
    /// Calls into the current driver that timed out and still occupy their thread.
    var abandonedCalls: Set<UInt64> = []
    /// The tick round waiting for this backend's stats call, if any.
    var roundEntry: RoundEntry?
    /// Manual re-initializations waiting for the current initialization to finish.
    var waiters: [UInt64: @Sendable (ReinitWaitOutcome) -> Void] = [:]

    init(machine: BackendStateMachine, driver: any VolumeDriver, incarnation: UInt64) {
        self.machine = machine
        self.driver = driver
        self.incarnation = incarnation
        self.published = machine.snapshot
    }

    /// Whether a manual re-initialization's waiters can be answered: nothing is running and the
    /// driver is not initializing.
    var settled: Bool {
        machine.pendingCall == nil && machine.state != .initializing
    }
}

/// Which round a backend's stats call answers.
struct RoundEntry: Sendable, Equatable {
    var callID: UInt64
    var round: UInt64
}

/// The reports of one tick, gathered while stats calls finish, published together as one batch.
struct TickRound: Sendable {
    var reports: [BackendReport] = []
    /// Stats calls this round still waits for.
    var outstanding = 0
}

/// One driver call, run by a worker of the driver pool.
struct DriverCall: Sendable {
    let backendID: String
    let incarnation: UInt64
    let driver: any VolumeDriver
    let epoch: UInt64
    let callID: UInt64
    let kind: BackendStateMachine.CallKind
    let timeout: TimeInterval

    /// Calls the driver; runs on a pool worker and may block as long as the driver does.
    func run() -> DriverCallResult {
        switch kind {
        case .initialization:
            do {
                try driver.doSetup()
                try driver.checkForSetupError()
                return .initialization(.success(()))
            } catch {
                return .initialization(.failure(DriverError.classify(error)))
            }
        case .stats:
            do {
                return .stats(.success(try driver.getVolumeStats()))
            } catch {
                return .stats(.failure(DriverError.classify(error)))
            }
        }
    }
}

/// What a driver call returned.
enum DriverCallResult: Sendable {
    case initialization(Result<Void, DriverError>)
    case stats(Result<VolumeStats, DriverError>)

    static func failure(_ error: DriverError, for kind: BackendStateMachine.CallKind) -> DriverCallResult {
        kind == .initialization ? .initialization(.failure(error)) : .stats(.failure(error))
    }
}

/// A call's result on its way from a pool worker to the supervision queue.
struct ReturnedCall: Sendable {
    let call: DriverCall
    let result: DriverCallResult
}
