import Dispatch
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The threads that call drivers and publish capability reports: a bounded pool with a queue.
///
/// Why bounded, and why a queue: a thread per call (or a pool that starts one whenever every worker
/// is busy) peaked at 171 threads with 1,000 backends, and handing each call to a thread of its own
/// cost a kernel wake-up per call. Here a tick's calls go into one queue in one step, and a few
/// workers take them in turn without sleeping between them.
///
/// Why a hung driver still cannot starve the others: whenever the oldest queued job has waited
/// `growAfter`, a watchdog thread wakes or starts as many workers again (so a worker stuck in a
/// driver is replaced within that delay, and a burst of slow calls gets workers in a few steps),
/// up to `maxThreads`; at the cap it logs once, loudly, and queued jobs wait for a worker to come
/// back. A job without a timeout (a publish) goes ahead of those with one and may take one worker
/// over the cap, which leaves once it is done: hung drivers never hold back the reports that tell
/// the scheduler they are down. The watchdog also enforces each job's timeout: a job still running
/// past it is reported (`timedOut(true)`: its worker is abandoned to it, and replaced as above), a
/// job still queued past it is dropped without running (`timedOut(false)`). Workers idle for
/// `idleTimeout` exit; `coreThreads` are started at once when jobs arrive.
///
/// All state sits in one `Mutex`; each parked worker and the watchdog wait on a semaphore of their
/// own, so the compiler checks every access.
final class DriverThreadPool: Sendable {
    /// One unit of work. `timedOut` runs on the watchdog's thread and must not block.
    struct Job: Sendable {
        var work: @Sendable () -> Void
        /// How long the job may take from `submit`, or nil for no limit (a publish bounds its own
        /// time through libcurl's timeouts).
        var timeout: TimeInterval?
        /// Called once when the timeout passed first: `started` says whether a worker was running
        /// the job (and is now abandoned to it) or it never left the queue (and never will run).
        var timedOut: @Sendable (_ started: Bool) -> Void

        init(
            timeout: TimeInterval? = nil, timedOut: @escaping @Sendable (_ started: Bool) -> Void = { _ in },
            _ work: @escaping @Sendable () -> Void
        ) {
            self.work = work
            self.timeout = timeout
            self.timedOut = timedOut
        }
    }

    /// How large the pool may grow and how fast.
    struct Limits: Sendable, Equatable {
        /// Workers started at once when jobs arrive (more only through the watchdog).
        var coreThreads: Int
        /// Workers never exceed this, hung ones included, but for one running a job without a
        /// timeout while all others are busy. The watchdog thread is one more.
        var maxThreads: Int
        /// How long the oldest queued job may wait before the watchdog starts another worker.
        var growAfter: TimeInterval
        /// How long an idle worker waits for a job before it exits.
        var idleTimeout: TimeInterval

        init(coreThreads: Int, maxThreads: Int, growAfter: TimeInterval = 0.02, idleTimeout: TimeInterval) {
            self.coreThreads = max(1, coreThreads)
            self.maxThreads = max(self.coreThreads, maxThreads)
            self.growAfter = growAfter
            self.idleTimeout = idleTimeout
        }
    }

    /// Counters for tests, diagnostics and the cap's log line.
    struct Statistics: Equatable, Sendable {
        var threadsStarted = 0
        /// Workers alive now (busy, hung or idle), and the most ever alive at once.
        var threads = 0
        var peakThreads = 0
        var jobsRun = 0
        var idleWorkers = 0
        var busyWorkers = 0
        var queuedJobs = 0
        /// Jobs whose timeout passed while a worker ran them / before any worker took them.
        var timedOutRunning = 0
        var timedOutQueued = 0
        /// Times the watchdog wanted another worker and the cap refused it.
        var growthRefusedAtCap = 0
    }

    let limits: Limits
    private let name: String
    private var watchdogName: String { String(name.utf8.prefix(11))! + ".wd" }
    private let stackSize: Int
    private let logger: Logger
    private let state = Mutex(State())
    /// Wakes the watchdog early: new jobs arrived while it slept without a deadline or past theirs.
    private let watchdogBell = DispatchSemaphore(value: 0)

    init(name: String, limits: Limits, logger: Logger, stackSize: Int = 1 << 20) {
        self.name = name
        self.limits = limits
        self.logger = logger
        self.stackSize = stackSize
    }

