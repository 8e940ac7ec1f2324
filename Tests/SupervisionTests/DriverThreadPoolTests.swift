import Foundation
import SharedTestSupport
import Testing

@testable import Supervision

/// The driver-call pool reuses threads between calls but never makes one call wait for another.
@Suite(.offCooperativePool) struct DriverThreadPoolTests {

    @Test func sequentialCallsReuseOneThread() {
        let pool = DriverThreadPool(name: "test.pool", idleTimeout: 60, maxIdleWorkers: 4)
        defer { pool.close() }
        let done = Counter()
        for round in 1...20 {
            pool.run { done.increment() }
            #expect(waitUntil(seconds: 30) { done.value == round && pool.currentStatistics.idleWorkers == 1 })
        }
        let statistics = pool.currentStatistics
        #expect(statistics.threadsStarted == 1)
        #expect(statistics.jobsRun == 20)
        #expect(statistics.busyWorkers == 0)
    }

    @Test func aHungCallNeverDelaysAnother() {
        let pool = DriverThreadPool(name: "test.pool", idleTimeout: 60, maxIdleWorkers: 4)
        defer { pool.close() }
        let hung = Gate()
        let hungReturned = Counter()
        pool.run {
            hung.wait()
            hungReturned.increment()
        }
        // Another call runs to completion while the first one still hangs, on a second thread.
        let other = Counter()
        pool.run { other.increment() }
        #expect(waitUntil(seconds: 30) { other.value == 1 })
        #expect(hungReturned.value == 0)
        #expect(pool.currentStatistics.threadsStarted == 2)
        // The idle second worker takes the next call; the hung one is still busy.
        #expect(waitUntil(seconds: 30) { pool.currentStatistics.idleWorkers == 1 })
        pool.run { other.increment() }
        #expect(waitUntil(seconds: 30) { other.value == 2 })
        #expect(pool.currentStatistics.threadsStarted == 2)
        hung.release()
        #expect(waitUntil(seconds: 30) { hungReturned.value == 1 })
    }

    @Test func idleWorkersExitAfterTheTimeout() {
        let pool = DriverThreadPool(name: "test.pool", idleTimeout: 0.2, maxIdleWorkers: 4)
        defer { pool.close() }
        let done = Counter()
        pool.run { done.increment() }
        #expect(waitUntil(seconds: 30) { done.value == 1 })
        #expect(
            waitUntil(seconds: 30) {
                pool.currentStatistics.idleWorkers == 0 && pool.currentStatistics.busyWorkers == 0
            })
        // A later call starts a fresh thread.
        pool.run { done.increment() }
        #expect(waitUntil(seconds: 30) { done.value == 2 })
        #expect(pool.currentStatistics.threadsStarted == 2)
    }

    @Test func noMoreThanMaxIdleWorkersWait() {
        let pool = DriverThreadPool(name: "test.pool", idleTimeout: 60, maxIdleWorkers: 2)
        defer { pool.close() }
        let gate = Gate()
        let done = Counter()
        for _ in 0..<5 {
            pool.run {
                gate.wait()
                done.increment()
            }
        }
        #expect(pool.currentStatistics.threadsStarted == 5)
        gate.release()
        #expect(waitUntil(seconds: 30) { done.value == 5 && pool.currentStatistics.busyWorkers == 0 })
        #expect(pool.currentStatistics.idleWorkers == 2)
    }

    @Test func closeLetsIdleWorkersGoAndLaterCallsStillRun() {
        let pool = DriverThreadPool(name: "test.pool", idleTimeout: 60, maxIdleWorkers: 4)
        let done = Counter()
        pool.run { done.increment() }
        #expect(waitUntil(seconds: 30) { pool.currentStatistics.idleWorkers == 1 })
        pool.close()
        #expect(waitUntil(seconds: 30) { pool.currentStatistics.idleWorkers == 0 })
        pool.run { done.increment() }
        #expect(waitUntil(seconds: 30) { done.value == 2 })
        #expect(
            waitUntil(seconds: 30) {
                pool.currentStatistics.busyWorkers == 0 && pool.currentStatistics.idleWorkers == 0
            })
    }
}

/// A thread-safe counter.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    var value: Int { lock.withLock { count } }
    func increment() { lock.withLock { count += 1 } }
}
