// The server's lifecycle: bind, run the event loops, drain on shutdown.

import CHTTPServer
import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One answered request, as the metrics hook sees it.
package struct ResponseRecord: Sendable, Equatable {
    /// The matched route pattern (`/drivers/{id}`), or nil when no route matched (404, malformed).
    package let routePattern: String?
    package let method: HTTPMethod
    /// The status actually sent (304 when an ETag matched).
    package let status: HTTPStatus
}

/// An HTTP/1.1 server on POSIX sockets and a few epoll event loops of its own.
///
/// Handlers run on the event loop threads and must not block; slow work answers through
/// `HTTPResponse.deferred`. `start()` binds and returns; `run()` blocks until the server has stopped;
/// `shutdown(gracePeriod:)` stops accepting, lets in-flight requests finish, and returns within the
/// grace period (plus a moment). All three are safe to call from any thread, e.g. a
/// `DispatchSourceSignal` handler for SIGTERM:
///
///     signal(SIGTERM, SIG_IGN)  // let Dispatch, not the default action, see it
///     let term = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
///     term.setEventHandler { server.beginShutdown(gracePeriod: .seconds(10)) }
///     term.resume()
///     try withExtendedLifetime(term) { try server.run() }  // a released source never fires
///
/// Write that in a type or function, not in `main.swift`'s top-level code, whose closures are
/// `@MainActor` in Swift 6 and trap when Dispatch runs them elsewhere.
package final class HTTPServer: Sendable {
    package let configuration: HTTPServerConfiguration
    private let router: Router
    private let logger: Logger
    private let onResponse: (@Sendable (ResponseRecord) -> Void)?
    private let hooks: ExchangeHooks?
    private let state = Mutex<State>(.idle)
    private let stopped = DispatchGroup()

    private enum State {
        case idle
        case running(loops: [EventLoop], port: Int)
        case stopping(port: Int)
        case stopped
    }

    /// - Parameter onResponse: called on an event loop thread after each response is queued (route
    ///   pattern, method, status), e.g. to count "HTTP requests by route and code". Keep it cheap.
    /// - Parameter hooks: run around every exchange (fields every response carries, an access record).
    package init(
        configuration: HTTPServerConfiguration = HTTPServerConfiguration(), router: Router,
        logger: Logger = Logger(label: "volumed.http"),
        onResponse: (@Sendable (ResponseRecord) -> Void)? = nil, hooks: ExchangeHooks? = nil
    ) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.onResponse = onResponse
        self.hooks = hooks
    }

    /// The bound port once started (the real one when the configuration asked for port 0).
    package var localPort: Int? {
        state.withLock {
            switch $0 {
            case .running(_, let port), .stopping(let port): return port
            case .idle, .stopped: return nil
            }
        }
    }

    /// What the server holds for its clients right now, and the most it held at once since start:
    /// unsent response bytes (within `maxBufferedOutputBytes`) and request bytes (within
    /// `maxBufferedRequestBytes`). Zeros when not running.
    package var bufferedBytes: BufferedBytes {
        let core = state.withLock { state -> ServerCore? in
            if case .running(let loops, _) = state { return loops.first?.core }
            return nil
        }
        guard let core else { return BufferedBytes() }
        return BufferedBytes(
            output: core.outputBudget.current, outputPeak: core.outputBudget.peak,
            requests: core.requestBudget.current, requestsPeak: core.requestBudget.peak)
    }

    package struct BufferedBytes: Sendable, Equatable {
        package var output = 0, outputPeak = 0, requests = 0, requestsPeak = 0
    }

    /// Binds the listening socket and starts the event loops; returns once requests are being served.
    package func start() throws(HTTPServerError) {
        try state.withLock { (state: inout State) throws(HTTPServerError) in
            guard case .idle = state else { throw .alreadyStarted }
            let fileLimit = Socket.raiseOpenFileLimit(to: configuration.maxConnections + 256)
            if fileLimit < configuration.maxConnections + 64 {
                logger.warning(
                    "open-file limit is below maxConnections",
                    metadata: [
                        "limit": "\(fileLimit)", "maxConnections": "\(configuration.maxConnections)",
                    ])
            }
            let loopCount =
                configuration.eventLoopCount > 0
                ? configuration.eventLoopCount : max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
            // One listener per loop on the same port (SO_REUSEPORT): the kernel spreads accepts.
            let (firstFD, port) = try Socket.listen(
                host: configuration.host, port: configuration.port, backlog: configuration.listenBacklog,
                reusePort: loopCount > 1, exclusive: true)
            var listeners = [firstFD]
            let core = ServerCore(
                configuration: configuration, router: router, logger: logger, onResponse: onResponse, hooks: hooks)
            var loops: [EventLoop] = []
            do throws(HTTPServerError) {
                while listeners.count < loopCount {
                    listeners.append(
                        try Socket.listen(
                            host: configuration.host, port: port, backlog: configuration.listenBacklog,
                            reusePort: true, exclusive: false
                        ).fd)
                }
                for index in 0..<loopCount {
                    loops.append(try EventLoop(core: core, index: index, listenFD: listeners[index]))
                }
                for loop in loops {
                    stopped.enter()
                    let group = stopped
                    try startThread {
                        chttp_set_thread_name("http-loop-\(loop.index)")
                        loop.run()
                        group.leave()
                    }
                }
            } catch {
                for fd in listeners.dropFirst(loops.count) { close(fd) }
                for loop in loops { loop.post(.shutdown(deadline: 0)) }
                throw error
            }
            state = .running(loops: loops, port: port)
            logger.info(
                "listening",
                metadata: [
                    "address":
                        "\(configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host):\(port)",
                    "eventLoops": "\(loopCount)",
                ])
        }
    }

    /// Starts the server if needed and blocks until it has stopped.
    package func run() throws(HTTPServerError) {
        let needsStart = state.withLock { if case .idle = $0 { return true } else { return false } }
        if needsStart { try start() }
        waitUntilStopped()
    }

    /// Blocks until every event loop has finished (after `shutdown`).
    package func waitUntilStopped() {
        stopped.wait()
        state.withLock { if case .stopping = $0 { $0 = .stopped } }
    }

    /// Stops accepting, closes idle connections, answers requests in flight (each with
    /// `Connection: close`), and closes whatever is still open when `gracePeriod` ends. Returns once
    /// the loops have stopped, or shortly after the grace period. From a request handler (which runs
    /// on an event loop that this would wait for) call `beginShutdown` instead.
    package func shutdown(gracePeriod: Duration = .seconds(10)) {
        beginShutdown(gracePeriod: gracePeriod)
        let millis = gracePeriod.milliseconds + 2000
        _ = stopped.wait(timeout: .now() + .milliseconds(Int(clamping: millis)))
        state.withLock { if case .stopping = $0 { $0 = .stopped } }
    }

    /// `shutdown` without waiting, for callers that must not block.
    package func beginShutdown(gracePeriod: Duration = .seconds(10)) {
        let loops = state.withLock { state -> [EventLoop] in
            switch state {
            case .running(let loops, let port):
                state = .stopping(port: port)
                return loops
            case .idle:
                state = .stopped
                return []
            case .stopping, .stopped:
                return []
            }
        }
        guard !loops.isEmpty else { return }
        loops[0].core.shutdownRequested.store(true, ordering: .releasing)
        logger.info("shutting down", metadata: ["gracePeriod": "\(gracePeriod)"])
        let deadline = Socket.monotonicMilliseconds() + gracePeriod.milliseconds
        for loop in loops { loop.post(.shutdown(deadline: deadline)) }
    }
}

private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// A detached thread running `body` (the event loops are long-lived and block in epoll_wait, so
/// they get threads of their own rather than Dispatch workers).
private func startThread(_ body: @escaping @Sendable () -> Void) throws(HTTPServerError) {
    let box = Unmanaged.passRetained(ThreadBody(body))
    var thread = pthread_t()
    let result = pthread_create(
        &thread, nil,
        { raw in
            let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
            body.run()
            return nil
        }, box.toOpaque())
    guard result == 0 else {
        box.release()
        throw .systemCallFailed("pthread_create", errno: result)
    }
    pthread_detach(thread)
}
