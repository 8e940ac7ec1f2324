import Clocks
import Foundation
import Testing

@testable import Supervision

/// Drives a state machine with a scripted driver called synchronously and a hand-moved clock:
/// no threads, sockets or sleeps.
struct MachineHarness {
    var machine: BackendStateMachine
    let driver: ScriptedDriver
    /// The time of the next event on both clocks; the monotonic one starts far from the wall one.
    var reading = ClockReading(
        wall: Date(timeIntervalSince1970: 1_700_000_000), monotonic: MonotonicInstant(nanoseconds: 42_000_000_000))
    /// The wall-clock part of `reading`, which is what the machine shows.
    var now: Date { reading.wall }
    var jitter = 1.0
    var reports: [BackendReport] = []

    init(driver: ScriptedDriver, limit: Int = 3, tick: TimeInterval = 60, settings: BackendSettings? = nil) {
        self.driver = driver
        var backend = settings ?? BackendSettings()
        if settings == nil { backend.reinitDriverCount = limit }
        machine = BackendStateMachine(
            id: "nfs-1", host: "node1@nfs-1", tickInterval: tick, volumeDriver: driver.volumeDriverName,
            volumeBackendName: "nfs", supported: driver.supported, settings: backend, now: reading)
    }

    var states: [DriverState] { machine.transitions.map(\.to) }

    mutating func start() {
        if let command = machine.start(now: reading) { run(command) }
    }

    /// Advances the clock and ticks once, running whatever driver call the tick asks for.
    mutating func tick(after seconds: TimeInterval = 300) {
        reading = reading.advanced(by: seconds)
        switch machine.tick(now: reading, jitter: jitter) {
        case .collectStats(let id): run(.collectStats(callID: id))
        case .reinitialize(let id): run(.runInitialization(callID: id))
        case .reportUp, .noReport, .reportDown: break
        }
    }

    mutating func run(_ command: BackendStateMachine.Command) {
        switch command {
        case .runInitialization(let id):
            let result: Result<Void, DriverError>
            do {
                try driver.doSetup()
                try driver.checkForSetupError()
                result = .success(())
            } catch {
                result = .failure(DriverError.classify(error))
            }
            if case .ready(let statsID) = machine.initializationFinished(
                callID: id, result: result, now: reading, jitter: jitter)
            {
                run(.collectStats(callID: statsID))
            }
        case .collectStats(let id):
            let result: Result<VolumeStats, DriverError>
            do { result = .success(try driver.getVolumeStats()) } catch {
                result = .failure(DriverError.classify(error))
            }
            _ = machine.statsFinished(callID: id, result: result, now: reading, jitter: jitter)
        }
    }
}

private let i = DriverState.initializing
private let rt = DriverState.retrying

@Suite("Backend state machine", .offCooperativePool)
struct StateMachineTests {
    struct RetryCase: CustomTestStringConvertible, Sendable {
        var failures: Int
        var limit: Int
        var states: [DriverState]
        var initCalls: Int
        var attempts: Int
        var testDescription: String { "\(failures) failures, reinit_driver_count \(limit)" }
    }

    static let retryCases: [RetryCase] = [
        RetryCase(failures: 0, limit: 3, states: [i, .ready], initCalls: 1, attempts: 0),
        RetryCase(failures: 2, limit: 3, states: [i, rt, i, rt, i, .ready], initCalls: 3, attempts: 2),
        RetryCase(failures: 3, limit: 3, states: [i, rt, i, rt, i, rt, i, .ready], initCalls: 4, attempts: 3),
        RetryCase(failures: 4, limit: 3, states: [i, rt, i, rt, i, rt, i, .exhausted], initCalls: 4, attempts: 3),
        RetryCase(failures: 1, limit: 1, states: [i, rt, i, .ready], initCalls: 2, attempts: 1),
        RetryCase(failures: 2, limit: 1, states: [i, rt, i, .exhausted], initCalls: 2, attempts: 1),
        RetryCase(
            failures: 12, limit: 0, states: [i] + Array(repeating: [rt, i], count: 12).flatMap { $0 } + [.ready],
            initCalls: 13, attempts: 12),
    ]

