import Clocks
import Dispatch
import Foundation
import Logging
import Synchronization

/// Supervises every enabled backend of one volumed service: initializes them concurrently, runs
/// the publish tick, re-initializes failed drivers under the `reinit_driver_count` budget, and keeps
/// an immutable, versioned snapshot for the REST API. The one type a wiring layer needs.
///
/// What runs where: every piece of bookkeeping is a mutating method of `State`, which sits in one
/// `Mutex` and is held only for bookkeeping; what an event decided (driver calls, publishes, logs,
/// callbacks) comes back as `Effects` and is carried out after the lock is released. The tick,
/// call timeouts, driver results and callbacks run on one serial queue (`control`) that never
/// blocks; driver calls and publishes run on the bounded `DriverThreadPool` (never on the tick,
/// the HTTP server or Swift concurrency's pool), one call per backend at a time unless a call
/// timed out, one publish at a time.
package final class SupervisorSet: Sendable {
    /// Calls into one driver that may hang past their timeout at once; past it, a new
    /// initialization fails at once with `timeout` instead of taking another worker.
    package static let maxAbandonedCallsPerBackend = 3
    /// The driver pool's bound: workers never exceed it, hung ones included (a thread per running
    /// call peaked at 171 threads with 1,000 backends). At the bound, the pool logs it and calls
    /// wait for a worker.
    package static let maxDriverThreads = 24

    enum Phase { case idle, running, stopped }

    /// Side effects decided under the lock and carried out after it is released.
    struct Effects: Sendable {
        var calls: [DriverCall] = []
        /// Calls answered without running (a driver with too many hung calls).
        var answered: [ReturnedCall] = []
        var publishes: [[BackendReport]] = []
        var waiterTimeouts: [(backendID: String, waiterID: UInt64, after: TimeInterval)] = []
        var callbacks: [@Sendable () -> Void] = []
        var logs: [@Sendable () -> Void] = []
    }

    let settings: ServiceSettings
    let publisher: any CapabilityPublisher
    let logger: Logger
    /// Runs the tick, timeouts, driver results and callbacks; never blocks.
    let control = DispatchQueue(label: "volumed.supervision.control")
    /// Runs driver calls and publishes.
    let driverThreads: DriverThreadPool
    let state: Mutex<State>
    /// Driver results waiting for `control`, applied there in one batch under one lock.
    let returned = Mutex<[ReturnedCall]>([])

    /// - Parameters:
    ///   - publisher: where each tick's reports go.
    ///   - clock, jitter: injected for tests; the defaults are the real ones.
    package init(
        settings: ServiceSettings, publisher: any CapabilityPublisher, clock: any ServiceClock = SystemClock(),
        jitter: any JitterSource = SystemJitter(), logger: Logger
    ) throws(SupervisionError) {
        try settings.validate()
        self.settings = settings
        self.publisher = publisher
        self.logger = logger
        self.state = Mutex(State(settings: settings, clock: clock, jitter: jitter, logger: logger))
        self.driverThreads = DriverThreadPool(
            name: "volumed.driver", limits: Self.driverPoolLimits(tick: settings.backendStatsPollingInterval),
            logger: logger)
    }

    /// A few workers at once (as many as cores, 2 to 4: most calls are a few system calls), twice
    /// as many whenever a call waited 50 ms for one (a slow or hung driver), never more than
    /// `maxDriverThreads`; an idle worker waits two ticks (at least 10 s) for the next call.
    static func driverPoolLimits(tick: TimeInterval) -> DriverThreadPool.Limits {
        DriverThreadPool.Limits(
            coreThreads: min(4, max(2, ProcessInfo.processInfo.activeProcessorCount)), maxThreads: maxDriverThreads,
            growAfter: 0.05, idleTimeout: max(10, 2 * tick))
    }

    deinit {
        state.withLock { $0.timer?.cancel() }
        driverThreads.close()
    }

    // MARK: life cycle

    /// Starts every backend's initialization concurrently and the publish tick. Returns at once.
    /// Calling it again, or after `stop()`, does nothing.
    package func start() {
        withState { state, effects in
            guard state.phase == .idle else { return }
            state.phase = .running
            state.changed = true
            state.noteLoopTurn()
            let interval = settings.backendStatsPollingInterval
            let count = state.backends.count
            effects.logs.append { [logger] in
                logger.info("supervision started", metadata: ["backends": "\(count)", "tick_interval": "\(interval)"])
            }
            let now = state.clock.now()
            for index in state.backends.indices {
                if let command = state.backends[index].machine.start(now: now) {
                    state.enqueue(command, at: index, effects: &effects)
                }
                state.commit(index, effects: &effects)
            }
            let timer = DispatchSource.makeTimerSource(queue: control)
            timer.schedule(
                deadline: .now() + interval, repeating: interval, leeway: .milliseconds(Int(min(interval * 50, 1000))))
            timer.setEventHandler { [weak self] in self?.tick() }
            state.timer = timer
            timer.resume()
        }
    }

    /// Stops the tick and ignores any driver call still running; waiting manual re-initializations
    /// are answered `.removed`. Hung driver calls keep their workers until they return. Final.
    package func stop() {
        withState { state, effects in
            guard state.phase != .stopped else { return }
            state.phase = .stopped
            state.changed = true
            state.timer?.cancel()
            state.timer = nil
            for index in state.backends.indices { state.releaseWaiters(of: index, effects: &effects) }
            effects.logs.append { [logger] in logger.info("supervision stopped") }
        }
        driverThreads.close()
    }

    // MARK: reading

    /// When the supervision loop last ticked (its start until the first tick); nil before it
    /// started. Kept out of `snapshot()` on purpose: it moves every tick, the snapshot only on change.
    package func lastTickAt() -> Date? {
        state.withLock { $0.lastTickDate }
    }

    /// The current state of every backend. Cheap: the value is rebuilt at most once per change and
    /// shared by every reader until the next one.
    package func snapshot() -> ServiceSnapshot {
        state.withLock { state in
            if let cached = state.cachedSnapshot { return cached }
            let snapshot = ServiceSnapshot(
                version: state.version, host: settings.host, tickInterval: settings.backendStatsPollingInterval,
                running: state.phase == .running, backends: state.backends.map(\.published),
                publishesCoalesced: state.publishesCoalesced)
            state.cachedSnapshot = snapshot
            return snapshot
        }
    }

    /// The version the next `snapshot()` will carry, without building it.
    package var currentVersion: UInt64 {
        state.withLock { $0.version }
    }

    // MARK: operator actions

    /// Starts a re-initialization now, whatever the state but `initializing`, with the attempt
    /// counter reset (also after an unrecoverable failure: the operator may have fixed the cause).
    @discardableResult
    package func reinit(id: String) -> ReinitResult {
        withState { state, effects in state.manualReinit(id: id, waiter: nil, effects: &effects) }
    }

    /// Like `reinit(id:)`, and calls `completion` exactly once: when the initialization this call
    /// started (or the one already running) has finished, including the first stats collection
    /// after a success; when `timeout` seconds passed first; or `.removed` when there is no such
    /// backend, it was removed, or supervision is not running. `completion` runs on an internal
    /// queue and must not block. No thread waits meanwhile.
    @discardableResult
    package func reinit(
        id: String, waitUpTo timeout: TimeInterval,
        completion: @escaping @Sendable (ReinitWaitOutcome) -> Void
    ) -> ReinitResult {
        withState { state, effects in
            state.manualReinit(id: id, waiter: (timeout, { _, outcome in completion(outcome) }), effects: &effects)
        }
    }

    /// `reinit(id:waitUpTo:completion:)` for async callers; suspends without holding a thread.
    package func reinit(id: String, waitUpTo timeout: TimeInterval) async -> (ReinitResult, ReinitWaitOutcome) {
        await withCheckedContinuation { continuation in
            withState { state, effects in
                _ = state.manualReinit(
                    id: id, waiter: (timeout, { result, outcome in continuation.resume(returning: (result, outcome)) }),
                    effects: &effects)
            }
        }
    }

    /// Sets the service status (os-services enable / disable with a reason) and, while running,
    /// tells the scheduler at once. Returns the backend's new snapshot.
    @discardableResult
    package func setServiceStatus(id: String, disabled: Bool, reason: String?) throws(SupervisionError)
        -> BackendSnapshot
    {
        let frozen = snapshot().backend(id: id)?.adminState.frozen ?? false
        return try setServiceStatus(
            id: id, to: AdminState(disabled: disabled, disabledReason: disabled ? reason : nil, frozen: frozen))
    }

    /// Sets the whole service status (as an operator decision store restores or records it) and,
    /// while running, tells the scheduler at once. Returns the backend's new snapshot.
    @discardableResult
    package func setServiceStatus(id: String, to status: AdminState) throws(SupervisionError) -> BackendSnapshot {
        let result: Result<BackendSnapshot, SupervisionError> = withState { state, effects in
            guard let index = state.positions[id] else { return .failure(.backendNotFound(id)) }
            state.backends[index].machine.adminState = status
            state.commit(index, effects: &effects)
            if state.phase == .running, let report = state.backends[index].machine.report(at: state.clock.now().wall) {
                state.submitPublish([report], effects: &effects)
            }
            let status = state.backends[index].machine.adminState
            let message: Logger.Message = state.phase == .running ? "service status changed" : "service status set"
            var metadata: Logger.Metadata = ["backend": "\(id)", "status": "\(status.status)"]
            if let reason = status.disabledReason { metadata["disabled_reason"] = "\(reason)" }
            effects.logs.append { [logger, metadata] in logger.notice(message, metadata: metadata) }
            return .success(state.backends[index].published)
        }
        return try result.get()
    }

    // MARK: set management (configuration reload)

    /// Adds a backend with the service status an operator decided for it (so a backend that comes
    /// back is never published, even once, without its flags); while running, its initialization
    /// starts at once.
    package func addBackend(_ definition: BackendDefinition, adminState: AdminState = AdminState())
        throws(SupervisionError)
    {
        try Self.validate(definition)
        let result: Result<Void, SupervisionError> = withState { state, effects in
            guard state.positions[definition.id] == nil else { return .failure(.duplicateBackend(definition.id)) }
            state.add(definition, adminState: adminState, effects: &effects)
            effects.logs.append { [logger] in
                logger.info(
                    "backend added",
                    metadata: ["backend": "\(definition.id)", "volume_driver": "\(definition.driver.volumeDriverName)"])
            }
            return .success(())
        }
        try result.get()
    }

    /// Stops supervising a backend; while running, the scheduler is told it is down. A driver call
    /// still running is left to finish on its worker and its result is ignored.
    package func removeBackend(id: String) throws(SupervisionError) {
        let result: Result<Void, SupervisionError> = withState { state, effects in
            guard let index = state.positions[id] else { return .failure(.backendNotFound(id)) }
            state.remove(at: index, effects: &effects)
            effects.logs.append { [logger] in logger.info("backend removed", metadata: ["backend": "\(id)"]) }
            return .success(())
        }
        try result.get()
    }

    /// Replaces a backend's driver and options and re-initializes it with a fresh attempt counter.
    /// Its history, counters and service status are kept; calls into the old driver are ignored.
    package func replaceBackend(_ definition: BackendDefinition) throws(SupervisionError) {
        try Self.validate(definition)
        let result: Result<Void, SupervisionError> = withState { state, effects in
            guard let index = state.positions[definition.id] else {
                return .failure(.backendNotFound(definition.id))
            }
            state.replace(at: index, with: definition, effects: &effects)
            effects.logs.append { [logger] in
                logger.info(
                    "backend reconfigured",
                    metadata: ["backend": "\(definition.id)", "volume_driver": "\(definition.driver.volumeDriverName)"])
            }
            return .success(())
        }
        try result.get()
    }

    // MARK: internals shared by the extensions

    /// Runs `body` under the lock, bumps the version once if anything visible changed, then
    /// carries out the effects outside the lock.
    func withState<T: Sendable>(_ body: (inout State, inout Effects) -> T) -> T {
        let (result, effects) = state.withLock { state in
            var effects = Effects()
            let result = body(&state, &effects)
            state.finishEvent()
            return (result, effects)
        }
        perform(effects)
        return result
    }

    private func perform(_ effects: Effects) {
        for log in effects.logs { log() }
        if !effects.calls.isEmpty { launch(effects.calls) }
        for answer in effects.answered { deliver(answer) }
        for batch in effects.publishes { startPublish(batch) }
        for waiter in effects.waiterTimeouts {
            scheduleWaiterTimeout(backendID: waiter.backendID, waiterID: waiter.waiterID, after: waiter.after)
        }
        for callback in effects.callbacks { control.async(execute: callback) }
    }

    private func scheduleWaiterTimeout(backendID: String, waiterID: UInt64, after timeout: TimeInterval) {
        let delay = timeout.isFinite ? max(0, min(timeout, 86_400)) : 86_400
        control.asyncAfter(deadline: .now() + delay) { [weak self] in
            self?.withState { state, effects in
                guard let index = state.positions[backendID],
                    let completion = state.backends[index].waiters.removeValue(forKey: waiterID)
                else { return }
                let snapshot = state.backends[index].published
                effects.callbacks.append { completion(.timedOut(snapshot)) }
            }
        }
    }

    private static func validate(_ definition: BackendDefinition) throws(SupervisionError) {
        let id = definition.id
        if id.isEmpty || id.contains(where: { $0 == "@" || $0 == "#" || $0.isWhitespace || $0.isNewline }) {
            throw .invalidBackendID(id)
        }
        try definition.settings.validate()
    }
}

