import Foundation
import Testing

/// Runs each test of a suite on threads of their own instead of Swift's cooperative pool (one thread
/// per core: two here). Most tests block their thread for seconds (real processes, sockets read with
/// timeouts, `waitUntil`); run side by side on the pool they held both threads while other tests'
/// gates and deadlines expired waiting to run. With this trait a blocking test holds a thread of its
/// own, and the pool stays free for the tests that suspend.
///
/// `@Suite(.offCooperativePool) struct ...`: every test of the suite (and of suites inside it).
package struct OffCooperativePoolTrait: SuiteTrait, TestTrait, TestScoping {
    package var isRecursive: Bool { true }

    /// One scope per test case, none around a whole suite (its tests would inherit the preference
    /// anyway, but setting it per case keeps each test's scope its own).
    package func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        testCase == nil ? nil : self
    }

    package func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withTaskExecutorPreference(ThreadPerJobExecutor.shared) { try await function() }
    }
}

extension Trait where Self == OffCooperativePoolTrait {
    /// Runs the tests on threads of their own, not Swift's cooperative pool: for tests that block.
    package static var offCooperativePool: Self { Self() }
}

/// A task executor that runs every job on a new thread. A synchronous test is one job from start to
/// end, so it blocks only its own thread; an `async` test's jobs between suspensions each get one.
/// Threads are cheap next to what these tests do (start processes, wait on sockets), and a fresh
/// thread per job means no job ever waits behind a blocked one (no pool to exhaust, no deadlock).
final class ThreadPerJobExecutor: TaskExecutor {
    static let shared = ThreadPerJobExecutor()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        let thread = Thread { job.runSynchronously(on: executor) }
        thread.name = "test-off-pool"
        thread.start()
    }
}
