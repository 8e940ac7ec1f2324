// One epoll set run by one thread: accepts, reads, timers and cross-thread messages.
//
// Why not Dispatch read sources: Dispatch on Linux funnels every source through one manager thread,
// registers them EPOLLONESHOT and pays an EPOLL_CTL_MOD re-arm plus an ioctl(SIOCINQ) per read. Here
// each loop owns its epoll set with level-triggered connections (no re-arm), reads straight into one
// reusable buffer, and has its own SO_REUSEPORT listener, so the kernel spreads new connections
// evenly (one shared listener let the first loop to wake take every connection of a burst).
// BENCHMARKS.md has the numbers that decided it.

import CHTTPServer
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// State every loop of one server reads; immutable apart from its atomics (the connection count
/// and the two budgets).
final class ServerCore: Sendable {
    let configuration: HTTPServerConfiguration
    let router: Router
    let logger: Logger
    let onResponse: (@Sendable (ResponseRecord) -> Void)?
    let hooks: ExchangeHooks?
    /// `hooks.exchangeIDField` and `: ` as bytes, sanitized once.
    let exchangeIDField: [UInt8]?
    let limits: ParserLimits
    let serverLine: [UInt8]
    let headerTimeout: Int64
    let bodyTimeout: Int64
    let idleTimeout: Int64
    let writeTimeout: Int64
    let lingerTimeout: Int64
    let openConnections = Atomic<Int>(0)
    /// Set by `beginShutdown` before it posts `.shutdown` to the loops: a response a loop writes
    /// after that carries `Connection: close` even when the loop has not yet read its message.
    let shutdownRequested = Atomic<Bool>(false)
    /// Unsent response bytes queued on all connections (`maxBufferedOutputBytes`).
    let outputBudget: MemoryBudget
    /// Request bytes held by all connections: bodies being read and unconsumed input
    /// (`maxBufferedRequestBytes`).
    let requestBudget: MemoryBudget
    /// Out-of-descriptor warnings of all loops: one per 10 s, with the count of accept failures in
    /// between (every loop's listener fails at once).
    let acceptWarnings = Mutex(RepeatedWarning(intervalMilliseconds: 10_000))

    init(
        configuration: HTTPServerConfiguration, router: Router, logger: Logger,
        onResponse: (@Sendable (ResponseRecord) -> Void)?, hooks: ExchangeHooks? = nil
    ) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.onResponse = onResponse
        self.hooks = hooks
        exchangeIDField = hooks?.exchangeIDField.map { name in
            name.utf8.map { $0 == 13 || $0 == 10 || $0 == 0 ? UInt8(ascii: " ") : $0 } + Array(": ".utf8)
        }
        limits = ParserLimits(
            maxHeadBytes: max(64, configuration.maxHeadBytes), maxTargetBytes: max(1, configuration.maxTargetBytes),
            maxHeaderCount: max(1, configuration.maxHeaderCount), maxBodyBytes: max(0, configuration.maxBodyBytes))
        var server = HTTPHeaders()
        server.add(name: "Server", value: configuration.serverName)
        var line: [UInt8] = []
        server.encode(into: &line)
        serverLine = line
        headerTimeout = configuration.headerReadTimeout.milliseconds
        bodyTimeout = configuration.bodyReadTimeout.milliseconds
        idleTimeout = configuration.keepAliveIdleTimeout.milliseconds
        writeTimeout = configuration.writeTimeout.milliseconds
        lingerTimeout = configuration.lingerTimeout.milliseconds
        outputBudget = MemoryBudget(limit: configuration.maxBufferedOutputBytes)
        requestBudget = MemoryBudget(limit: configuration.maxBufferedRequestBytes)
    }

    /// The smallest timeout, so timers are checked often enough for it (a tenth of it, 10 ms to 250 ms).
    var sweepInterval: Int64 {
        let shortest = [headerTimeout, bodyTimeout, idleTimeout, writeTimeout, lingerTimeout].min() ?? 1000
        return min(250, max(10, shortest / 10))
    }
}

/// Work handed to a loop from another thread.
enum LoopMessage: Sendable {
    case deliver(connectionID: UInt64, fd: Int32, response: HTTPResponse)
    case shutdown(deadline: Int64)
}

let epollIn = UInt32(EPOLLIN.rawValue)
let epollOut = UInt32(EPOLLOUT.rawValue)
let epollErr = UInt32(EPOLLERR.rawValue)
let epollHup = UInt32(EPOLLHUP.rawValue)
let epollRdHup = UInt32(EPOLLRDHUP.rawValue)

