// The connection-level half of the HTTP harness: the product's event loop and connection code
// (EventLoop, ConnectionIO, OutputQueue, the budgets) over one end of a Unix socket pair, driven on
// this thread alone (`EventLoop.poll` with a zero timeout, no timers), so a run is reproducible. The
// peer sends the input's bytes and then, as the input's first byte says: never reads, reads, shuts
// its sending side, has deferred answers given at once or only at the end, or meets tight
// server-wide budgets. Checks:
// - the unsent output of the connection never exceeds its limit plus one response, and the
//   server-wide budgets never more than theirs plus one response (one 64 KiB read for requests);
// - a reading peer receives exactly the answers the server produced, in whole responses;
// - a reading, half-closing peer gets one answer per complete request the parser model (RequestStream
//   over the same bytes) says it sent, and then the server closes;
// - once the peer has gone, the server closes the connection and every byte it counted in the
//   budgets is given back.

#if canImport(Glibc)
import Glibc
#endif
import CHTTPServer
import Logging

/// What the peer does, from the input's first byte.
struct PeerBehaviour {
    var reads: Bool
    var halfCloses: Bool
    var answersDeferredAtOnce: Bool
    var tightBudgets: Bool

    init(_ byte: UInt8) {
        reads = byte & 1 != 0
        halfCloses = byte & 2 != 0
        answersDeferredAtOnce = byte & 4 != 0
        tightBudgets = byte & 8 != 0
    }
}

/// Harness state the routes reach (everything runs on the fuzzer's one thread).
final class ScenarioState: @unchecked Sendable {
    var responders: [Responder] = []
    var produced = 0
}

let scenarioState = ScenarioState()

/// A 20 KB body, shared by reference when queued (over OutputQueue.sharedBodyThreshold).
let bigScenarioBody = [UInt8](repeating: UInt8(ascii: "p"), count: 20_000)
let largestScenarioResponse = bigScenarioBody.count + 1024

func scenarioConfiguration(tight: Bool) -> HTTPServerConfiguration {
    var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.maxHeadBytes = Int(harnessLimits.maxHeadBytes)
    configuration.maxTargetBytes = harnessLimits.maxTargetBytes
    configuration.maxHeaderCount = harnessLimits.maxHeaderCount
    configuration.maxBodyBytes = harnessLimits.maxBodyBytes
    configuration.maxPipelinedRequests = 4
    configuration.maxQueuedResponseBytes = 24 * 1024
    configuration.maxBufferedOutputBytes = tight ? 8 * 1024 : 1 << 30
    configuration.maxBufferedRequestBytes = tight ? 512 : 1 << 30
    return configuration
}

/// One event loop per budget setting, made once and reused by every input.
final class ScenarioLoop: @unchecked Sendable {
    let loop: EventLoop
    let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(EventLoop.maxEvents))

    init(tight: Bool) {
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        let configuration = scenarioConfiguration(tight: tight)
        let core = ServerCore(configuration: configuration, router: harnessRouter, logger: logger) { _ in
            scenarioState.produced += 1
        }
        do {
            let listener = try Socket.listen(host: "127.0.0.1", port: 0, backlog: 1, reusePort: false, exclusive: false)
            loop = try EventLoop(core: core, index: 0, listenFD: listener.fd)
        } catch {
            Invariants.fail("cannot make the scenario's event loop: \(error)")
        }
    }

    @discardableResult
    func turn() -> Int { loop.poll(events, timeout: 0) }
}

let roomyLoop = ScenarioLoop(tight: false)
let tightLoop = ScenarioLoop(tight: true)