    @Test("fail N times then succeed: exact states, calls and attempts", arguments: retryCases)
    func failThenSucceed(_ testCase: RetryCase) {
        var harness = MachineHarness(driver: .failing(testCase.failures), limit: testCase.limit)
        harness.start()
        for _ in 0..<30 { harness.tick() }
        #expect(harness.states == testCase.states)
        #expect(harness.driver.initCalls == testCase.initCalls)
        #expect(harness.machine.reinitAttempts == testCase.attempts)
        #expect(harness.machine.counters.failures(.backendUnavailable) == testCase.failures)
        #expect(harness.machine.initialized == (harness.machine.state == .ready))
        if harness.machine.state == .ready {
            #expect(harness.machine.capabilities == sampleStats())
            #expect(harness.machine.nextReinitAt == nil)
        }
    }

    @Test("unlimited budget keeps retrying")
    func unlimitedKeepsRetrying() {
        var harness = MachineHarness(driver: .failing(1_000), limit: 0)
        harness.start()
        for _ in 0..<30 { harness.tick() }
        #expect(harness.machine.state == .retrying)
        #expect(harness.driver.initCalls == 31)
        #expect(harness.machine.reinitAttempts == 30)
    }

    @Test(
        "unrecoverable kinds are tried exactly once",
        arguments: [ErrorKind.configError, .driverNotSupported, .missingLibrary], [0, 1, 3])
    func unrecoverableTriedOnce(kind: ErrorKind, limit: Int) {
        var harness = MachineHarness(driver: .failing(1_000, with: DriverError(kind, "broken")), limit: limit)
        harness.start()
        for _ in 0..<20 { harness.tick() }
        #expect(harness.states == [i, .failed])
        #expect(harness.driver.initCalls == 1)
        #expect(harness.machine.lastError?.errorClass == .unrecoverable)
        #expect(harness.machine.lastError?.kind == kind)
        #expect(harness.machine.lastError?.message == "broken")
        #expect(harness.machine.nextReinitAt == nil)
        #expect(harness.machine.counters.failuresByKind == [kind: 1])
    }

