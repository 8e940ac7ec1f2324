import Foundation
import SharedTestSupport
import Synchronization
import Testing

@testable import Supervision

/// `reportLiveness` (what systemd's `WATCHDOG=1` is sent from) calls only while the supervision
/// loop works: running, its queue free, its tick recent.
@Suite(.offCooperativePool) struct LivenessTests {
    @Test func reportsWhileRunningAndStopsWhenTheLoopIsWedged() async throws {
        let set = try makeSet(tick: 0.05)
        let reports = Atomic<Int>(0)
        let liveness = set.reportLiveness(every: .milliseconds(10)) { reports.add(1, ordering: .relaxed) }
        defer { liveness.cancel() }
        // Not started: no reports.
        #expect(!(await waitUntil(seconds: 0.3) { reports.load(ordering: .relaxed) > 0 }))

        set.start()
        defer { set.stop() }
        #expect(await waitUntil { reports.load(ordering: .relaxed) >= 3 })

        // Wedge the loop's queue, as a driver callback stuck in a lock would.
        let gate = Gate()
        let wedged = DispatchSemaphore(value: 0)
        set.control.async {
            wedged.signal()
            gate.wait()
        }
        wedged.wait()
        let atWedge = reports.load(ordering: .relaxed)
        #expect(
            !(await waitUntil(seconds: 0.5) { reports.load(ordering: .relaxed) > atWedge }),
            "a wedged loop must stop reporting")
        gate.release()
        #expect(await waitUntil { reports.load(ordering: .relaxed) > atWedge + 2 }, "reports resume with the loop")

        set.stop()
        #expect(!set.loopIsHealthy(now: DispatchTime.now().uptimeNanoseconds), "a stopped loop is not healthy")
    }

    @Test func aTickOverdueByMoreThanTwoIntervalsIsUnhealthy() throws {
        let set = try makeSet(tick: 10)
        set.start()
        defer { set.stop() }
        let now = DispatchTime.now().uptimeNanoseconds
        #expect(set.loopIsHealthy(now: now))
        #expect(set.loopIsHealthy(now: now + 20_000_000_000), "two intervals late is still within the allowance")
        #expect(
            !set.loopIsHealthy(now: now + 22_000_000_000), "a tick timer that stopped firing must read as unhealthy")
    }

    /// The last tick moves every tick, but a tick that changed nothing must keep the snapshot's
    /// version: every view's ETag hangs on it, and dashboards polling with If-None-Match expect 304.
    @Test func theLoopRecordsItsLastTickWithoutANewSnapshotVersion() async throws {
        let set = try makeSet(tick: 0.05)
        #expect(set.lastTickAt() == nil)
        set.start()
        defer { set.stop() }
        let started = try #require(set.lastTickAt())
        let version = set.snapshot().version
        #expect(await waitUntil { (set.lastTickAt() ?? started) > started }, "each tick moves lastTickAt")
        #expect(set.snapshot().version == version)
    }
}
