import Foundation
import Testing
@testable import Supervision

/// Where a backoff is counted from: a failure within one tick of its attempt's start counts from
/// the start (a tick), so the retry lands on a tick instead of just after one; a long attempt (a
/// hang until its timeout) counts from its end, so backoff still spaces attempts out.
@Suite("Backoff anchor")
struct BackoffAnchorTests {
    let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    func machine() -> BackendStateMachine {
        BackendStateMachine(id: "nfs-1", host: "node1@nfs-1", tickInterval: 10, volumeDriver: "nfs", volumeBackendName: "nfs",
                            supported: true, settings: BackendSettings(reinitDriverCount: 0), now: t0)
    }

    func callID(_ command: BackendStateMachine.Command?) throws -> UInt64 {
        guard case .runInitialization(let id)? = command else { throw DriverError(.other, "no initialization started") }
        return id
    }

    @Test func aQuickFailureRetriesOnTheNextTick() throws {
        var machine = machine()
        let id = try callID(machine.start(now: t0))
        _ = machine.initializationFinished(callID: id, result: .failure(DriverError(.backendUnavailable, "not yet")),
                                           now: t0.addingTimeInterval(0.5), jitter: 1)
        #expect(machine.nextReinitAt == t0.addingTimeInterval(10))
        guard case .reinitialize = machine.tick(now: t0.addingTimeInterval(10), jitter: 1) else {
            Issue.record("the tick one interval after the attempt began did not re-initialize")
            return
        }
    }

    @Test func timerJitterOfAFewMillisecondsDoesNotCostATick() throws {
        var machine = machine()
        let id = try callID(machine.start(now: t0))
        _ = machine.initializationFinished(callID: id, result: .failure(DriverError(.backendUnavailable, "not yet")),
                                           now: t0.addingTimeInterval(0.01), jitter: 1)
        guard case .reinitialize = machine.tick(now: t0.addingTimeInterval(9.995), jitter: 1) else {
            Issue.record("a tick 5 ms early by timer jitter did not re-initialize")
            return
        }
    }

    @Test func aFailureAfterAHangCountsFromItsEnd() throws {
        var machine = machine()
        let id = try callID(machine.start(now: t0))
        _ = machine.initializationFinished(callID: id, result: .failure(DriverError(.timeout, "hung")),
                                           now: t0.addingTimeInterval(15), jitter: 1)
        #expect(machine.nextReinitAt == t0.addingTimeInterval(25))
        guard case .reportDown = machine.tick(now: t0.addingTimeInterval(20), jitter: 1) else {
            Issue.record("re-initialized before the backoff after the hang had passed")
            return
        }
    }
}
