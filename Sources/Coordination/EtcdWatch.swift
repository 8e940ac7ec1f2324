import Clocks
import Foundation
import JSON
import Scheduler
import Synchronization

/// What a watch hands its handler, in order, on the watch's own thread.
package enum EtcdWatchUpdate: Sendable, Equatable {
    /// Every key in the watched range at `revision`: replaces whatever the handler knew. Sent first,
    /// and again after the history the watch needed was compacted away.
    case snapshot(revision: Int64, keyValues: [EtcdKeyValue])
    /// Changes up to and including `revision`, in order, none seen before.
    case changes(revision: Int64, events: [EtcdEvent])
    /// Nothing undelivered up to `revision`: etcd's progress notification, or a stream that opened
    /// right after it (the handler's view is current again).
    case progress(revision: Int64)
    /// The stream broke or the cluster cannot serve; the watch retries by itself (resuming from the
    /// last revision it delivered) and the handler may mark what it knows as stale.
    case interrupted(EtcdError)
}

/// Where a watch stands in the store's history, and what each message from etcd means for it. Pure,
/// so its rules are tested without a cluster.
struct WatchPosition: Equatable {
    /// The first revision not yet delivered; 0 while a full read is needed.
    private(set) var nextRevision: Int64

    enum Message: Equatable {
        case created
        case events([EtcdEvent])
        case progress(revision: Int64)
        case compacted(compactRevision: Int64)
        case canceled(reason: String)
        case failed(code: Int, message: String)
    }

    enum Step: Equatable {
        case deliver(EtcdWatchUpdate)
        case ignore
        /// The history is gone: read the range in full, then watch from after that read.
        case resynchronize
        /// Open a new stream (on another endpoint) from `nextRevision`.
        case reconnect(EtcdError)
    }

    init(startRevision: Int64) { nextRevision = max(0, startRevision) }

    var needsSnapshot: Bool { nextRevision == 0 }

    mutating func snapshotRead(at revision: Int64) { nextRevision = revision + 1 }

    mutating func receive(_ message: Message) -> Step {
        switch message {
        case .created:
            // Open from `nextRevision`: everything before it was delivered, and what follows comes.
            guard nextRevision > 0 else { return .ignore }
            return .deliver(.progress(revision: nextRevision - 1))
        case .events(let events):
            // After a resume, a member may send again what another one already sent: drop it.
            let fresh = events.filter { $0.modRevision >= nextRevision }
            guard let last = fresh.last else { return .ignore }
            nextRevision = last.modRevision + 1
            return .deliver(.changes(revision: last.modRevision, events: fresh))
        case .progress(let revision):
            guard revision >= nextRevision else { return .ignore }
            nextRevision = revision + 1
            return .deliver(.progress(revision: revision))
        case .compacted:
            nextRevision = 0
            return .resynchronize
        case .canceled(let reason):
            return .reconnect(.rejected(code: 1, message: "watch canceled: \(reason)"))
        case .failed(let code, let message):
            switch EtcdClient.classify((code, message)) {
            case .memberUnavailable:
                return .reconnect(.noQuorum(endpoint: "", message: message))
            case .compacted:
                nextRevision = 0
                return .resynchronize
            case .leaseNotFound, .rejected:
                return .reconnect(.rejected(code: code, message: message))
            }
        }
    }

    /// One line of the gateway's watch stream (`{"result": {...}}` or `{"error": {...}}`).
    static func message(_ value: JSONValue) throws(GatewayJSON.Malformed) -> Message {
        if let status = GatewayJSON.errorStatus(value) { return .failed(code: status.code, message: status.message) }
        guard let result = value["result"] else { throw GatewayJSON.Malformed(reason: "neither result nor error") }
        let compactRevision = try GatewayJSON.int64(result["compact_revision"], "compact_revision")
        if compactRevision > 0 { return .compacted(compactRevision: compactRevision) }
        if result["canceled"]?.boolValue == true {
            return .canceled(reason: result["cancel_reason"]?.stringValue ?? "no reason given")
        }
        if result["created"]?.boolValue == true { return .created }
        if case .array(let items)? = result["events"], !items.isEmpty {
            var events: [EtcdEvent] = []
            events.reserveCapacity(items.count)
            for item in items { events.append(try GatewayJSON.event(item)) }
            return .events(events)
        }
        guard let header = result["header"] else { throw GatewayJSON.Malformed(reason: "no header") }
        return .progress(revision: try GatewayJSON.int64(header["revision"], "header.revision"))
    }
}

/// Whether the member a watch stream reads is still there. etcd sends nothing on a watch while
/// nothing changes, and a member that hangs (a stopped process, a frozen machine) keeps the
/// connection open just as silently, so silence alone proves nothing: after `quietInterval` seconds
/// without a byte the member is probed once (asked for its status, bounded by the request timeout);
/// an answer restarts the quiet clock, a failed probe ends the stream so the watch resumes on
/// another member from the revision it reached. Pure, so its rules are tested without a cluster.
struct QuietProbe: Equatable {
    enum State: Equatable {
        /// Bytes arrived or the member answered a probe at `since`.
        case listening(since: Double)
        /// A probe is out since `startedAt`.
        case probing(startedAt: Double)
        /// The member did not answer: the stream is to end.
        case dead(EtcdError)
    }