/// An event loop. Everything but `post` runs on the loop's own thread.
///
/// `@unchecked Sendable` because the server hands each loop to the thread that runs it, and its
/// mutable state (connections, buffers, timers) is touched by that thread alone: the only method
/// meant for other threads is `post`, which uses nothing but `inbox` (a `Mutex`) and a `write` to
/// the eventfd (thread-safe). Debug builds check the rest: the first of the loop's methods to run
/// records its thread (`run`, or `poll`/`adopt` for the fuzz harness that drives a loop on its own
/// thread), and every method that must run there traps when called from another.
final class EventLoop: @unchecked Sendable {
    let core: ServerCore
    let index: Int
    private let listenFD: Int32
    private let epollFD: Int32
    private let wakeFD: Int32
    private let inbox = Mutex<[LoopMessage]>([])
    /// The loop's thread (`pthread_self()`), 0 until a checked method first runs; debug builds only.
    private let owner = Atomic<UInt>(0)

    var connections: [Connection] = []
    var byFD: [Connection?] = []
    /// Responses produced for the connection being served, written with one `writev`; what the
    /// socket does not take moves to the connection's own queue.
    var scratch = OutputQueue()
    /// Connections of this loop held until the server-wide output budget has room.
    var outputBudgetWaiters: [Connection] = []
    let readBuffer: UnsafeMutableRawBufferPointer
    var dateCache = DateCache()
    var now: Int64 = Socket.monotonicMilliseconds()
    private var nextConnectionID: UInt64
    private(set) var draining = false
    private var drainDeadline: Int64 = 0
    private var accepting = true
    private var acceptPausedUntil: Int64 = 0

    private var nextSweep: Int64 = 0
    private let sweepInterval: Int64

    static let readBufferSize = 64 * 1024
    /// How long a client may read nothing while the output budget is used up (see sweepTimeouts).
    static let stalledReaderGrace: Int64 = 1_000
    static let maxEvents: Int32 = 512