    /// Queues `jobs` in order, wakes idle workers for them, and starts workers up to `coreThreads`.
    func submit(_ jobs: [Job]) {
        guard !jobs.isEmpty else { return }
        let now = Self.uptime()
        let (wake, start, ringWatchdog, startWatchdog) = state.withLock {
            state -> ([DispatchSemaphore], Int, Bool, Bool) in
            var earliestDue = now + Self.nanoseconds(limits.growAfter)
            for job in jobs {
                let deadline = job.timeout.map { now + Self.nanoseconds($0) }
                if let deadline { earliestDue = min(earliestDue, deadline) }
                state.queue.append(Queued(job: job, enqueuedAt: now, deadline: deadline))
            }
            state.statistics.jobsRun += jobs.count
            // Parked workers beyond the core ones are woken by the watchdog only when calls wait,
            // so they stay idle, and exit, while the core workers keep up.
            let wake = state.unpark(count: min(jobs.count, limits.coreThreads))
            var start = 0
            if state.statistics.threads < limits.coreThreads {
                start = min(jobs.count - wake.count, limits.coreThreads - state.statistics.threads)
                state.statistics.threadsStarted += start
                state.statistics.threads += start
                state.statistics.peakThreads = max(state.statistics.peakThreads, state.statistics.threads)
            }
            var startWatchdog = false
            if !state.watchdogRunning {
                state.watchdogRunning = true
                startWatchdog = true
            }
            var ring = false
            if !startWatchdog, !state.watchdogRung, state.watchdogWakesAt.map({ $0 > earliestDue }) ?? true {
                state.watchdogRung = true
                ring = true
            }
            return (wake, start, ring, startWatchdog)
        }
        for semaphore in wake { semaphore.signal() }
        for _ in 0..<start { startWorker() }
        if ringWatchdog { watchdogBell.signal() }
        if startWatchdog { startThread(name: watchdogName) { [self] in watch() } }
    }

    /// Lets idle workers exit now and busy ones once the queue is empty, and the watchdog once
    /// nothing runs. Jobs submitted later still run.
    func close() {
        let wake = state.withLock { state in
            state.closed = true
            state.watchdogRung = true
            return state.unpark(count: Int.max)
        }
        for semaphore in wake { semaphore.signal() }
        watchdogBell.signal()
    }

    var currentStatistics: Statistics {
        state.withLock { state in
            var copy = state.statistics
            copy.idleWorkers = state.parked.count
            copy.busyWorkers = state.running.count
            copy.queuedJobs = state.queue.count
            return copy
        }
    }

    // MARK: workers

    private func startWorker() {
        let parking = DispatchSemaphore(value: 0)
        startThread(name: name) { [self] in work(parking: parking) }
    }

