import Foundation

/// The runtime's mutable record of one supervised backend. Every field is guarded by the owning
/// `SupervisorSet`'s lock; the class exists so in-flight calls can tell, by identity, whether the
/// backend they were started for is still the one supervised.
final class BackendRecord: @unchecked Sendable {
    var machine: BackendStateMachine
    var driver: any VolumeDriver
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
    var roundEntry: (callID: UInt64, round: TickRound)?
    /// Manual re-initializations waiting for the current initialization to finish.
    var waiters: [UInt64: @Sendable (ReinitWaitOutcome) -> Void] = [:]

    init(machine: BackendStateMachine, driver: any VolumeDriver) {
        self.machine = machine
        self.driver = driver
        self.published = machine.snapshot
    }

    /// Whether a manual re-initialization's waiters can be answered: nothing is running and the
    /// driver is not initializing.
    var settled: Bool {
        machine.pendingCall == nil && machine.state != .initializing
    }
}

/// The reports of one tick, gathered while stats calls finish, published together as one batch.
final class TickRound: @unchecked Sendable {
    var reports: [BackendReport] = []
    /// Stats calls this round still waits for.
    var outstanding = 0
}

/// One driver call the runtime runs on a thread of its own.
struct DriverCall: Sendable {
    let record: BackendRecord
    let backendID: String
    let driver: any VolumeDriver
    let epoch: UInt64
    let callID: UInt64
    let kind: BackendStateMachine.CallKind
    let timeout: TimeInterval
}

/// What a driver call returned.
enum DriverCallResult: Sendable {
    case initialization(Result<Void, DriverError>)
    case stats(Result<VolumeStats, DriverError>)
}
