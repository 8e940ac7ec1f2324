import Foundation

/// Threads for driver calls, kept between ticks. Creating a thread per call cost about a third of
/// the tick's CPU with 1,000 backends (the kernel's clone, stack pages; see BENCHMARKS.md,
/// "Profile"), so finished workers wait a while for the next call instead of exiting.
///
/// It never makes a call wait for another: a job goes to an idle worker when there is one and to
/// a new thread otherwise, so a hung driver call occupies only its own worker, exactly as a thread
/// of its own did. The pool shrinks by itself: a worker idle for `idleTimeout` exits, and no more
/// than `maxIdleWorkers` wait at once.
final class DriverThreadPool: @unchecked Sendable {
    /// Counters for tests and diagnostics.
    struct Statistics: Equatable {
        var threadsStarted = 0
        var jobsRun = 0
        var idleWorkers = 0
        var busyWorkers = 0
    }

    let idleTimeout: TimeInterval
    let maxIdleWorkers: Int
    private let name: String
    private let stackSize: Int
    private let condition = NSCondition()

    // Guarded by `condition`.
    private var jobs: [@Sendable () -> Void] = []
    /// Workers waiting for a job.
    private var waiting = 0
    private var closed = false
    private var statistics = Statistics()

    init(name: String, idleTimeout: TimeInterval, maxIdleWorkers: Int, stackSize: Int = 1 << 20) {
        self.name = name
        self.idleTimeout = idleTimeout
        self.maxIdleWorkers = maxIdleWorkers
        self.stackSize = stackSize
    }

    /// Runs `job` now on an idle worker, or on a new thread when every worker is busy.
    func run(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        statistics.jobsRun += 1
        // Each queued job is taken by a distinct waiting worker: `waiting - jobs.count` are unclaimed.
        if waiting > jobs.count {
            jobs.append(job)
            condition.signal()
            condition.unlock()
            return
        }
        statistics.threadsStarted += 1
        statistics.busyWorkers += 1
        condition.unlock()
        let thread = Thread { [self] in work(first: job) }
        thread.name = name
        thread.stackSize = stackSize
        thread.start()
    }

    /// Lets idle workers exit now and busy ones once their job returns; later jobs still run, each
    /// on a thread that exits afterwards.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    var currentStatistics: Statistics {
        condition.lock()
        defer { condition.unlock() }
        var copy = statistics
        copy.idleWorkers = waiting
        return copy
    }

    private func work(first: @escaping @Sendable () -> Void) {
        var slot: (@Sendable () -> Void)? = first
        while slot != nil {
            Self.runAndRelease(&slot)
            slot = nextJob()
        }
    }

    /// Runs the job and drops it before the worker waits, so an idle worker keeps nothing alive
    /// that the job captured.
    private static func runAndRelease(_ slot: inout (@Sendable () -> Void)?) {
        slot.take()?()
    }

    /// The next job for a worker that just finished one, or nil when it should exit.
    private func nextJob() -> (@Sendable () -> Void)? {
        condition.lock()
        defer { condition.unlock() }
        statistics.busyWorkers -= 1
        guard !closed, waiting - jobs.count < maxIdleWorkers else { return nil }
        waiting += 1
        let deadline = Date(timeIntervalSinceNow: idleTimeout)
        while jobs.isEmpty {
            // A timed-out wait still takes a job queued meanwhile: that job counted on this worker.
            if closed || !condition.wait(until: deadline), jobs.isEmpty {
                waiting -= 1
                return nil
            }
        }
        waiting -= 1
        statistics.busyWorkers += 1
        return jobs.removeFirst()
    }
}
