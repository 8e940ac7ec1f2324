import Foundation
import SharedTestSupport
import Testing

@testable import Supervision

/// Deadlines live on the monotonic clock: an operator or NTP setting the system clock moves what is
/// shown, never when a retry is due.
@Suite("Wall-clock steps", .offCooperativePool)
struct ClockStepTests {
    let clock = ManualClock()
    /// Fails its first initialization, then works.
    let driver = ScriptedDriver.failing(1)

    /// A running set whose one backend is retrying, due one tick (an hour, turned by hand) after
    /// its start.
    func retryingSet() async throws -> SupervisorSet {
        let set = try makeSet(tick: 3600, clock: clock)
        try set.addBackend(BackendDefinition(id: "a", volumeBackendName: "nfs", driver: driver))
        set.start()
        #expect(await waitUntil { set.snapshot().state("a") == .retrying })
        return set
    }

    @Test("stepping the wall clock back by an hour does not postpone a due re-initialization")
    func wallClockStepBackKeepsTheRetryDue() async throws {
        let set = try await retryingSet()
        defer { set.stop() }
        let shownDue = try #require(set.snapshot().backend(id: "a")?.nextReinitAt)
        #expect(shownDue == clock.wall.addingTimeInterval(3600))

        clock.advance(by: 3600)
        clock.stepWall(by: -3600)
        set.tick()
        #expect(await waitUntil { set.snapshot().state("a") == .ready })
        #expect(driver.initCalls == 2)
        #expect(set.snapshot().backend(id: "a")?.transitions.last?.at == clock.wall, "history shows wall time")
    }

    @Test("stepping the wall clock forward by an hour does not hasten a re-initialization")
    func wallClockStepForwardDoesNotHastenTheRetry() async throws {
        let set = try await retryingSet()
        defer { set.stop() }
        clock.stepWall(by: 3600)
        let before = set.snapshot().version
        set.tick()
        #expect(await waitUntil { set.snapshot().version > before })
        #expect(set.snapshot().state("a") == .retrying)
        #expect(driver.initCalls == 1)
    }
}
