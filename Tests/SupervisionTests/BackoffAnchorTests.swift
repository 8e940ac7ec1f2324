import Clocks
import Foundation
import Testing

@testable import Supervision

/// Where a backoff is counted from: a failure within one tick of its attempt's start counts from
/// the start (a tick), so the retry lands on a tick instead of just after one; a long attempt (a
/// hang until its timeout) counts from its end, so backoff still spaces attempts out.
@Suite("Backoff anchor", .offCooperativePool)
struct BackoffAnchorTests {
    let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    /// `t0 + seconds` on both clocks (the monotonic one starting at an unrelated instant).
    func at(_ seconds: TimeInterval) -> ClockReading {
        ClockReading(wall: t0, monotonic: MonotonicInstant(nanoseconds: 42_000_000_000)).advanced(by: seconds)
    }

    func machine() -> BackendStateMachine {
        BackendStateMachine(
            id: "nfs-1", host: "node1@nfs-1", tickInterval: 10, volumeDriver: "nfs", volumeBackendName: "nfs",
            supported: true, settings: BackendSettings(reinitDriverCount: 0), now: at(0))
    }

    /// Starts the machine at `t0` and fails its first initialization `seconds` later with `kind`.
    func machineWithFailedStart(after seconds: TimeInterval, _ kind: ErrorKind = .backendUnavailable) throws
        -> BackendStateMachine
    {
        var machine = machine()
        guard case .runInitialization(let id)? = machine.start(now: at(0)) else {
            throw DriverError(.other, "no initialization started")
        }
        _ = machine.initializationFinished(
            callID: id, result: .failure(DriverError(kind, "not yet")),
            now: at(seconds), jitter: 1)
        return machine
    }

    @Test func aQuickFailureRetriesOnTheNextTick() throws {
        var machine = try machineWithFailedStart(after: 0.5)
        #expect(machine.nextReinitAt == t0.addingTimeInterval(10))
        guard case .reinitialize = machine.tick(now: at(10), jitter: 1) else {
            Issue.record("the tick one interval after the attempt began did not re-initialize")
            return
        }
    }

    @Test func timerJitterOfAFewMillisecondsDoesNotCostATick() throws {
        var machine = try machineWithFailedStart(after: 0.01)
        guard case .reinitialize = machine.tick(now: at(9.995), jitter: 1) else {
            Issue.record("a tick 5 ms early by timer jitter did not re-initialize")
            return
        }
    }

    @Test func aFailureAfterAHangCountsFromItsEnd() throws {
        var machine = try machineWithFailedStart(after: 15, .timeout)
        #expect(machine.nextReinitAt == t0.addingTimeInterval(25))
        guard case .reportDown = machine.tick(now: at(20), jitter: 1) else {
            Issue.record("re-initialized before the backoff after the hang had passed")
            return
        }
    }
}