    @Test(
        "recoverable kinds retry; an unclassified error is `other`",
        arguments: [
            (Step.fail(DriverError(.backendUnavailable, "down")), ErrorKind.backendUnavailable, "down"),
            (Step.fail(DriverError(.timeout, "slow")), .timeout, "slow"),
            (Step.fail(DriverError(.other, "odd")), .other, "odd"),
            (Step.failUntyped, .other, "socket reset"),
        ])
    func recoverableKinds(step: Step, kind: ErrorKind, message: String) {
        var harness = MachineHarness(driver: ScriptedDriver(initSteps: [step]), limit: 3)
        harness.start()
        #expect(harness.states == [i, rt])
        #expect(
            harness.machine.lastError
                == ErrorRecord(errorClass: .recoverable, kind: kind, message: message, at: harness.now))
        #expect(harness.machine.nextReinitAt == harness.now.addingTimeInterval(60))
        harness.tick()
        #expect(harness.states == [i, rt, i, .ready])
        #expect(harness.machine.lastError?.kind == kind, "the last error is kept after recovery")
    }

    @Test("an unsupported driver fails without being called unless enabled", arguments: [false, true])
    func unsupportedDriver(enabled: Bool) {
        var settings = BackendSettings()
        settings.enableUnsupportedDriver = enabled
        var harness = MachineHarness(driver: ScriptedDriver(supported: false), settings: settings)
        harness.start()
        for _ in 0..<5 { harness.tick() }
        if enabled {
            #expect(harness.states == [i, .ready])
            #expect(harness.driver.initCalls == 1)
        } else {
            #expect(harness.states == [i, .failed])
            #expect(harness.driver.initCalls == 0)
            #expect(harness.driver.statsCallCount == 0)
            #expect(harness.machine.lastError?.kind == .driverNotSupported)
            #expect(harness.machine.lastError?.errorClass == .unrecoverable)
        }
    }

    @Test("manual reinit resets the budget after exhaustion")
    func manualReinitFromExhausted() {
        var harness = MachineHarness(driver: .failing(1_000), limit: 1)
        harness.start()
        for _ in 0..<5 { harness.tick() }
        #expect(harness.machine.state == .exhausted)
        #expect(harness.driver.initCalls == 2)

        guard case .started(let command?) = harness.machine.manualReinit(now: harness.reading) else {
            Issue.record("manual reinit did not start")
            return
        }
        #expect(harness.machine.reinitAttempts == 0)
        #expect(harness.machine.manualReinit(now: harness.reading) == .alreadyRunning)
        harness.run(command)
        #expect(harness.machine.state == .retrying, "a fresh budget: retrying, not exhausted")
        for _ in 0..<5 { harness.tick() }
        #expect(harness.machine.state == .exhausted)
        #expect(harness.driver.initCalls == 4)
        #expect(harness.states == [i, rt, i, .exhausted, i, rt, i, .exhausted])
        #expect(harness.machine.transitions[4].reason == "manual re-initialization")
    }

    @Test("manual reinit retries an unrecoverable failure once the cause is fixed")
    func manualReinitFromFailed() {
        var harness = MachineHarness(
            driver: .failing(1, with: DriverError(.missingLibrary, "nfs-common not installed")))
        harness.start()
        for _ in 0..<3 { harness.tick() }
        #expect(harness.states == [i, .failed])
        guard case .started(let command?) = harness.machine.manualReinit(now: harness.reading) else {
            Issue.record("manual reinit did not start")
            return
        }
        harness.run(command)
        #expect(harness.states == [i, .failed, i, .ready])
        #expect(harness.driver.initCalls == 2)
        #expect(harness.machine.initialized)
    }

    @Test("manual reinit of a ready driver starts over; of an initializing one is refused")
    func manualReinitFromReady() {
        var harness = MachineHarness(driver: ScriptedDriver())
        #expect(harness.machine.manualReinit(now: harness.reading) == .alreadyRunning, "not started yet: initializing")
        harness.start()
        #expect(harness.machine.state == .ready)
        guard case .started(.runInitialization)? = Optional(harness.machine.manualReinit(now: harness.reading)) else {
            Issue.record("manual reinit did not start")
            return
        }
        #expect(harness.machine.state == .initializing)
        #expect(harness.machine.capabilities == nil)
        #expect(harness.machine.manualReinit(now: harness.reading) == .alreadyRunning)
    }

    struct BackoffCase: Sendable, CustomTestStringConvertible {
        var attempts: Int, tick: Double, cap: Double, jitter: Double, expected: Double
        var testDescription: String { "attempts \(attempts) tick \(tick) cap \(cap) jitter \(jitter)" }
    }

    @Test(
        "backoff: exponential on the tick, capped, equal jitter, never below a tick",
        arguments: [
            BackoffCase(attempts: 0, tick: 60, cap: 300, jitter: 1, expected: 60),
            BackoffCase(attempts: 1, tick: 60, cap: 300, jitter: 1, expected: 120),
            BackoffCase(attempts: 2, tick: 60, cap: 300, jitter: 1, expected: 240),
            BackoffCase(attempts: 3, tick: 60, cap: 300, jitter: 1, expected: 300),
            BackoffCase(attempts: 10, tick: 60, cap: 300, jitter: 1, expected: 300),
            BackoffCase(attempts: 2, tick: 60, cap: 300, jitter: 0, expected: 120),
            BackoffCase(attempts: 0, tick: 60, cap: 300, jitter: 0, expected: 60),
            BackoffCase(attempts: 3, tick: 60, cap: 300, jitter: 0.5, expected: 225),
            BackoffCase(attempts: 5, tick: 1, cap: 300, jitter: 1, expected: 32),
            BackoffCase(attempts: 20, tick: 1, cap: 300, jitter: 1, expected: 300),
            BackoffCase(attempts: 4, tick: 60, cap: 30, jitter: 1, expected: 60),
            BackoffCase(attempts: 1_000_000, tick: 0.25, cap: 5, jitter: 1, expected: 5),
            BackoffCase(attempts: 0, tick: 10, cap: 300, jitter: .nan, expected: 10),
            BackoffCase(attempts: 1, tick: 10, cap: 300, jitter: 7, expected: 20),
        ])
    func backoff(_ testCase: BackoffCase) {
        #expect(
            ReinitBackoff.delay(
                attemptsUsed: testCase.attempts, tickInterval: testCase.tick, cap: testCase.cap,
                jitter: testCase.jitter) == testCase.expected)
    }

    @Test("re-initialization waits for the backoff and happens on the first tick after it")
    func backoffDrivesTicks() {
        var harness = MachineHarness(driver: .failing(1_000), limit: 0, tick: 10)
        harness.jitter = 0.5
        let t0 = harness.now
        harness.start()
        // After the first failure: 10 s * 0.75 = 7.5 s, raised to one tick: 10 s.
        #expect(harness.machine.nextReinitAt == t0.addingTimeInterval(10))
        harness.tick(after: 9.5)
        #expect(harness.driver.initCalls == 1, "not due yet")
        harness.tick(after: 0.5)
        #expect(harness.driver.initCalls == 2)
        // One attempt used: 20 s * 0.75 = 15 s after this failure.
        #expect(harness.machine.nextReinitAt == t0.addingTimeInterval(25))
        harness.tick(after: 10)
        #expect(harness.driver.initCalls == 2)
        harness.tick(after: 10)
        #expect(harness.driver.initCalls == 3)
        #expect(harness.machine.nextReinitAt == t0.addingTimeInterval(30 + 30))
    }

    @Test("a backwards step of the wall clock neither postpones a due retry nor moves the shown deadline")
    func wallClockStepBack() {
        var harness = MachineHarness(driver: .failing(1), limit: 3, tick: 60)
        harness.start()
        let shownDue = harness.now.addingTimeInterval(60)
        #expect(harness.machine.nextReinitAt == shownDue)
        harness.reading = ClockReading(
            wall: harness.now.addingTimeInterval(-3600), monotonic: harness.reading.monotonic)
        harness.tick(after: 58)
        #expect(harness.driver.initCalls == 1, "not due yet")
        #expect(harness.machine.nextReinitAt == shownDue)
        harness.tick(after: 2)
        #expect(harness.driver.initCalls == 2)
        #expect(harness.machine.state == .ready)
    }

    @Test(
        "stats failures take a ready driver out: recoverable to retrying with a fresh budget, unrecoverable to failed",
        arguments: [
            (DriverError(.backendUnavailable, "share gone"), DriverState.retrying),
            (DriverError(.configError, "bad export"), .failed),
        ])
    func statsFailure(error: DriverError, expected: DriverState) {
        let driver = ScriptedDriver(
            initSteps: [.fail(DriverError(.timeout, "slow"))], statsSteps: [.succeed, .succeed, .fail(error)])
        var harness = MachineHarness(driver: driver, limit: 1)
        harness.start()
        harness.tick()
        #expect(harness.machine.state == .ready)
        #expect(harness.machine.reinitAttempts == 1)
        harness.tick()
        #expect(harness.machine.capabilities == sampleStats())
        harness.tick()
        #expect(harness.machine.state == expected)
        #expect(harness.machine.initialized == false)
        #expect(harness.machine.capabilities == nil)
        #expect(harness.machine.reinitAttempts == 0)
        #expect(harness.machine.lastError?.kind == error.kind)
        #expect(driver.statsCallCount == 3)
        if expected == .retrying {
            harness.tick()
            #expect(harness.states == [i, rt, i, .ready, rt, i, .ready])
        } else {
            harness.tick()
            #expect(harness.states == [i, rt, i, .ready, .failed])
        }
    }

    @Test("a tick while a stats call is still running republishes the last stats")
    func statsStillRunning() {
        var harness = MachineHarness(driver: ScriptedDriver())
        harness.start()
        guard case .collectStats(let id) = harness.machine.tick(now: harness.reading, jitter: 1) else {
            Issue.record("expected a stats call")
            return
        }
        #expect(harness.machine.tick(now: harness.reading, jitter: 1) == .reportUp(sampleStats()))
        #expect(
            harness.machine.statsFinished(
                callID: id, result: .success(sampleStats(free: 5)), now: harness.reading, jitter: 1)
                == .up(sampleStats(free: 5)))
    }

    @Test("a late result after a timeout, or after a manual reinit, changes nothing")
    func lateResultsIgnored() {
        var harness = MachineHarness(driver: ScriptedDriver())
        guard case .runInitialization(let first)? = harness.machine.start(now: harness.reading) else {
            Issue.record("expected an initialization")
            return
        }
        let timeout = harness.machine.timeoutError(for: .initialization)
        #expect(timeout.kind == .timeout)
        #expect(
            harness.machine.initializationFinished(
                callID: first, result: .failure(timeout), now: harness.reading, jitter: 1) == .failed)
        #expect(harness.machine.state == .retrying)
        #expect(
            harness.machine.initializationFinished(callID: first, result: .success(()), now: harness.reading, jitter: 1)
                == .ignored)
        #expect(harness.machine.state == .retrying)

        guard case .started(.runInitialization(let second)?) = harness.machine.manualReinit(now: harness.reading) else {
            Issue.record("expected a manual initialization")
            return
        }
        #expect(second != first)
        guard
            case .ready(let statsID) = harness.machine.initializationFinished(
                callID: second, result: .success(()), now: harness.reading, jitter: 1)
        else {
            Issue.record("expected ready")
            return
        }
        guard case .started(.runInitialization?) = harness.machine.manualReinit(now: harness.reading) else {
            Issue.record("expected a manual initialization")
            return
        }
        #expect(
            harness.machine.statsFinished(
                callID: statsID, result: .success(sampleStats()), now: harness.reading, jitter: 1)
                == .ignored)
        #expect(harness.machine.capabilities == nil)
        #expect(harness.machine.state == .initializing)
    }

    @Test("history keeps the last 50 transitions")
    func historyIsBounded() {
        var harness = MachineHarness(driver: .failing(1_000), limit: 0)
        harness.start()
        for _ in 0..<40 { harness.tick() }
        #expect(harness.machine.totalTransitions == 82)
        #expect(harness.machine.transitions.count == BackendSnapshot.transitionHistoryLimit)
        #expect(harness.machine.transitions.first?.from != nil)
        #expect(harness.machine.transitions.last?.to == .retrying)
    }

    @Test("the first transition has no origin and says why")
    func firstTransition() {
        var harness = MachineHarness(driver: ScriptedDriver())
        #expect(harness.machine.transitions.isEmpty)
        harness.start()
        #expect(
            harness.machine.transitions.first
                == StateTransition(at: harness.now, from: nil, to: .initializing, reason: "start-up"))
        #expect(harness.machine.transitions.last?.from == .initializing)
        #expect(harness.machine.transitions.last?.to == .ready)
    }

    @Test("reconfiguring starts over with a fresh counter and keeps history and counters")
    func reconfigure() {
        var harness = MachineHarness(driver: .failing(1_000), limit: 1)
        harness.start()
        harness.tick()
        #expect(harness.machine.state == .exhausted)
        var settings = BackendSettings()
        settings.reinitDriverCount = 5
        let command = harness.machine.reconfigure(
            volumeDriver: "lvm", volumeBackendName: "lvm", supported: true,
            settings: settings, now: harness.reading)
        #expect(command != nil)
        #expect(harness.machine.state == .initializing)
        #expect(harness.machine.reinitAttempts == 0)
        #expect(harness.machine.volumeDriver == "lvm")
        #expect(harness.machine.snapshot.reinitLimit == 5)
        #expect(harness.machine.counters.failures(.backendUnavailable) == 2)
        #expect(harness.machine.transitions.last?.reason == "configuration changed")
    }

    @Test("reports: up with stats only while ready, down with no capacity otherwise")
    func reports() {
        var ready = MachineHarness(driver: ScriptedDriver())
        ready.machine.adminState = AdminState(disabled: true, disabledReason: "maintenance")
        #expect(ready.machine.report(at: ready.now)?.backendState == .down, "initializing is down")
        ready.start()
        let up = ready.machine.report(at: ready.now)
        #expect(
            up
                == BackendReport(
                    backendID: "nfs-1", host: "node1@nfs-1", timestamp: ready.now, backendState: .up,
                    adminState: AdminState(disabled: true, disabledReason: "maintenance"),
                    capabilities: sampleStats()))

        var failed = MachineHarness(driver: .failing(1, with: DriverError(.configError, "no nfs_shares_config")))
        failed.start()
        #expect(
            failed.machine.report(at: failed.now)
                == BackendReport(
                    backendID: "nfs-1", host: "node1@nfs-1", timestamp: failed.now, backendState: .down,
                    adminState: AdminState(), capabilities: nil))
        #expect(failed.machine.snapshot.backendState == .down)
    }

    @Test(
        "settings validation gives typed errors",
        arguments: [
            (BackendSettings(reinitDriverCount: -1), "reinit_driver_count must be 0 (unlimited) or more, got -1"),
            (
                BackendSettings(driverInitTimeout: 0),
                "driver_init_timeout must be a positive number of seconds, got 0.0"
            ),
            (BackendSettings(statsTimeout: .infinity), "stats_timeout must be a positive number of seconds, got inf"),
            (
                BackendSettings(reinitBackoffMax: -3),
                "reinit_backoff_max must be a positive number of seconds, got -3.0"
            ),
        ])
    func settingsValidation(settings: BackendSettings, message: String) {
        #expect(throws: SupervisionError.invalidSettings(message)) { try settings.validate() }
    }
}
