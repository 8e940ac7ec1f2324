import Clocks
import Foundation
import Logging

/// Supervises every enabled backend of one volumed service: initializes them concurrently, runs
/// the publish tick, re-initializes failed drivers under the `reinit_driver_count` budget, and keeps
/// an immutable, versioned snapshot for the REST API. The one type a wiring layer needs.
///
/// Threads: driver calls run on threads of their own (never on the tick, the HTTP server or Swift
/// concurrency's pool; reused between calls, never shared by two at once), one call per backend at
/// a time unless a call timed out; the tick, timeouts and callbacks run on one internal serial
/// queue that never blocks; publishes run on a thread of their own, one at a time. All state sits behind one lock held only for bookkeeping.
package final class SupervisorSet: @unchecked Sendable {
    /// Calls into one driver that may hang past their timeout at once; past it, a new
    /// initialization fails at once with `timeout` instead of spending another thread.
    package static let maxAbandonedCallsPerBackend = 3
    /// Driver-call threads kept waiting between ticks; more are started when more calls run at once.
    package static let maxIdleDriverThreads = 128

    enum Phase { case idle, running, stopped }

    /// Side effects decided under the lock and carried out after it is released.
    struct Effects {
        var calls: [DriverCall] = []
        var publishes: [[BackendReport]] = []
        var callbacks: [@Sendable () -> Void] = []
        var logs: [() -> Void] = []
    }

    let settings: ServiceSettings
    let publisher: any CapabilityPublisher
    let clock: any ServiceClock
    let jitter: any JitterSource
    let logger: Logger
    /// Runs the tick, timeouts and callbacks; never blocks.
    let control = DispatchQueue(label: "volumed.supervision.control")
    /// Runs driver calls; a worker waits two ticks (at least 10 s) for the next call before exiting.
    let driverThreads: DriverThreadPool
    let lock = NSLock()

    // Guarded by `lock`.
    var phase = Phase.idle
    var records: [String: BackendRecord] = [:]
    /// The same records ordered by id, so a snapshot is built without hashing.
    var ordered: [BackendRecord] = []
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
        self.clock = clock
        self.jitter = jitter
        self.logger = logger
        self.driverThreads = DriverThreadPool(
            name: "volumed.driver", idleTimeout: max(10, 2 * settings.backendStatsPollingInterval),
            maxIdleWorkers: Self.maxIdleDriverThreads)
    }

    deinit {
        timer?.cancel()
        driverThreads.close()
    }

    // MARK: life cycle

    /// Starts every backend's initialization concurrently and the publish tick. Returns at once.
    /// Calling it again, or after `stop()`, does nothing.
    package func start() {
        withState { effects in
            guard phase == .idle else { return }
            phase = .running
            changed = true
            noteLoopTurn()
            let interval = settings.backendStatsPollingInterval
            let count = ordered.count
            effects.logs.append { [logger] in
                logger.info("supervision started", metadata: ["backends": "\(count)", "tick_interval": "\(interval)"])
            }
            let now = clock.now()
            for record in ordered {
                if let command = record.machine.start(now: now) { enqueue(command, for: record, effects: &effects) }
                commit(record, effects: &effects)
            }
            let timer = DispatchSource.makeTimerSource(queue: control)
            timer.schedule(
                deadline: .now() + interval, repeating: interval, leeway: .milliseconds(Int(min(interval * 50, 1000))))
            timer.setEventHandler { [weak self] in self?.tick() }
            self.timer = timer
            timer.resume()
        }
    }

    /// Stops the tick and ignores any driver call still running; waiting manual re-initializations
    /// are answered `.removed`. Hung driver calls keep their threads until they return. Final.
    package func stop() {
        withState { effects in
            guard phase != .stopped else { return }
            phase = .stopped
            changed = true
            timer?.cancel()
            timer = nil
            for record in ordered { releaseWaiters(of: record, effects: &effects) }
            driverThreads.close()
            effects.logs.append { [logger] in logger.info("supervision stopped") }
        }
    }

    // MARK: reading

    /// When the supervision loop last ticked (its start until the first tick); nil before it
    /// started. Kept out of `snapshot()` on purpose: it moves every tick, the snapshot only on change.
    package func lastTickAt() -> Date? {
        lock.withLock { lastTickDate }
    }

    /// The current state of every backend. Cheap: the value is rebuilt at most once per change and
    /// shared by every reader until the next one.
    package func snapshot() -> ServiceSnapshot {
        lock.lock()
        defer { lock.unlock() }
        if let cachedSnapshot { return cachedSnapshot }
        let snapshot = ServiceSnapshot(
            version: version, host: settings.host, tickInterval: settings.backendStatsPollingInterval,
            running: phase == .running, backends: ordered.map(\.published),
            publishesCoalesced: publishesCoalesced)
        cachedSnapshot = snapshot
        return snapshot
    }

    /// The version the next `snapshot()` will carry, without building it.
    package var currentVersion: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return version
    }

    // MARK: operator actions

    /// Starts a re-initialization now, whatever the state but `initializing`, with the attempt
    /// counter reset (also after an unrecoverable failure: the operator may have fixed the cause).
    @discardableResult
    package func reinit(id: String) -> ReinitResult {
        withState { effects in manualReinit(id: id, waiter: nil, effects: &effects) }
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
        withState { effects in
            manualReinit(id: id, waiter: (timeout, { _, outcome in completion(outcome) }), effects: &effects)
        }
    }

    /// `reinit(id:waitUpTo:completion:)` for async callers; suspends without holding a thread.
    package func reinit(id: String, waitUpTo timeout: TimeInterval) async -> (ReinitResult, ReinitWaitOutcome) {
        await withCheckedContinuation { continuation in
            withState { effects in
                _ = manualReinit(
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
        let result: Result<BackendSnapshot, SupervisionError> = withState { effects in
            guard let record = records[id] else { return .failure(.backendNotFound(id)) }
            record.machine.adminState = status
            commit(record, effects: &effects)
            if phase == .running, let report = record.machine.report(at: clock.now().wall) {
                submitPublish([report], effects: &effects)
            }
            let status = record.machine.adminState
            let message: Logger.Message = phase == .running ? "service status changed" : "service status set"
            var metadata: Logger.Metadata = ["backend": "\(id)", "status": "\(status.status)"]
            if let reason = status.disabledReason { metadata["disabled_reason"] = "\(reason)" }
            effects.logs.append { [logger] in logger.notice(message, metadata: metadata) }
            return .success(record.published)
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
        let result: Result<Void, SupervisionError> = withState { effects in
            guard records[definition.id] == nil else { return .failure(.duplicateBackend(definition.id)) }
            var machine = makeMachine(definition)
            machine.adminState = adminState
            let record = BackendRecord(machine: machine, driver: definition.driver)
            records[definition.id] = record
            let index = ordered.firstIndex { $0.machine.id > definition.id } ?? ordered.endIndex
            ordered.insert(record, at: index)
            changed = true
            if phase == .running, let command = record.machine.start(now: clock.now()) {
                enqueue(command, for: record, effects: &effects)
            }
            commit(record, effects: &effects)
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
    /// still running is left to finish on its thread and its result is ignored.
    package func removeBackend(id: String) throws(SupervisionError) {
        let result: Result<Void, SupervisionError> = withState { effects in
            guard let record = records.removeValue(forKey: id) else { return .failure(.backendNotFound(id)) }
            ordered.removeAll { $0 === record }
            changed = true
            let now = clock.now().wall
            settleRoundEntry(of: record, now: now, removing: true, effects: &effects)
            releaseWaiters(of: record, effects: &effects)
            if phase == .running { submitPublish([record.machine.downReport(at: now)], effects: &effects) }
            effects.logs.append { [logger] in logger.info("backend removed", metadata: ["backend": "\(id)"]) }
            return .success(())
        }
        try result.get()
    }

    /// Replaces a backend's driver and options and re-initializes it with a fresh attempt counter.
    /// Its history, counters and service status are kept; calls into the old driver are ignored.
    package func replaceBackend(_ definition: BackendDefinition) throws(SupervisionError) {
        try Self.validate(definition)
        let result: Result<Void, SupervisionError> = withState { effects in
            guard let record = records[definition.id] else { return .failure(.backendNotFound(definition.id)) }
            let now = clock.now()
            record.driver = definition.driver
            record.driverEpoch &+= 1
            record.abandonedCalls = []
            if phase == .running {
                let command = record.machine.reconfigure(
                    volumeDriver: definition.driver.volumeDriverName, volumeBackendName: definition.volumeBackendName,
                    supported: definition.driver.supported, settings: definition.settings, now: now)
                settleRoundEntry(of: record, now: now.wall, effects: &effects)
                if let command { enqueue(command, for: record, effects: &effects) }
            } else {
                let status = record.machine.adminState
                record.machine = makeMachine(definition)
                record.machine.adminState = status
                record.loggedTransitions = 0
            }
            commit(record, effects: &effects)
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
    func withState<T>(_ body: (inout Effects) -> T) -> T {
        var effects = Effects()
        lock.lock()
        let result = body(&effects)
        if changed {
            version &+= 1
            cachedSnapshot = nil
            changed = false
        }
        lock.unlock()
        perform(effects)
        return result
    }

    /// Publishes the record's new snapshot to readers if it differs, and logs new transitions.
    func commit(_ record: BackendRecord, effects: inout Effects) {
        let snapshot = record.machine.snapshot
        guard snapshot != record.published else { return }
        record.published = snapshot
        changed = true
        let total = record.machine.totalTransitions
        let fresh = min(total - record.loggedTransitions, snapshot.transitions.count)
        record.loggedTransitions = total
        guard fresh > 0 else { return }
        for transition in snapshot.transitions.suffix(fresh) {
            let (level, repeats) = record.logPolicy.level(for: transition, lastError: snapshot.lastError)
            effects.logs.append { [logger] in
                TransitionLogPolicy.log(transition, of: snapshot, level: level, repeats: repeats, to: logger)
            }
        }
    }

    private func manualReinit(
        id: String, waiter: (TimeInterval, @Sendable (ReinitResult, ReinitWaitOutcome) -> Void)?,
        effects: inout Effects
    ) -> ReinitResult {
        guard phase == .running, let record = records[id] else {
            let result: ReinitResult = phase == .running ? .notFound : .notRunning
            if let waiter { effects.callbacks.append { waiter.1(result, .removed) } }
            return result
        }
        let result: ReinitResult
        switch record.machine.manualReinit(now: clock.now()) {
        case .alreadyRunning:
            result = .alreadyRunning
        case .started(let command):
            result = .started
            settleRoundEntry(of: record, now: clock.now().wall, effects: &effects)
            if let command { enqueue(command, for: record, effects: &effects) }
        }
        commit(record, effects: &effects)
        if let (timeout, resultCompletion) = waiter {
            let completion: @Sendable (ReinitWaitOutcome) -> Void = { [result] outcome in
                resultCompletion(result, outcome)
            }
            if record.settled {
                let snapshot = record.published
                effects.callbacks.append { completion(.finished(snapshot)) }
            } else {
                lastWaiterID &+= 1
                let waiterID = lastWaiterID
                record.waiters[waiterID] = completion
                effects.callbacks.append { [weak self] in
                    self?.scheduleWaiterTimeout(record: record, waiterID: waiterID, after: timeout)
                }
            }
        }
        return result
    }

    private func scheduleWaiterTimeout(record: BackendRecord, waiterID: UInt64, after timeout: TimeInterval) {
        let delay = timeout.isFinite ? max(0, min(timeout, 86_400)) : 86_400
        control.asyncAfter(deadline: .now() + delay) { [weak self] in
            guard let self else { return }
            withState { effects in
                guard let completion = record.waiters.removeValue(forKey: waiterID) else { return }
                let snapshot = record.published
                effects.callbacks.append { completion(.timedOut(snapshot)) }
            }
        }
    }

    /// Answers every waiter of a record that has settled (or is going away).
    func releaseWaiters(of record: BackendRecord, effects: inout Effects, outcome: ReinitWaitOutcome = .removed) {
        let waiters = record.waiters.values
        record.waiters = [:]
        for completion in waiters { effects.callbacks.append { completion(outcome) } }
    }

    private func makeMachine(_ definition: BackendDefinition) -> BackendStateMachine {
        BackendStateMachine(
            id: definition.id, host: "\(settings.host)@\(definition.id)",
            tickInterval: settings.backendStatsPollingInterval,
            volumeDriver: definition.driver.volumeDriverName, volumeBackendName: definition.volumeBackendName,
            supported: definition.driver.supported, settings: definition.settings, now: clock.now())
    }

    private static func validate(_ definition: BackendDefinition) throws(SupervisionError) {
        let id = definition.id
        if id.isEmpty || id.contains(where: { $0 == "@" || $0 == "#" || $0.isWhitespace || $0.isNewline }) {
            throw .invalidBackendID(id)
        }
        try definition.settings.validate()
    }

    private func perform(_ effects: Effects) {
        for log in effects.logs { log() }
        for call in effects.calls { launch(call) }
        for batch in effects.publishes { startPublish(batch) }
        for callback in effects.callbacks { control.async(execute: callback) }
    }
}