    enum Action: Equatable {
        case none
        case startProbe
        case endStream(EtcdError)
    }

    let quietInterval: Double
    private(set) var state: State

    init(quietInterval: Double, now: Double) {
        self.quietInterval = quietInterval
        state = .listening(since: now)
    }

    /// Bytes arrived on the stream: the member is alive (a probe still out is answered by them).
    mutating func received(now: Double) {
        if case .dead = state { return }
        state = .listening(since: now)
    }

    /// Asked about once a second while the stream is open.
    mutating func check(now: Double) -> Action {
        switch state {
        case .listening(let since):
            guard now - since >= quietInterval else { return .none }
            state = .probing(startedAt: now)
            return .startProbe
        case .probing:
            return .none
        case .dead(let error):
            return .endStream(error)
        }
    }

    mutating func probeAnswered(now: Double) {
        guard case .probing = state else { return }
        state = .listening(since: now)
    }

    mutating func probeFailed(_ error: EtcdError) {
        guard case .probing = state else { return }
        state = .dead(error)
    }
}

/// A `QuietProbe` shared by a stream's reader and its probe's thread.
final class SharedQuietProbe: Sendable {
    private let probe: Mutex<QuietProbe>

    init(_ probe: QuietProbe) { self.probe = Mutex(probe) }

    func withLock<T>(_ body: (inout QuietProbe) -> T) -> T { probe.withLock { body(&$0) } }
}

/// Splits the watch stream into its newline-terminated JSON documents, holding at most `limit`
/// bytes of an unfinished one.
struct LineSplitter {
    let limit: Int
    private var pending: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    /// Appends `bytes` and returns the complete lines, or nil when a line outgrew the limit.
    mutating func append(_ bytes: UnsafeRawBufferPointer) -> [[UInt8]]? {
        var lines: [[UInt8]] = []
        for byte in bytes {
            if byte == 0x0A {
                if !pending.isEmpty { lines.append(pending) }
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(byte)
            }
        }
        return pending.count > limit ? nil : lines
    }

    /// The unterminated rest (an error answer may end without a newline).
    mutating func finish() -> [UInt8]? {
        defer { pending.removeAll() }
        let rest = pending.filter { $0 != 0x20 && $0 != 0x0D && $0 != 0x09 }
        return rest.isEmpty ? nil : pending
    }
}