    /// Starts a thread named `name` as the kernel sees it (`ps -L`, `/proc/<pid>/task/*/comm`: at
    /// most 15 bytes), which is how `scripts/bench-scale` counts the pool.
    private func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            Self.nameCurrentThread(name)
            body()
        }
        thread.name = name
        thread.stackSize = stackSize
        thread.start()
    }

    private func work(parking: DispatchSemaphore) {
        let id = ObjectIdentifier(parking)
        var finished = false
        while true {
            // The job is released at the end of each turn, before the worker parks: an idle worker
            // keeps nothing alive that a job captured.
            guard let job = nextJob(worker: id, finishedOne: finished, parking: parking) else { return }
            job()
            finished = true
        }
    }

    /// The next job's work for worker `id`, parking it while the queue is empty; nil when it
    /// should exit (idle for `idleTimeout`, or the pool closed and nothing is queued). Marks the
    /// worker's previous job done in the same lock.
    private func nextJob(
        worker id: ObjectIdentifier, finishedOne: Bool, parking: DispatchSemaphore
    ) -> (@Sendable () -> Void)? {
        var finishedOne = finishedOne
        while true {
            let (taken, lastAfterClose): (Queued??, Bool) = state.withLock { state in
                var lastAfterClose = false
                if finishedOne {
                    state.running.removeValue(forKey: id)
                    lastAfterClose =
                        state.closed && state.watchdogRunning && state.running.isEmpty && state.queue.isEmpty
                }
                return (state.take(worker: id, parking: parking, limits: limits), lastAfterClose)
            }
            finishedOne = false
            // A closed pool's watchdog waits for the last running job before it exits.
            if lastAfterClose { watchdogBell.signal() }
            if let taken { return taken?.job.work }
            if parking.wait(timeout: .now() + limits.idleTimeout) == .success { continue }
            let exits = state.withLock { state in
                guard let index = state.parked.firstIndex(where: { $0.id == id }) else { return false }
                state.parked.remove(at: index)
                state.statistics.threads -= 1
                return true
            }
            if exits { return nil }
            // Unparked while the wait timed out: take the signal meant for it, then look for work.
            parking.wait()
        }
    }

    /// Foundation's `Thread.name` does not reach the kernel on Linux, and Glibc's module leaves
    /// out `pthread_setname_np`; `/proc/thread-self/comm` is the kernel's own way.
    private static func nameCurrentThread(_ name: String) {
        let fd = Glibc.open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { _ = Glibc.close(fd) }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }

    // MARK: the watchdog

    private func watch() {
        while true {
            let now = Self.uptime()
            let round = state.withLock { state in state.watch(now: now, limits: limits) }
            for timedOut in round.timedOutRunning { timedOut(true) }
            for timedOut in round.timedOutQueued { timedOut(false) }
            for semaphore in round.wake { semaphore.signal() }
            for _ in 0..<round.start { startWorker() }
            if let cap = round.reachedCap {
                logger.warning(
                    "driver pool at its cap: queued calls wait for a thread to come back",
                    metadata: [
                        "max_threads": "\(limits.maxThreads)", "queued_calls": "\(cap.queued)",
                        "calls_past_timeout": "\(cap.hung)",
                    ])
            }
            if round.leftCap { logger.notice("driver pool below its cap again") }
            if round.exit { return }
            if let wakeAt = round.wakeAt {
                _ = watchdogBell.wait(timeout: DispatchTime(uptimeNanoseconds: wakeAt))
            } else {
                watchdogBell.wait()
            }
        }
    }

    // MARK: state

    private struct Queued {
        var job: Job
        var enqueuedAt: UInt64
        var deadline: UInt64?
    }

    private struct Running {
        var deadline: UInt64?
        var timedOut: @Sendable (Bool) -> Void
        var overdue = false
    }

    private struct Parked {
        var id: ObjectIdentifier
        var semaphore: DispatchSemaphore
    }

    /// What one watchdog round decided, carried out after the lock is released.
    private struct WatchRound {
        var timedOutRunning: [@Sendable (Bool) -> Void] = []
        var timedOutQueued: [@Sendable (Bool) -> Void] = []
        /// Parked workers to wake and new ones to start, because calls waited.
        var wake: [DispatchSemaphore] = []
        var start = 0
        var reachedCap: (queued: Int, hung: Int)?
        var leftCap = false
        var exit = false
        var wakeAt: UInt64?
    }

    private struct State {
        var queue = JobQueue()
        /// Idle workers, most recently parked last (woken first, so hot threads are reused).
        var parked: [Parked] = []
        /// Busy workers by identity, with their job's deadline.
        var running: [ObjectIdentifier: Running] = [:]
        var closed = false
        var watchdogRunning = false
        /// The bell was rung and the watchdog has not run since: no need to ring again.
        var watchdogRung = false
        /// When the watchdog wakes by itself; nil while it sleeps until rung.
        var watchdogWakesAt: UInt64?
        var atCap = false
        var statistics = Statistics()

        /// The next queued job for worker `id`, now running; `.some(nil)` when the worker should
        /// exit (the pool closed and nothing is queued); nil when it parked itself to wait.
        mutating func take(worker id: ObjectIdentifier, parking: DispatchSemaphore, limits: Limits) -> Queued?? {
            // The one worker allowed over the cap is for a job without a timeout; it leaves after.
            if statistics.threads > limits.maxThreads, queue.first?.deadline != nil || queue.isEmpty {
                statistics.threads -= 1
                return .some(nil)
            }
            if let next = queue.popFirst() {
                running[id] = Running(deadline: next.deadline, timedOut: next.job.timedOut)
                return .some(next)
            }
            if closed {
                statistics.threads -= 1
                return .some(nil)
            }
            parked.append(Parked(id: id, semaphore: parking))
            return nil
        }

        /// Takes up to `count` parked workers off the idle list, for the caller to signal.
        mutating func unpark(count: Int) -> [DispatchSemaphore] {
            let taken = min(count, parked.count)
            guard taken > 0 else { return [] }
            let woken = parked.suffix(taken).map(\.semaphore)
            parked.removeLast(taken)
            return woken
        }

        mutating func watch(now: UInt64, limits: Limits) -> WatchRound {
            var round = WatchRound()
            watchdogRung = false
            var next: UInt64?
            func wake(at time: UInt64) { next = min(next ?? time, time) }

            for (id, job) in running where !job.overdue {
                guard let deadline = job.deadline else { continue }
                if deadline <= now {
                    running[id]?.overdue = true
                    statistics.timedOutRunning += 1
                    round.timedOutRunning.append(job.timedOut)
                } else {
                    wake(at: deadline)
                }
            }
            let expired = queue.removeAll { $0.deadline.map { $0 <= now } ?? false }
            statistics.timedOutQueued += expired.count
            round.timedOutQueued = expired.map(\.job.timedOut)
            if let deadline = queue.earliestDeadline { wake(at: deadline) }

            if let oldest = queue.first {
                let due = oldest.enqueuedAt + DriverThreadPool.nanoseconds(limits.growAfter)
                // As many workers again each time calls have waited, so a burst of slow calls
                // (1,000 initializations at start-up) reaches the cap in four steps: parked
                // workers first, then new threads.
                if due <= now {
                    let step = min(queue.count, max(1, statistics.threads))
                    round.wake = unpark(count: step)
                    // A job without a timeout (a publish: it bounds its own time) may take one
                    // worker over the cap, so hung drivers never hold back the reports.
                    let cap = limits.maxThreads + (oldest.deadline == nil ? 1 : 0)
                    round.start = max(0, min(step - round.wake.count, cap - statistics.threads))
                }
                if due > now {
                    wake(at: due)
                } else if !round.wake.isEmpty || round.start > 0 {
                    statistics.threadsStarted += round.start
                    statistics.threads += round.start
                    statistics.peakThreads = max(statistics.peakThreads, statistics.threads)
                    wake(at: now + DriverThreadPool.nanoseconds(limits.growAfter))
                } else {
                    statistics.growthRefusedAtCap += 1
                    if !atCap {
                        atCap = true
                        round.reachedCap = (queue.count, running.values.filter(\.overdue).count)
                    }
                    wake(at: now + DriverThreadPool.nanoseconds(limits.growAfter))
                }
            } else if atCap {
                atCap = false
                round.leftCap = true
            }
            if closed && queue.isEmpty && running.isEmpty {
                watchdogRunning = false
                round.exit = true
            }
            watchdogWakesAt = next
            round.wakeAt = next
            return round
        }
    }

    /// A FIFO of queued jobs: an array and the index of its head, compacted as it drains.
    /// The queued jobs: those without a timeout (publishes) first, then the others, each in the
    /// order they came. An array and the index of its head, compacted as it drains.
    private struct JobQueue {
        private var unbounded: [Queued] = []
        /// Taken items are set to nil, so the queue keeps nothing alive that a taken job captured.
        private var items: [Queued?] = []
        private var head = 0

        var isEmpty: Bool { unbounded.isEmpty && head == items.count }
        var count: Int { unbounded.count + items.count - head }
        var first: Queued? { unbounded.first ?? (head == items.count ? nil : items[head]) }
        var earliestDeadline: UInt64? { items[head...].lazy.compactMap { $0?.deadline }.min() }

        mutating func append(_ item: Queued) {
            if item.deadline == nil { unbounded.append(item) } else { items.append(item) }
        }

        mutating func popFirst() -> Queued? {
            if !unbounded.isEmpty { return unbounded.removeFirst() }
            guard head < items.count else { return nil }
            let item = items[head]
            items[head] = nil
            head += 1
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024, head * 2 >= items.count {
                items.removeFirst(head)
                head = 0
            }
            return item
        }

        /// Removes and returns the jobs with a timeout matching `shouldRemove`, keeping the
        /// others' order.
        mutating func removeAll(where shouldRemove: (Queued) -> Bool) -> [Queued] {
            guard items[head...].contains(where: { $0.map(shouldRemove) ?? false }) else { return [] }
            var kept: [Queued?] = []
            var removed: [Queued] = []
            for case let item? in items[head...] {
                if shouldRemove(item) { removed.append(item) } else { kept.append(item) }
            }
            items = kept
            head = 0
            return removed
        }
    }

    static func uptime() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func nanoseconds(_ seconds: TimeInterval) -> UInt64 {
        seconds.isFinite
            ? UInt64(max(0, min(seconds, 86_400 * 365)) * 1_000_000_000) : UInt64(86_400 * 365) * 1_000_000_000
    }
}