    /// Takes ownership of `listenFD`, which it closes when it stops accepting.
    init(core: ServerCore, index: Int, listenFD: Int32) throws(HTTPServerError) {
        self.core = core
        self.index = index
        self.listenFD = listenFD
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw .systemCallFailed("epoll_create1", errno: errno) }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard wakeFD >= 0 else {
            let code = errno
            close(epollFD)
            throw .systemCallFailed("eventfd", errno: code)
        }
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        scratch.appendOwned { $0.reserveCapacity(64 * 1024) }
        nextConnectionID = UInt64(index) << 48
        sweepInterval = core.sweepInterval
        control(EPOLL_CTL_ADD, fd: wakeFD, events: epollIn)
        control(EPOLL_CTL_ADD, fd: listenFD, events: epollIn)
    }

    deinit {
        readBuffer.deallocate()
        close(epollFD)
        close(wakeFD)
    }

    /// Debug builds stop when a method that must run on the loop's thread runs on another (a race
    /// on connections and buffers that would otherwise corrupt them silently). Free in release.
    @inline(__always)
    func assertOnLoopThread(_ function: StaticString = #function) {
        assert(isOnLoopThread(), "EventLoop.\(function) must run on the loop's own thread")
    }

    /// Whether the caller is the loop's thread; the first caller becomes it.
    func isOnLoopThread() -> Bool {
        let current = UInt(pthread_self())
        let (recorded, previous) = owner.compareExchange(expected: 0, desired: current, ordering: .relaxed)
        return recorded || previous == current
    }

    /// Queues `message` for the loop and wakes it. Safe from any thread.
    func post(_ message: LoopMessage) {
        inbox.withLock { $0.append(message) }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// The thread body: returns when the server has drained after `shutdown`.
    func run() {
        assertOnLoopThread()
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(Self.maxEvents))
        defer { events.deallocate() }
        nextSweep = now + sweepInterval
        while true {
            poll(events, timeout: Int32(clamping: max(0, nextSweep - now)))
            if now >= nextSweep {
                sweepTimeouts()
                nextSweep = now + sweepInterval
            }
            if draining && (connections.isEmpty || now >= drainDeadline) { break }
        }
        for connection in connections.reversed() { closeConnection(connection) }
    }

    /// Waits up to `timeout` milliseconds for events and handles them; timers are the caller's
    /// (`run`; the fuzz harness drives a loop with this alone). Returns the number of events.
    @discardableResult
    func poll(_ events: UnsafeMutablePointer<epoll_event>, timeout: Int32) -> Int {
        assertOnLoopThread()
        let count = epoll_wait(epollFD, events, Self.maxEvents, timeout)
        now = Socket.monotonicMilliseconds()
        dateCache.refresh()
        if count > 0 {
            for eventIndex in 0..<Int(count) {
                let event = events[eventIndex]
                let fd = event.data.fd
                if fd == wakeFD {
                    drainInbox()
                } else if fd == listenFD && accepting {
                    acceptConnections()
                } else if fd >= 0 && Int(fd) < byFD.count, let connection = byFD[Int(fd)] {
                    handle(events: event.events, on: connection)
                }
            }
        } else if count < 0 && errno != EINTR {
            core.logger.error("epoll_wait failed", metadata: ["errno": "\(errno)"])
        }
        return Int(max(0, count))
    }

    // MARK: epoll

    @discardableResult
    func control(_ operation: Int32, fd: Int32, events: UInt32) -> Bool {
        var event = epoll_event()
        event.events = events
        event.data.fd = fd
        return epoll_ctl(epollFD, operation, fd, &event) == 0
    }

    /// Brings the connection's epoll interest in line with whether it wants to read and to write.
    func updateInterest(_ connection: Connection) {
        assertOnLoopThread()
        let wantRead = !connection.readingPaused
        let wantWrite = connection.outputPending
        guard wantRead != connection.registeredRead || wantWrite != connection.registeredWrite else { return }
        connection.registeredRead = wantRead
        connection.registeredWrite = wantWrite
        control(
            EPOLL_CTL_MOD, fd: connection.fd, events: (wantRead ? epollIn | epollRdHup : 0) | (wantWrite ? epollOut : 0)
        )
    }

    // MARK: accepting

    private func acceptConnections() {
        assertOnLoopThread()
        let maxConnections = core.configuration.maxConnections
        for _ in 0..<64 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    chttp_accept4(listenFD, $0, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if fd < 0 {
                let code = errno
                if code == EINTR || code == ECONNABORTED { continue }
                if code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM {
                    // Out of descriptors: stop accepting for a moment instead of spinning on a
                    // level-triggered listener that stays readable.
                    warnAcceptFailed(errno: code)
                    control(EPOLL_CTL_DEL, fd: listenFD, events: 0)
                    accepting = false
                    acceptPausedUntil = now + 100
                }
                return
            }
            if core.openConnections.add(1, ordering: .relaxed).newValue > maxConnections || draining {
                core.openConnections.subtract(1, ordering: .relaxed)
                refuse(fd)
                continue
            }
            Socket.setNoDelay(fd)
            adopt(fd: fd, peer: Socket.peerAddress(storage))
        }
    }

    /// Serves `fd` (connected, non-blocking) as a new connection of this loop; the caller has
    /// counted it in `openConnections`. Accepting calls it; the fuzz harness hands it one end of a
    /// socket pair.
    @discardableResult
    func adopt(fd: Int32, peer: PeerAddress) -> Connection {
        assertOnLoopThread()
        nextConnectionID &+= 1
        let connection = Connection(fd: fd, id: nextConnectionID, peer: peer)
        connection.slot = connections.count
        connections.append(connection)
        if Int(fd) >= byFD.count {
            byFD.append(contentsOf: repeatElement(nil, count: max(Int(fd) + 1 - byFD.count, byFD.count)))
        }
        byFD[Int(fd)] = connection
        connection.setInputDeadline(.header, at: now + core.headerTimeout)
        control(EPOLL_CTL_ADD, fd: fd, events: epollIn | epollRdHup)
        return connection
    }

    /// Out of descriptors, accepts pause for 100 ms at a time, which would log ten warnings a second:
    /// warn once per interval instead, saying how many failures were not logged in between.
    private func warnAcceptFailed(errno code: Int32) {
        let now = self.now
        guard let suppressed = core.acceptWarnings.withLock({ $0.occurred(at: now) }) else { return }
        var metadata: Logger.Metadata = ["errno": "\(code)", "error": "\(String(cString: strerror(code)))"]
        if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
        core.logger.warning("accept failed; pausing accepts", metadata: metadata)
    }

    /// Best-effort 503 to a connection beyond `maxConnections`, then close.
    private func refuse(_ fd: Int32) {
        var bytes: [UInt8] = []
        var context = ResponseContext(
            method: .get, version: .http1_1, keepAlive: false, routePattern: nil, ifNoneMatch: nil)
        context.exchangeHeaders = core.hooks?.unparsedRequestHeaders
        _ = ResponseEncoder.encode(
            core.configuration.renderError(.serviceUnavailable("The server has too many open connections.")),
            context: context,
            dateLine: dateCache.line, serverLine: core.serverLine, into: &bytes)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(fd)
    }

    // MARK: messages

    private func drainInbox() {
        assertOnLoopThread()
        var value: UInt64 = 0
        _ = read(wakeFD, &value, 8)
        let messages = inbox.withLock { pending -> [LoopMessage] in
            defer { pending.removeAll() }
            return pending
        }
        for message in messages {
            switch message {
            case .deliver(let connectionID, let fd, let response):
                guard Int(fd) < byFD.count, let connection = byFD[Int(fd)], connection.id == connectionID else {
                    continue  // the client went away while the response was produced
                }
                deliverDeferred(response, to: connection)
            case .shutdown(let deadline):
                beginDraining(deadline: deadline)
            }
        }
    }

    private func beginDraining(deadline: Int64) {
        guard !draining else { return }
        draining = true
        drainDeadline = deadline
        if accepting { control(EPOLL_CTL_DEL, fd: listenFD, events: 0) }
        accepting = false
        close(listenFD)
        // A connection counts as idle only if the kernel holds no request bytes for it either: a
        // request that arrived but was not read yet is in flight and gets its answer.
        for connection in connections.reversed() where connection.isIdle && !Self.hasUnreadInput(connection.fd) {
            closeConnection(connection)
        }
    }

    private static func hasUnreadInput(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) > 0
    }

    // MARK: timers

    private func sweepTimeouts() {
        assertOnLoopThread()
        if !accepting && !draining && now >= acceptPausedUntil {
            accepting = control(EPOLL_CTL_ADD, fd: listenFD, events: epollIn)
        }
        // Room may have come from another loop's connections: those do not wake this one.
        resumeOutputBudgetWaiters()
        // While the output budget is used up, everyone's answers wait: a client that has read
        // nothing for `stalledReaderGrace` loses its connection then, not after the full write
        // timeout, so a few hundred never-reading clients cannot stall the service for 30 s a round.
        let shedStalled = core.outputBudget.isExhausted
        let stalledBefore = now - min(Self.stalledReaderGrace, core.writeTimeout)
        var index = connections.count - 1
        while index >= 0 {
            let connection = connections[index]
            index -= 1
            // `writeDeadline` is the last write progress plus the write timeout.
            if connection.writeDeadline != 0
                && (now >= connection.writeDeadline
                    || shedStalled && connection.writeDeadline - core.writeTimeout <= stalledBefore)
            {
                core.logger.debug(
                    "closing a connection whose client stopped reading", metadata: ["peer": "\(connection.peer)"])
                // Reset rather than close: a plain close leaves the unsent responses (up to the whole
                // send buffer) in an orphaned socket the kernel keeps for a client that never reads.
                var reset = linger(l_onoff: 1, l_linger: 0)
                setsockopt(connection.fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
                closeConnection(connection)
            } else if connection.inputDeadline != 0 && now >= connection.inputDeadline {
                inputDeadlinePassed(connection)
            }
        }
    }

    // MARK: closing

    func closeConnection(_ connection: Connection) {
        assertOnLoopThread()
        guard !connection.closed else { return }
        connection.closed = true
        close(connection.fd)
        byFD[Int(connection.fd)] = nil
        let last = connections.removeLast()
        if last !== connection {
            connections[connection.slot] = last
            last.slot = connection.slot
        }
        core.openConnections.subtract(1, ordering: .relaxed)
        core.outputBudget.release(connection.chargedOutput)
        connection.chargedOutput = 0
        core.requestBudget.release(connection.chargedRequestBytes)
        connection.chargedRequestBytes = 0
        connection.output = OutputQueue()
        connection.input = []
        if connection.hold == .outputBudget {
            outputBudgetWaiters.removeAll { $0 === connection }
        }
    }
}

/// A condition that may repeat many times a second (accept failing while out of descriptors),
/// logged at most once per interval.
struct RepeatedWarning {
    let intervalMilliseconds: Int64
    private var lastLogged: Int64?
    private var suppressed = 0

    init(intervalMilliseconds: Int64) {
        self.intervalMilliseconds = intervalMilliseconds
    }

    /// Records one occurrence at `now` (milliseconds). Returns nil when it must not be logged, or
    /// how many occurrences went unlogged since the last one that was.
    mutating func occurred(at now: Int64) -> Int? {
        if let lastLogged, now - lastLogged < intervalMilliseconds {
            suppressed += 1
            return nil
        }
        lastLogged = now
        defer { suppressed = 0 }
        return suppressed
    }
}
