// An event loop's state belongs to the thread that runs it; debug builds check it.

import CHTTPServer
import Foundation
import Logging
import Synchronization
import Testing

@testable import HTTPServer

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct EventLoopThreadTests {
    static func makeLoop() throws -> EventLoop {
        var logger = Logger(label: "volumed.http.tests")
        logger.logLevel = .critical
        let core = ServerCore(
            configuration: HTTPServerConfiguration(), router: Router(), logger: logger, onResponse: nil)
        let listener = try Socket.listen(host: "127.0.0.1", port: 0, backlog: 1, reusePort: false, exclusive: false)
        return try EventLoop(core: core, index: 0, listenFD: listener.fd)
    }

    /// Runs `body` on a new thread and waits for it.
    static func onAnotherThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        let result = ResultBox<T>()
        let thread = Thread {
            let value = body()
            result.value.withLock { $0 = value }
            done.signal()
        }
        thread.start()
        done.wait()
        return result.value.withLock { $0! }
    }

    @Test func theFirstThreadToPollOwnsTheLoop() throws {
        let loop = try Self.makeLoop()
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(EventLoop.maxEvents))
        defer { events.deallocate() }
        loop.poll(events, timeout: 0)
        #expect(loop.isOnLoopThread())
        #expect(!Self.onAnotherThread { loop.isOnLoopThread() }, "another thread is not the loop's")
        // `post` is for other threads, and they may call it without tripping the check.
        Self.onAnotherThread { loop.post(.shutdown(deadline: 0)) }
        loop.poll(events, timeout: 0)
        #expect(loop.draining)
    }

    #if DEBUG
        /// A loop method called from a thread other than the loop's stops a debug build at once,
        /// instead of racing on the loop's connections and buffers.
        @Test func debugBuildsStopALoopMethodCalledFromAnotherThread() async {
            await #expect(processExitsWith: .failure) {
                let loop = try EventLoopThreadTests.makeLoop()
                let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(EventLoop.maxEvents))
                loop.poll(events, timeout: 0)
                EventLoopThreadTests.onAnotherThread {
                    let elsewhere = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(EventLoop.maxEvents))
                    loop.poll(elsewhere, timeout: 0)
                }
            }
        }
    #endif
}

/// Carries a value out of a thread that the caller waits for.
private final class ResultBox<T: Sendable>: Sendable {
    let value = Mutex<T?>(nil)
}