extension SupervisorSet {
    /// Everything the supervisor knows that changes, behind `SupervisorSet.state`'s lock. Its
    /// methods do the bookkeeping of one event each and say what to do next through `Effects`.
    struct State {
        let settings: ServiceSettings
        let clock: any ServiceClock
        let jitter: any JitterSource
        let logger: Logger

        var phase = Phase.idle
        /// Every backend, ordered by id, so a snapshot is built and a tick runs without hashing.
        var backends: [BackendRecord] = []
        /// Where each backend sits in `backends`.
        var positions: [String: Int] = [:]
        var lastIncarnation: UInt64 = 0
        /// Tick rounds still waiting for stats calls, by round number.
        var rounds: [UInt64: TickRound] = [:]
        var lastRound: UInt64 = 0
        var version: UInt64 = 0
        var changed = false
        var cachedSnapshot: ServiceSnapshot?
        var timer: (any DispatchSourceTimer)?
        var publishInFlight = false
        var pendingPublish: [String: BackendReport] = [:]
        var publishesCoalesced = 0
        var lastWaiterID: UInt64 = 0
        /// When the loop last turned (its start, then each tick): wall time for readers, monotonic
        /// nanoseconds for the liveness check, which a clock step must not fool.
        var lastTickDate: Date?
        var lastTickUptime: UInt64 = 0

