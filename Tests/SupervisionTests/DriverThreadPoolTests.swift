import Foundation
import SharedTestSupport
import Synchronization
import Testing

@testable import Supervision

/// The driver-call pool: bounded, reused between calls, and a hung call never starves the others
/// below the bound.
@Suite(.offCooperativePool) struct DriverThreadPoolTests {
    /// Growth waits a minute unless a test is about growth: a loaded machine must not start workers
    /// that a test counts.
    private func pool(
        core: Int = 1, max: Int = 4, growAfter: TimeInterval = 60, idleTimeout: TimeInterval = 60
    ) -> DriverThreadPool {
        DriverThreadPool(
            name: "test.pool",
            limits: .init(coreThreads: core, maxThreads: max, growAfter: growAfter, idleTimeout: idleTimeout),
            logger: quietLogger)
    }

    @Test func sequentialCallsReuseOneThread() {
        let pool = pool()
        defer { pool.close() }
        let done = Counter()
        for round in 1...20 {
            pool.submit([.init { done.increment() }])
            #expect(waitUntil(seconds: 30) { done.value == round && pool.currentStatistics.idleWorkers == 1 })
        }
        let statistics = pool.currentStatistics
        #expect(statistics.threadsStarted == 1)
        #expect(statistics.jobsRun == 20)
        #expect(statistics.busyWorkers == 0)
    }

    @Test func aBatchRunsOnTheCoreWorkers() {
        let pool = pool(core: 2, max: 4)
        defer { pool.close() }
        let done = Counter()
        pool.submit((0..<500).map { _ in .init(timeout: 3600) { done.increment() } })
        #expect(waitUntil(seconds: 30) { done.value == 500 })
        #expect(pool.currentStatistics.threadsStarted == 2)
    }

    @Test func aHungCallNeverStarvesAnother() {
        let pool = pool(core: 1, max: 4, growAfter: 0.5)
        defer { pool.close() }
        let hung = Gate()
        let hungReturned = Counter()
        pool.submit([
            .init {
                hung.wait()
                hungReturned.increment()
            }
        ])
        // The only core worker hangs; the watchdog starts a second one for the queued call.
        let other = Counter()
        pool.submit([.init { other.increment() }])
        #expect(waitUntil(seconds: 30) { other.value == 1 })
        #expect(hungReturned.value == 0)
        #expect(pool.currentStatistics.threadsStarted == 2)
        // The idle second worker takes the next call; the hung one is still busy.
        #expect(waitUntil(seconds: 30) { pool.currentStatistics.idleWorkers == 1 })
        pool.submit([.init { other.increment() }])
        #expect(waitUntil(seconds: 30) { other.value == 2 })
        #expect(pool.currentStatistics.threadsStarted == 2)
        hung.release()
        #expect(waitUntil(seconds: 30) { hungReturned.value == 1 })
    }

    @Test func manyHungCallsNeverTakeThePoolPastItsCap() {
        let cap = 6
        let pool = pool(core: 2, max: cap, growAfter: 0.01)
        defer { pool.close() }
        let gate = Gate()
        let done = Counter()
        pool.submit(
            (0..<50).map { _ in
                .init(timeout: 3600) {
                    gate.wait()
                    done.increment()
                }
            })
        // The watchdog reached the cap and kept asking for more workers, in vain.
        #expect(waitUntil(seconds: 30) { pool.currentStatistics.growthRefusedAtCap >= 5 })
        let atCap = pool.currentStatistics
        #expect(atCap.threads == cap)
        #expect(atCap.peakThreads == cap)
        #expect(atCap.busyWorkers == cap)
        #expect(atCap.queuedJobs == 50 - cap)
        gate.release()
        #expect(waitUntil(seconds: 30) { done.value == 50 })
        #expect(pool.currentStatistics.peakThreads == cap)
        #expect(pool.currentStatistics.threadsStarted == cap)
    }

    @Test func aJobWithoutATimeoutGetsAWorkerOverTheCapWhichThenLeaves() {
        let cap = 2
        let pool = pool(core: 2, max: cap, growAfter: 0.01)
        defer { pool.close() }
        let gate = Gate()
        let hungDone = Counter()
        pool.submit(
            (0..<4).map { _ in
                .init(timeout: 3600) {
                    gate.wait()
                    hungDone.increment()
                }
            })
        #expect(waitUntil(seconds: 30) { pool.currentStatistics.busyWorkers == cap })
        // A publish (no timeout) jumps the queue and gets one worker over the cap.
        let published = Counter()
        pool.submit([.init { published.increment() }])
        #expect(waitUntil(seconds: 30) { published.value == 1 })
        #expect(pool.currentStatistics.peakThreads == cap + 1)
        // That worker leaves instead of taking a queued call: the calls still wait for the cap.
        #expect(waitUntil(seconds: 30) { pool.currentStatistics.threads == cap })
        #expect(pool.currentStatistics.queuedJobs == 2)
        gate.release()
        #expect(waitUntil(seconds: 30) { hungDone.value == 4 })
        #expect(pool.currentStatistics.peakThreads == cap + 1)
    }

    @Test func aCallPastItsTimeoutIsReportedAndAQueuedOneNeverRuns() {
        let pool = pool(core: 1, max: 1)
        defer { pool.close() }
        let gate = Gate()
        let reports = Mutex<[String]>([])
        let ran = Counter()
        pool.submit([
            .init(timeout: 0.1, timedOut: { started in reports.withLock { $0.append("first started=\(started)") } }) {
                gate.wait()
                ran.increment()
            },
            .init(timeout: 0.1, timedOut: { started in reports.withLock { $0.append("second started=\(started)") } }) {
                ran.increment()
            },
        ])
        #expect(waitUntil(seconds: 30) { reports.withLock { $0.count } == 2 })
        #expect(
            reports.withLock { Set($0) } == ["first started=true", "second started=false"],
            "the running call is abandoned to its worker; the queued one is dropped")
        gate.release()
        #expect(waitUntil(seconds: 30) { ran.value == 1 && pool.currentStatistics.busyWorkers == 0 })
        let statistics = pool.currentStatistics
        #expect(statistics.timedOutRunning == 1)
        #expect(statistics.timedOutQueued == 1)
        #expect(statistics.queuedJobs == 0)
        #expect(ran.value == 1, "the dropped call never ran")
    }

    @Test func idleWorkersExitAfterTheTimeout() {
        let pool = pool(idleTimeout: 0.2)
        defer { pool.close() }
        let done = Counter()
        pool.submit([.init { done.increment() }])
        #expect(waitUntil(seconds: 30) { done.value == 1 })
        #expect(waitUntil(seconds: 30) { pool.currentStatistics.threads == 0 })
        // A later call starts a fresh thread.
        pool.submit([.init { done.increment() }])
        #expect(waitUntil(seconds: 30) { done.value == 2 })
        #expect(pool.currentStatistics.threadsStarted == 2)
    }

    @Test func closeLetsIdleWorkersGoAndLaterCallsStillRun() {
        let pool = pool()
        let done = Counter()
        pool.submit([.init { done.increment() }])
        #expect(waitUntil(seconds: 30) { pool.currentStatistics.idleWorkers == 1 })
        pool.close()
        #expect(waitUntil(seconds: 30) { pool.currentStatistics.threads == 0 })
        pool.submit([.init { done.increment() }])
        #expect(waitUntil(seconds: 30) { done.value == 2 })
        #expect(waitUntil(seconds: 30) { pool.currentStatistics.threads == 0 })
    }
}

/// A thread-safe counter.
private final class Counter: Sendable {
    private let count = Mutex(0)

    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}