/// One streaming watch on a range of keys, on its own thread: it reads the range in full, then
/// follows every change; when the stream breaks it resumes from the last revision it delivered on
/// the next endpoint (after a short, growing pause), and when etcd compacted that history away it
/// reads the range in full again. A stream quiet for `quietProbeInterval` has its member probed
/// (`QuietProbe`), so a hung member holds the watch for at most that plus one request timeout.
/// The handler runs on the watch's thread, one update at a time.
package final class EtcdWatch: Sendable {
    package struct Retry: Sendable, Equatable {
        /// Pause after the first failure; doubled after each further one up to `maxDelay`.
        package var initialDelay: Double
        package var maxDelay: Double

        package init(initialDelay: Double = 0.1, maxDelay: Double = 2) {
            self.initialDelay = initialDelay
            self.maxDelay = maxDelay
        }
    }

    /// A line of the stream larger than this ends the stream as invalid (a batch of events of keys
    /// volumed writes is far smaller).
    static let maxLineBytes = 64 * 1024 * 1024

    private let client: EtcdClient
    private let keys: EtcdKeys
    private let retry: Retry
    private let quietProbeInterval: Double
    private let handler: @Sendable (EtcdWatchUpdate) -> Void
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let endpointInUse = Mutex<String?>(nil)

    /// Starts watching `keys`. `startRevision` 0 begins with a full read; a later revision resumes
    /// from it (a snapshot comes only if it was compacted). `quietProbeInterval`: seconds of silence
    /// on the stream before its member is asked whether it still answers.
    package init(
        client: EtcdClient, keys: EtcdKeys, startRevision: Int64 = 0, retry: Retry = Retry(),
        quietProbeInterval: Double = 3,
        handler: @escaping @Sendable (EtcdWatchUpdate) -> Void
    ) {
        self.client = client
        self.keys = keys
        self.retry = retry
        self.quietProbeInterval = quietProbeInterval
        self.handler = handler
        let thread = Thread { [self] in
            run(position: WatchPosition(startRevision: startRevision))
            finished.signal()
        }
        thread.name = "etcd-watch"
        thread.start()
    }

    /// The endpoint whose stream the watch reads now, nil between streams.
    package var endpoint: String? { endpointInUse.withLock { $0 } }

    /// Ends the watch and waits for its thread (at most about a second: libcurl checks once a second).
    package func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        finished.wait()
    }

    private var isStopped: Bool { stopped.load(ordering: .relaxed) }

    private func run(position start: WatchPosition) {
        var position = start
        var delay = retry.initialDelay
        while !isStopped {
            if position.needsSnapshot {
                do {
                    let range = try client.range(keys)
                    position.snapshotRead(at: range.revision)
                    handler(.snapshot(revision: range.revision, keyValues: range.keyValues))
                    delay = retry.initialDelay
                } catch {
                    handler(.interrupted(error))
                    pause(&delay)
                    continue
                }
            }
            switch follow(&position, delay: &delay) {
            case .stopped, .resynchronize:
                continue
            case .broken(let error, let endpoint):
                if case .noQuorum = error, let endpoint { client.avoid(endpoint) }
                handler(.interrupted(error))
                pause(&delay)
            }
        }
    }

    private enum StreamEnd {
        case stopped
        case resynchronize
        case broken(EtcdError, endpoint: String?)
    }

    /// Reads one stream until it ends; delivers what it carries.
    private func follow(_ position: inout WatchPosition, delay: inout Double) -> StreamEnd {
        var splitter = LineSplitter(limit: Self.maxLineBytes)
        var verdict: StreamEnd?
        var current = position
        var resetDelay = false
        let body = GatewayJSON.watchCreate(keys, startRevision: position.nextRevision)
        let handle: (String, [UInt8]) -> Bool = { endpoint, line in
            let step: WatchPosition.Step
            do throws(GatewayJSON.Malformed) {
                step = current.receive(try WatchPosition.message(try GatewayJSON.parse(line)))
            } catch {
                verdict = .broken(.invalidResponse(endpoint: endpoint, reason: error.reason), endpoint: endpoint)
                return false
            }
            switch step {
            case .ignore:
                resetDelay = true
            case .deliver(let update):
                resetDelay = true
                self.handler(update)
            case .resynchronize:
                verdict = .resynchronize
                return false
            case .reconnect(let error):
                if case .noQuorum(_, let message) = error {
                    verdict = .broken(.noQuorum(endpoint: endpoint, message: message), endpoint: endpoint)
                } else {
                    verdict = .broken(error, endpoint: endpoint)
                }
                return false
            }
            return true
        }
        var lastEndpoint: String?
        let liveness = SharedQuietProbe(QuietProbe(quietInterval: quietProbeInterval, now: Self.now()))
        let probe: @Sendable (String) -> Void = { [client] endpoint in
            let thread = Thread {
                do throws(EtcdError) {
                    try client.probe(endpoint)
                    liveness.withLock { $0.probeAnswered(now: Self.now()) }
                } catch {
                    liveness.withLock { $0.probeFailed(error) }
                }
            }
            thread.name = "etcd-watch-probe"
            thread.stackSize = 1 << 19
            thread.start()
        }
        do {
            let (end, endpoint) = try client.stream(
                "/v3/watch", body: body,
                shouldContinue: { [self] endpoint in
                    guard !isStopped else { return false }
                    switch liveness.withLock({ $0.check(now: Self.now()) }) {
                    case .none: return true
                    case .startProbe:
                        probe(endpoint)
                        return true
                    case .endStream: return false
                    }
                }
            ) { endpoint, bytes in
                liveness.withLock { $0.received(now: Self.now()) }
                if lastEndpoint == nil {
                    lastEndpoint = endpoint
                    self.endpointInUse.withLock { $0 = endpoint }
                }
                guard let lines = splitter.append(bytes) else {
                    verdict = .broken(
                        .invalidResponse(endpoint: endpoint, reason: "a watch message is too large"),
                        endpoint: endpoint)
                    return false
                }
                for line in lines where !handle(endpoint, line) { return false }
                return true
            }
            if verdict == nil, let rest = splitter.finish() { _ = handle(endpoint, rest) }
            if verdict == nil, !isStopped, case .dead(let error) = liveness.withLock({ $0.state }) {
                // The member stopped answering: the next stream goes elsewhere.
                client.avoid(endpoint)
                verdict = .broken(error, endpoint: endpoint)
            }
            if verdict == nil {
                verdict =
                    end.stoppedByCaller
                    ? .stopped
                    : .broken(
                        .unavailable([
                            EtcdEndpointFailure(
                                endpoint: endpoint, kind: .transport,
                                detail: "watch stream ended (status \(end.response.status))")
                        ]), endpoint: endpoint)
            }
        } catch {
            if verdict == nil { verdict = .broken(error, endpoint: lastEndpoint) }
        }
        endpointInUse.withLock { $0 = nil }
        position = current
        if resetDelay { delay = retry.initialDelay }
        if isStopped { return .stopped }
        return verdict ?? .stopped
    }

    private static func now() -> Double { Date.timeIntervalSinceReferenceDate }

    /// Waits `delay` seconds (in slices, so `stop` is not held up), then doubles it up to the cap.
    private func pause(_ delay: inout Double) {
        let deadline = MonotonicInstant.now().advanced(by: delay)
        while !isStopped, MonotonicInstant.now() < deadline { usleep(20_000) }
        delay = min(delay * 2, retry.maxDelay)
    }
}