        init(settings: ServiceSettings, clock: any ServiceClock, jitter: any JitterSource, logger: Logger) {
            self.settings = settings
            self.clock = clock
            self.jitter = jitter
            self.logger = logger
        }

        /// Ends an event: bumps the version once if anything visible changed.
        mutating func finishEvent() {
            guard changed else { return }
            version &+= 1
            cachedSnapshot = nil
            changed = false
        }

        func record(_ id: String) -> BackendRecord? {
            positions[id].map { backends[$0] }
        }

        /// Publishes the backend's new snapshot to readers if it differs, and logs new transitions.
        mutating func commit(_ index: Int, effects: inout Effects) {
            let snapshot = backends[index].machine.snapshot
            guard snapshot != backends[index].published else { return }
            backends[index].published = snapshot
            changed = true
            let total = backends[index].machine.totalTransitions
            let fresh = min(total - backends[index].loggedTransitions, snapshot.transitions.count)
            backends[index].loggedTransitions = total
            guard fresh > 0 else { return }
            for transition in snapshot.transitions.suffix(fresh) {
                let (level, repeats) = backends[index].logPolicy.level(
                    for: transition, lastError: snapshot.lastError)
                effects.logs.append { [logger] in
                    TransitionLogPolicy.log(transition, of: snapshot, level: level, repeats: repeats, to: logger)
                }
            }
        }

