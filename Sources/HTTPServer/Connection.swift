// One client connection's state, owned by the event loop that accepted it.

/// The per-connection state machine. Phases:
/// - `head`: waiting for (more of) a request head; `input` holds bytes not yet consumed.
/// - `body`: the head is parsed and routed; `bodyReader` collects the body.
/// - `awaitingResponse`: a deferred handler has not answered yet; input waits in `input`.
/// - `lingering`: the final response is written and the write side shut; unread request bytes are
///   drained until the client closes or `lingerTimeout` passes, so the client gets the response
///   rather than a reset.
/// A connection that must close after its current response has `closeAfterOutput` set. Whether it
/// is read at all is `hold` (why the server stopped reading it) plus `peerClosedInput`.
final class Connection {
    enum Phase { case head, body, awaitingResponse, lingering }
    enum InputDeadline { case none, header, body, idle, linger }
    /// Why the server stopped reading (and so stopped producing responses for) this connection.
    enum Hold: Equatable {
        case none
        /// Its unsent responses reached `maxQueuedResponseBytes` or `maxPipelinedRequests`: the
        /// client is not reading. Lifted when its output drains.
        case clientNotReading
        /// The server-wide output budget (`maxBufferedOutputBytes`) is used up by all connections
        /// together. Lifted when the budget has room again.
        case outputBudget
        /// More than a head's worth of pipelined bytes wait behind a deferred response. Lifted when
        /// the deferred answer arrives.
        case deferredBacklog
    }

    let fd: Int32
    let id: UInt64
    let peer: PeerAddress
    var slot = 0
    var closed = false

    var phase: Phase = .head
    var input: [UInt8] = []
    var scanner = HeadScanner()
    /// The routed head of a request whose body is being read.
    var pending: PendingRequest?
    var bodyReader: BodyReader?
    var pendingContext: ResponseContext?

    /// Unsent responses (beyond what the event loop's scratch queue holds while it serves this
    /// connection).
    var output = OutputQueue()
    /// Bytes of `output` counted in the server's output budget.
    var chargedOutput = 0
    /// Request bytes held (unconsumed input plus the announced size of the body being read) counted
    /// in the server's request budget.
    var chargedRequestBytes = 0
    var unflushedResponses = 0
    var closeAfterOutput = false
    /// The client shut its sending side (or the connection is draining its input after the final
    /// response): nothing more is read, complete requests already read are still answered.
    var peerClosedInput = false
    var hold: Hold = .none
    var registeredRead = true
    var registeredWrite = false

    private(set) var inputDeadline: Int64 = 0
    private(set) var inputDeadlineKind: InputDeadline = .none
    var writeDeadline: Int64 = 0

    init(fd: Int32, id: UInt64, peer: PeerAddress) {
        self.fd = fd
        self.id = id
        self.peer = peer
    }

    var outputPending: Bool { !output.isEmpty }

    /// Whether the event loop should leave the socket's input alone.
    var readingPaused: Bool { hold != .none || peerClosedInput && phase != .lingering }

    /// Between requests with nothing buffered either way: safe to close at shutdown.
    var isIdle: Bool {
        phase == .head && input.isEmpty && scanner.offset == 0 && !outputPending
    }

    func setInputDeadline(_ kind: InputDeadline, at deadline: Int64) {
        inputDeadlineKind = kind
        inputDeadline = kind == .none ? 0 : deadline
    }
}

/// A parsed and routed head, waiting for its body.
struct PendingRequest {
    var head: ParsedHead
    var split: RequestTarget.Split
    var match: Router.Match
}