/// Runs one connection over `stream` with `behaviour`; `model` is the parser-only run of the same
/// bytes (its outcomes say which requests were complete, and which were HEAD).
func runConnectionScenario(_ stream: UnsafeBufferPointer<UInt8>, behaviour: PeerBehaviour, model: RequestStream) {
    let scenario = behaviour.tightBudgets ? tightLoop : roomyLoop
    let loop = scenario.loop
    let core = loop.core
    scenarioState.responders = []
    scenarioState.produced = 0
    var pair: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &pair) == 0 else {
        Invariants.fail("socketpair failed: \(errno)")
    }
    let server = pair[0], client = pair[1]
    var small: Int32 = 4096
    setsockopt(server, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
    setsockopt(client, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
    _ = core.openConnections.add(1, ordering: .relaxed)
    let connection = loop.adopt(fd: server, peer: .loopbackV4)

    var sent = 0
    var shut = false
    var received: [UInt8] = []
    var peerSawEOF = false
    var buffer = [UInt8](repeating: 0, count: 65536)

    func checkBounds() {
        guard !connection.closed else { return }
        let held = connection.output.count + loop.scratch.count
        Invariants.require(held <= core.configuration.maxQueuedResponseBytes + largestScenarioResponse,
                           "a connection holds \(held) unsent bytes")
        Invariants.require(core.outputBudget.current <= core.outputBudget.limit + largestScenarioResponse,
                           "the output budget holds \(core.outputBudget.current) of \(core.outputBudget.limit)")
        Invariants.require(core.requestBudget.current <= core.requestBudget.limit + EventLoop.readBufferSize,
                           "the request budget holds \(core.requestBudget.current) of \(core.requestBudget.limit)")
    }

    func readAvailable() -> Bool {
        guard behaviour.reads, !peerSawEOF else { return false }
        var progress = false
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received.append(contentsOf: buffer[0..<count])
                progress = true
            } else {
                if count == 0 { peerSawEOF = true; progress = true }
                return progress
            }
        }
    }

    /// Sends, serves, reads until nothing moves (bounded).
    func pump(answerDeferred: Bool) {
        var idle = 0
        var rounds = 0
        while idle < 3 && rounds < 20_000 {
            rounds += 1
            var progress = false
            if sent < stream.count {
                let written = send(client, stream.baseAddress! + sent, stream.count - sent, Int32(MSG_NOSIGNAL))
                if written > 0 { sent += written; progress = true }
            } else if behaviour.halfCloses && !shut {
                shutdown(client, Int32(SHUT_WR))
                shut = true
                progress = true
            }
            if scenario.turn() > 0 { progress = true }
            checkBounds()
            if readAvailable() { progress = true }
            if !progress && answerDeferred && !scenarioState.responders.isEmpty {
                let responder = scenarioState.responders.removeFirst()
                responder.respond(.text("answered"))
                progress = true
            }
            idle = progress ? 0 : idle + 1
        }
    }

    pump(answerDeferred: behaviour.answersDeferredAtOnce)
    pump(answerDeferred: true)  // the end: every deferred answer is given

    if behaviour.reads {
        let answers = countResponses(received, model: model)
        Invariants.require(answers == scenarioState.produced,
                           "the peer read \(answers) answers, the server produced \(scenarioState.produced)")
        if behaviour.halfCloses && !behaviour.tightBudgets {
            Invariants.require(answers == model.outcomes.count,
                               "a half-closed peer got \(answers) answers for \(model.outcomes.count) complete requests")
            Invariants.require(peerSawEOF, "the server kept a half-closed connection open after answering it")
        }
    }

    // The peer goes away: the server must close and give back every byte it counted.
    close(client)
    var rounds = 0
    while !connection.closed && rounds < 1_000 {
        rounds += 1
        scenario.turn()
        if !scenarioState.responders.isEmpty { scenarioState.responders.removeFirst().respond(.text("late")) }
    }
    Invariants.require(connection.closed, "the server kept a connection whose peer closed (phase \(connection.phase), hold \(connection.hold))")
    Invariants.require(core.outputBudget.current == 0 && core.requestBudget.current == 0,
                       "bytes still counted after the connection closed: output \(core.outputBudget.current), requests \(core.requestBudget.current)")
    scenarioState.responders = []
}

/// Final responses in `bytes` (1xx interim ones skipped), framed by Content-Length; the n-th answers
/// the model's n-th request, and has no body when the model says it is framed for a HEAD (served
/// or refused after the parser accepted its head, the server's rule: RequestStream.methodOfAnswer).
/// A server fault standing in for a later request (an exhausted budget) follows the same rule.
func countResponses(_ bytes: [UInt8], model: RequestStream) -> Int {
    var index = 0
    var finals = 0
    while index < bytes.count {
        guard let headEnd = findSequence(bytes, [13, 10, 13, 10], from: index) else {
            Invariants.fail("a partial response head at the end of what the peer read")
        }
        let head = bytes[index..<headEnd]
        Invariants.require(head.starts(with: Array("HTTP/1.1 ".utf8)) && head.count >= 12, "a response without a status line")
        let code = Int(head[head.startIndex + 9] - 48) * 100 + Int(head[head.startIndex + 10] - 48) * 10
            + Int(head[head.startIndex + 11] - 48)
        index = headEnd + 4
        if code < 200 { continue }
        let isHead = model.methodOfAnswer(finals) == "HEAD"
        finals += 1
        if code == 204 || code == 304 || isHead { continue }
        var length = 0
        let lines = head.split(separator: 10)
        for line in lines {
            let text = line.last == 13 ? line.dropLast() : line
            if text.count > 16 && equalsIgnoringCase(text.prefix(16), Array("content-length: ".utf8)) {
                length = parseDecimal(text.dropFirst(16)) ?? -1
            }
        }
        Invariants.require(length >= 0 && index + length <= bytes.count, "a response body cut short or unframed")
        index += length
    }
    return finals
}

private func findSequence(_ bytes: [UInt8], _ needle: [UInt8], from start: Int) -> Int? {
    guard bytes.count >= needle.count, start <= bytes.count - needle.count else { return nil }
    var index = start
    while index <= bytes.count - needle.count {
        if bytes[index] == needle[0] && bytes[(index + 1)..<(index + needle.count)].elementsEqual(needle[1...]) {
            return index
        }
        index += 1
    }
    return nil
}