        mutating func add(_ definition: BackendDefinition, adminState: AdminState, effects: inout Effects) {
            var machine = makeMachine(definition)
            machine.adminState = adminState
            lastIncarnation &+= 1
            let index = backends.firstIndex { $0.machine.id > definition.id } ?? backends.endIndex
            backends.insert(
                BackendRecord(machine: machine, driver: definition.driver, incarnation: lastIncarnation), at: index)
            reindex(from: index)
            changed = true
            if phase == .running, let command = backends[index].machine.start(now: clock.now()) {
                enqueue(command, at: index, effects: &effects)
            }
            commit(index, effects: &effects)
        }

        mutating func remove(at index: Int, effects: inout Effects) {
            let now = clock.now().wall
            settleRoundEntry(of: index, now: now, removing: true, effects: &effects)
            releaseWaiters(of: index, effects: &effects)
            let record = backends.remove(at: index)
            positions[record.machine.id] = nil
            reindex(from: index)
            changed = true
            if phase == .running { submitPublish([record.machine.downReport(at: now)], effects: &effects) }
        }

        mutating func replace(at index: Int, with definition: BackendDefinition, effects: inout Effects) {
            let now = clock.now()
            backends[index].driver = definition.driver
            backends[index].driverEpoch &+= 1
            backends[index].abandonedCalls = []
            if phase == .running {
                let command = backends[index].machine.reconfigure(
                    volumeDriver: definition.driver.volumeDriverName, volumeBackendName: definition.volumeBackendName,
                    supported: definition.driver.supported, settings: definition.settings, now: now)
                settleRoundEntry(of: index, now: now.wall, effects: &effects)
                if let command { enqueue(command, at: index, effects: &effects) }
            } else {
                let status = backends[index].machine.adminState
                backends[index].machine = makeMachine(definition)
                backends[index].machine.adminState = status
                backends[index].loggedTransitions = 0
            }
            commit(index, effects: &effects)
        }

