// One client connection's state, owned by the event loop that accepted it.

/// The per-connection state machine. Phases:
/// - `head`: waiting for (more of) a request head; `input` holds bytes not yet consumed.
/// - `body`: the head is parsed and routed; `bodyReader` collects the body.
/// - `awaitingResponse`: a deferred handler has not answered yet; input waits in `input`.
/// - `lingering`: the final response is written and the write side shut; unread request bytes are
///   drained until the client closes or `lingerTimeout` passes, so the client gets the response
///   rather than a reset.
/// A connection that must close after its current response has `closeAfterOutput` set.
final class Connection {
    enum Phase { case head, body, awaitingResponse, lingering }
    enum InputDeadline { case none, header, body, idle, linger }

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

    var output: [UInt8] = []
    var outputOffset = 0
    var unflushedResponses = 0
    var closeAfterOutput = false
    var peerClosedInput = false
    var readingPaused = false
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

    var outputPending: Bool { outputOffset < output.count }

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