        /// Backends are added in id order at start-up, so this usually touches one entry.
        private mutating func reindex(from start: Int) {
            for index in start..<backends.count { positions[backends[index].machine.id] = index }
        }

        mutating func manualReinit(
            id: String, waiter: (TimeInterval, @Sendable (ReinitResult, ReinitWaitOutcome) -> Void)?,
            effects: inout Effects
        ) -> ReinitResult {
            guard phase == .running, let index = positions[id] else {
                let result: ReinitResult = phase == .running ? .notFound : .notRunning
                if let waiter { effects.callbacks.append { waiter.1(result, .removed) } }
                return result
            }
            let result: ReinitResult
            switch backends[index].machine.manualReinit(now: clock.now()) {
            case .alreadyRunning:
                result = .alreadyRunning
            case .started(let command):
                result = .started
                settleRoundEntry(of: index, now: clock.now().wall, effects: &effects)
                if let command { enqueue(command, at: index, effects: &effects) }
            }
            commit(index, effects: &effects)
            if let (timeout, resultCompletion) = waiter {
                let completion: @Sendable (ReinitWaitOutcome) -> Void = { [result] outcome in
                    resultCompletion(result, outcome)
                }
                if backends[index].settled {
                    let snapshot = backends[index].published
                    effects.callbacks.append { completion(.finished(snapshot)) }
                } else {
                    lastWaiterID &+= 1
                    backends[index].waiters[lastWaiterID] = completion
                    effects.waiterTimeouts.append((id, lastWaiterID, timeout))
                }
            }
            return result
        }

        /// Answers every waiter of a backend that has settled (or is going away).
        mutating func releaseWaiters(of index: Int, effects: inout Effects, outcome: ReinitWaitOutcome = .removed) {
            let waiters = backends[index].waiters.values
            backends[index].waiters = [:]
            for completion in waiters { effects.callbacks.append { completion(outcome) } }
        }

        private func makeMachine(_ definition: BackendDefinition) -> BackendStateMachine {
            BackendStateMachine(
                id: definition.id, host: "\(settings.host)@\(definition.id)",
                tickInterval: settings.backendStatsPollingInterval,
                volumeDriver: definition.driver.volumeDriverName, volumeBackendName: definition.volumeBackendName,
                supported: definition.driver.supported, settings: definition.settings, now: clock.now())
        }
    }
}
