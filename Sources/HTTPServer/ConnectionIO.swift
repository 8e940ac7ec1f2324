// Reading, parsing, dispatching and writing for one connection, on its event loop's thread.

import CHTTPServer
import Logging

#if canImport(Glibc)
    import Glibc
#endif

extension EventLoop {
    func handle(events: UInt32, on connection: Connection) {
        if events & (epollErr | epollHup) != 0 {
            closeConnection(connection)  // reset, or closed both ways: nobody is left to answer
            return
        }
        if events & epollOut != 0 {
            flush(connection)
            if connection.closed { return }
        }
        if events & (epollIn | epollRdHup) != 0 && !connection.readingPaused {
            readAvailable(connection)
        }
    }

    // MARK: reading

    private func readAvailable(_ connection: Connection) {
        let count = recv(connection.fd, readBuffer.baseAddress, readBuffer.count, 0)
        if count <= 0 {
            if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
            peerClosed(connection, error: count < 0)
            return
        }
        if connection.phase == .lingering { return }  // discard what arrives after the final response
        let fresh = UnsafeBufferPointer(
            start: readBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: count)
        if connection.inputDeadlineKind == .idle {
            connection.setInputDeadline(.header, at: now + core.headerTimeout)
        }
        if connection.input.isEmpty {
            let consumed = process(connection, fresh)
            if consumed < count && !connection.closed && !connection.closeAfterOutput {
                connection.input.append(contentsOf: UnsafeBufferPointer(rebasing: fresh[consumed...]))
            }
        } else {
            connection.input.append(contentsOf: fresh)
            processBuffered(connection)
        }
        if connection.closed { return }
        if !chargeRequestBytes(connection) {
            let answering = methodOfOldestUnanswered(connection)
            connection.input = []
            fail(connection, HTTPError.serviceUnavailable(Self.requestBudgetMessage), answering: answering)
        } else if connection.phase == .awaitingResponse && connection.hold == .none
            && connection.input.count > core.limits.maxHeadBytes
        {
            hold(connection, .deferredBacklog)  // pipelined bytes behind a deferred answer: hold them, read no more
        }
        flush(connection)
    }

    /// Processes what is waiting in `connection.input` (after a deferred answer, or after the client
    /// read enough to lift backpressure).
    func processBuffered(_ connection: Connection) {
        var buffered = connection.input
        connection.input = []
        let consumed = buffered.withUnsafeBufferPointer { process(connection, $0) }
        if connection.closed || connection.closeAfterOutput { return }
        if consumed < buffered.count {
            buffered.removeFirst(consumed)
            connection.input = buffered
        }
    }

    /// Serves the requests waiting in `input` once whatever held them is lifted, then writes.
    private func serveBuffered(_ connection: Connection) {
        if !connection.input.isEmpty && !connection.closeAfterOutput {
            if connection.phase == .head { connection.setInputDeadline(.header, at: now + core.headerTimeout) }
            processBuffered(connection)
            if connection.closed { return }
            _ = chargeRequestBytes(connection)  // only ever less than before: never refused
        }
        closeIfHalfClosedAndDone(connection)
        flush(connection)
    }

    /// The client shut its sending side. Every complete request it sent is still answered (also
    /// those pipelined behind a deferred answer); then the connection closes. A partial request can
    /// never complete, so it is dropped.
    private func peerClosed(_ connection: Connection, error: Bool) {
        if error || connection.phase == .lingering {
            closeConnection(connection)
            return
        }
        connection.peerClosedInput = true
        closeIfHalfClosedAndDone(connection)
        if connection.closeAfterOutput && !connection.outputPending {
            closeConnection(connection)
            return
        }
        updateInterest(connection)
    }

    /// For a half-closed client: once nothing it sent can produce another response (no deferred
    /// answer pending, nothing held back), close after the queued output.
    private func closeIfHalfClosedAndDone(_ connection: Connection) {
        guard connection.peerClosedInput, !connection.closeAfterOutput,
            connection.phase != .awaitingResponse, connection.hold == .none
        else { return }
        connection.closeAfterOutput = true
        connection.setInputDeadline(.none, at: 0)
    }

    /// Brings the connection's share of the request budget in line with the request bytes it holds
    /// (unconsumed input and the body received so far). False when the budget refuses more. Bytes
    /// received, not lengths declared: a client cannot take the budget by announcing bodies it
    /// never sends.
    func chargeRequestBytes(_ connection: Connection) -> Bool {
        let held = connection.input.count + (connection.bodyReader?.body.count ?? 0)
        let delta = held - connection.chargedRequestBytes
        if delta > 0 && !core.requestBudget.reserve(delta) { return false }
        if delta < 0 { core.requestBudget.release(-delta) }
        connection.chargedRequestBytes = held
        return true
    }

    /// Brings the connection's share of the output budget in line with its queued output.
    func chargeOutput(_ connection: Connection) {
        let delta = connection.output.count - connection.chargedOutput
        if delta > 0 { core.outputBudget.charge(delta) }
        if delta < 0 { core.outputBudget.release(-delta) }
        connection.chargedOutput = connection.output.count
    }

    static let requestBudgetMessage =
        "The server holds too many request bytes from all clients right now; retry later."

    /// The method of the oldest request the connection has not answered, when the parser has
    /// accepted its head: the one awaiting a deferred answer, the one whose body is being read, or
    /// else the next one waiting in `input` (judged by the scanner and parser themselves, as
    /// `process` would). Nil when that head is incomplete or refused: such bytes never became a
    /// request, and a fault in their place is framed as for a GET.
    private func methodOfOldestUnanswered(_ connection: Connection) -> HTTPMethod? {
        switch connection.phase {
        case .awaitingResponse: return connection.pendingContext?.method
        case .body: return connection.pending?.head.method
        case .lingering: return nil
        case .head:
            return connection.input.withUnsafeBufferPointer { bytes -> HTTPMethod? in
                var start = 0
                // RFC 9112 2.2: empty lines before a request line are skipped, as `process` does.
                while start + 1 < bytes.count && bytes[start] == 13 && bytes[start + 1] == 10 { start += 2 }
                let rest = UnsafeBufferPointer(rebasing: bytes[start...])
                var scanner = HeadScanner()
                guard case .complete(let length) = scanner.scan(rest, limits: core.limits) else { return nil }
                let head = try? RequestParser.parseHead(
                    UnsafeBufferPointer(rebasing: rest[0..<length]), limits: core.limits)
                return head?.method
            }
        }
    }

    // MARK: parsing

    /// Consumes requests from `bytes` until it runs out, must wait, or must close; returns how many
    /// bytes were consumed. Responses go to the output buffer; the caller flushes.
    private func process(_ connection: Connection, _ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var consumed = 0
        let limits = core.limits
        while consumed < bytes.count {
            if connection.closed || connection.closeAfterOutput || connection.phase == .awaitingResponse {
                return consumed
            }
            if !mayProduce(connection) { return consumed }
            let rest = UnsafeBufferPointer(rebasing: bytes[consumed...])
            switch connection.phase {
            case .head:
                if connection.scanner.offset == 0 {
                    // RFC 9112 2.2: ignore empty lines before a request line.
                    if rest[0] == 13 {
                        if rest.count < 2 { return consumed }
                        if rest[1] == 10 {
                            consumed += 2
                            continue
                        }
                    }
                    if connection.inputDeadlineKind != .header {
                        connection.setInputDeadline(.header, at: now + core.headerTimeout)
                    }
                }
                switch connection.scanner.scan(rest, limits: limits) {
                case .incomplete:
                    return consumed
                case .failed(let error):
                    fail(connection, error, answering: nil)
                    return consumed
                case .complete(let length):
                    let headBytes = UnsafeBufferPointer(rebasing: rest[0..<length])
                    consumed += length
                    let head: ParsedHead
                    do {
                        head = try RequestParser.parseHead(headBytes, limits: limits)
                    } catch {
                        fail(connection, error, answering: nil)
                        return consumed
                    }
                    do {
                        try beginRequest(connection, head)
                    } catch {
                        fail(connection, error, answering: head.method)
                        return consumed
                    }
                }
            case .body:
                let method = connection.pending?.head.method
                do {
                    consumed += try connection.bodyReader!.feed(rest)
                } catch {
                    fail(connection, error, answering: method)
                    return consumed
                }
                if !chargeRequestBytes(connection) {
                    fail(connection, HTTPError.serviceUnavailable(Self.requestBudgetMessage), answering: method)
                    return consumed
                }
                if connection.bodyReader!.isComplete { finishBody(connection) }
            case .awaitingResponse, .lingering:
                return consumed
            }
        }
        return consumed
    }

    /// Asked before each request is consumed: whether the connection may produce another response
    /// now. It counts every response already produced, including those of this read batch still in
    /// the scratch queue. Over its own limits it flushes; if the client has not taken the bytes, the
    /// connection is held (not read) until they drain. Over the server-wide output budget it is held
    /// until the budget has room.
    private func mayProduce(_ connection: Connection) -> Bool {
        let configuration = core.configuration
        let queued = connection.output.count + scratch.count
        let overConnection =
            connection.unflushedResponses >= configuration.maxPipelinedRequests
            || queued >= configuration.maxQueuedResponseBytes
        let overServer = core.outputBudget.current + scratch.count >= core.outputBudget.limit
        guard overConnection || overServer else { return true }
        flush(connection)
        if connection.closed { return false }
        if connection.outputPending {
            hold(connection, .clientNotReading)
            return false
        }
        if core.outputBudget.isExhausted {
            hold(connection, .outputBudget)
            outputBudgetWaiters.append(connection)
            return false
        }
        return true
    }

    /// A head is complete: route it, settle `Expect`, and either dispatch or start reading the body.
    private func beginRequest(_ connection: Connection, _ head: ParsedHead) throws(HTTPError) {
        let split = try RequestTarget.split(head.target)
        let match = try core.router.match(method: head.method, rawPath: split.rawPath)
        if head.framing == .none {
            finishRequest(connection, PendingRequest(head: head, split: split, match: match), body: [])
            return
        }
        if case .contentLength(let length) = head.framing, length > core.limits.maxBodyBytes {
            throw .contentTooLarge(
                "The request body of \(length) bytes exceeds \(core.limits.maxBodyBytes) bytes.")
        }
        if head.expectContinue {
            guard case .found = match else {
                // The body is not wanted: answer now and close instead of reading it.
                finishRequest(
                    connection, PendingRequest(head: head, split: split, match: match), body: [], forceClose: true)
                return
            }
        }
        // A declared length that does not fit in what is left of the server-wide request budget
        // gets 503 at once (before `100 Continue`, before a byte of it is read) rather than
        // failing part-way. Only a check: what counts is what arrives.
        if case .contentLength(let length) = head.framing,
            core.requestBudget.current + length > core.requestBudget.limit
        {
            throw .serviceUnavailable(Self.requestBudgetMessage)
        }
        connection.pending = PendingRequest(head: head, split: split, match: match)
        connection.bodyReader = BodyReader(framing: head.framing, limits: core.limits)
        connection.phase = .body
        if head.expectContinue { appendOutput(connection, ResponseEncoder.continueResponse) }
        connection.setInputDeadline(.body, at: now + core.bodyTimeout)
    }

    private func finishBody(_ connection: Connection) {
        guard let pending = connection.pending else { return }
        let body = connection.bodyReader?.takeBody() ?? []
        connection.pending = nil
        finishRequest(connection, pending, body: body)
        // The handler has run: the body is its own now (released here, not while it was read).
        connection.bodyReader = nil
        _ = chargeRequestBytes(connection)
    }

    /// The whole request is in: build it, run the handler, queue the response (or wait for it).
    private func finishRequest(
        _ connection: Connection, _ pending: PendingRequest, body: [UInt8], forceClose: Bool = false
    ) {
        let head = pending.head
        let split = pending.split
        var request = HTTPRequest(
            method: head.method, version: head.version,
            target: String(decoding: head.target, as: UTF8.self), path: split.path, query: split.query,
            headers: head.headers, body: body, peer: connection.peer)
        let wantsConditional = head.headers.firstValue(lowercasedName: HeaderName.ifNoneMatch) != nil
        var context = ResponseContext(
            method: head.method, version: head.version,
            keepAlive: head.keepAlive && !forceClose && !closesAfterResponse, routePattern: nil,
            ifNoneMatch: wantsConditional ? head.headers : nil)
        var early: HTTPResponse?
        if let begin = core.hooks?.begin {
            let start = begin(&request)
            context.exchangeHeaders = start.headers
            context.exchangeID = start.exchangeID
            context.exchangeIDField = core.exchangeIDField
            if start.recordsExchange && core.hooks?.end != nil {
                context.exchange = ExchangeInFlight(
                    target: request.target, startedAt: monotonicNanoseconds(), annotation: request.annotation)
            }
            if let answer = start.answer, answer.deferral == nil { early = answer }
        }
        let response: HTTPResponse
        if let early {
            if case .found(let route, _) = pending.match { context.routePattern = route.pattern }
            response = early
        } else {
            switch pending.match {
            case .notFound:
                response = core.configuration.renderError(.notFound("The resource could not be found."))
            case .methodNotAllowed(let pattern, let allow):
                context.routePattern = pattern
                response = core.configuration.renderError(
                    .methodNotAllowed("The method \(head.method) is not allowed for this resource.", allow: allow))
            case .found(let route, let parameters):
                context.routePattern = route.pattern
                request.pathParameters = parameters
                request.routePattern = route.pattern
                do {
                    response = try route.handler(request)
                } catch let error as HTTPError {
                    response = core.configuration.renderError(error)
                } catch let error as any HTTPResponseError {
                    response = error.response()
                } catch {
                    core.logger.error(
                        "request handler failed",
                        metadata: [
                            "route": "\(route.pattern)", "method": "\(head.method)", "error": "\(error)",
                        ])
                    response = core.configuration.renderError(
                        .internalServerError(
                            "The server has either erred or is incapable of performing the requested operation."))
                }
            }
        }
        if let start = response.deferral {
            connection.phase = .awaitingResponse
            connection.pendingContext = context
            connection.setInputDeadline(.none, at: 0)
            let loop = self
            let connectionID = connection.id
            let fd = connection.fd
            start(
                Responder(renderError: core.configuration.renderError) { [weak loop] answer in
                    loop?.post(.deliver(connectionID: connectionID, fd: fd, response: answer))
                })
            return
        }
        connection.phase = .head
        writeResponse(response, context: context, to: connection)
    }

    /// Queues `response`; afterwards the connection either waits for its next request or closes.
    private func writeResponse(_ response: HTTPResponse, context: ResponseContext, to connection: Connection) {
        let status: HTTPStatus
        if connection.outputPending {
            status = connection.output.append(
                response, context: context, dateLine: dateCache.line, serverLine: core.serverLine)
            chargeOutput(connection)
        } else {
            status = scratch.append(response, context: context, dateLine: dateCache.line, serverLine: core.serverLine)
        }
        connection.unflushedResponses += 1
        core.onResponse?(ResponseRecord(routePattern: context.routePattern, method: context.method, status: status))
        if let exchange = context.exchange, let end = core.hooks?.end {
            let code = status.code
            let sentBody = code == 304 || code == 204 || code < 200 || context.method == .head ? 0 : response.body.count
            end(
                ExchangeRecord(
                    exchangeID: context.exchangeID, method: context.method, target: exchange.target, status: status,
                    bodyBytes: sentBody, durationNanoseconds: monotonicNanoseconds() &- exchange.startedAt,
                    annotation: exchange.annotation))
        }
        if !context.keepAlive {
            connection.closeAfterOutput = true
            connection.setInputDeadline(.none, at: 0)
        } else {
            connection.setInputDeadline(.idle, at: now + core.idleTimeout)
        }
    }

    /// Draining, or about to: the server's shutdown has begun even if this loop has not read it yet.
    var closesAfterResponse: Bool { draining || core.shutdownRequested.load(ordering: .acquiring) }

    func deliverDeferred(_ response: HTTPResponse, to connection: Connection) {
        guard connection.phase == .awaitingResponse, var context = connection.pendingContext else { return }
        connection.pendingContext = nil
        connection.phase = .head
        if closesAfterResponse { context.keepAlive = false }
        writeResponse(response, context: context, to: connection)
        if connection.hold == .deferredBacklog { release(connection) }
        serveBuffered(connection)
    }

    /// Answers a malformed or over-limit request with its fault and closes after writing it. The
    /// fault stands in for the answer to `answering`, the method of the request it refuses once the
    /// parser has accepted that request's head: a HEAD's answer has no body (RFC 9112 6.3), or a
    /// pipelining client would read the body as the next response. Bytes the parser refused never
    /// named a method the server can trust; their fault is framed as for a GET, and the close ends
    /// the stream after it.
    private func fail(_ connection: Connection, _ error: any Error, answering method: HTTPMethod?) {
        let fault = (error as? HTTPError) ?? .badRequest("Malformed request.")
        core.logger.debug("rejecting request", metadata: ["peer": "\(connection.peer)", "fault": "\(fault)"])
        connection.phase = .head
        connection.pending = nil
        connection.bodyReader = nil
        _ = chargeRequestBytes(connection)
        var context = ResponseContext(
            method: method ?? .get, version: .http1_1, keepAlive: false, routePattern: nil, ifNoneMatch: nil)
        context.exchangeHeaders = core.hooks?.unparsedRequestHeaders
        writeResponse(core.configuration.renderError(fault), context: context, to: connection)
    }

    func inputDeadlinePassed(_ connection: Connection) {
        switch connection.inputDeadlineKind {
        case .header where connection.scanner.offset > 0 || !connection.input.isEmpty,
            .body:
            fail(
                connection, HTTPError.requestTimeout("The request was not received in time."),
                answering: methodOfOldestUnanswered(connection))
            connection.input = []
            _ = chargeRequestBytes(connection)
            flush(connection)
        case .header, .idle, .linger, .none:
            closeConnection(connection)
        }
    }

    // MARK: holding back

    /// Stops reading (and so producing responses for) the connection, for `reason`.
    func hold(_ connection: Connection, _ reason: Connection.Hold) {
        connection.hold = reason
        if connection.phase == .head { connection.setInputDeadline(.none, at: 0) }
        updateInterest(connection)
    }

    /// Lifts a hold: the socket is read again (unless the client half-closed it).
    private func release(_ connection: Connection) {
        connection.hold = .none
        updateInterest(connection)
    }

    /// Serves connections of this loop that wait for room in the server-wide output budget, while
    /// there is room (oldest first).
    func resumeOutputBudgetWaiters() {
        guard !outputBudgetWaiters.isEmpty, !core.outputBudget.isExhausted else { return }
        let waiting = outputBudgetWaiters
        outputBudgetWaiters = []
        for (index, connection) in waiting.enumerated() where !connection.closed && connection.hold == .outputBudget {
            if core.outputBudget.isExhausted {
                outputBudgetWaiters.append(
                    contentsOf: waiting[index...].filter { !$0.closed && $0.hold == .outputBudget })
                return
            }
            release(connection)
            serveBuffered(connection)
        }
    }

    // MARK: writing

    func appendOutput(_ connection: Connection, _ bytes: [UInt8]) {
        if connection.outputPending {
            connection.output.appendOwned { $0.append(contentsOf: bytes) }
            chargeOutput(connection)
        } else {
            scratch.appendOwned { $0.append(contentsOf: bytes) }
        }
    }

    /// Writes the scratch queue (or the connection's queued output) with one `writev`; keeps what
    /// the socket would not take, and moves the connection on once everything is out.
    func flush(_ connection: Connection) {
        if !scratch.isEmpty {
            if connection.outputPending {
                // Responses go to the scratch queue only while nothing is queued, so this does not
                // happen; if it did, order is kept: behind what is queued.
                connection.output.append(scratch.takeUnsent())
            } else {
                let written = scratch.write(to: connection.fd)
                if written < 0 && errno != EAGAIN && errno != EINTR {
                    scratch.removeAll(keepingCapacity: true)
                    closeConnection(connection)
                    return
                }
                if !scratch.isEmpty {
                    connection.output = scratch.takeUnsent()
                    connection.writeDeadline = now + core.writeTimeout
                } else {
                    scratch.removeAll(keepingCapacity: true)
                }
            }
            chargeOutput(connection)
        } else if connection.outputPending {
            let written = connection.output.write(to: connection.fd)
            if written < 0 {
                if errno != EAGAIN && errno != EINTR { closeConnection(connection) }
                return
            }
            if written > 0 { connection.writeDeadline = now + core.writeTimeout }
            chargeOutput(connection)
        }
        if connection.outputPending {
            updateInterest(connection)
            return
        }
        outputDrained(connection)
    }

    private func outputDrained(_ connection: Connection) {
        connection.output = OutputQueue()
        connection.writeDeadline = 0
        connection.unflushedResponses = 0
        if connection.closeAfterOutput {
            if connection.peerClosedInput {
                closeConnection(connection)
                return
            }
            startLingering(connection)
            return
        }
        if connection.hold == .clientNotReading {
            release(connection)
            serveBuffered(connection)
        } else {
            updateInterest(connection)
            if draining && connection.isIdle { closeConnection(connection) }
        }
        resumeOutputBudgetWaiters()
    }

    private func startLingering(_ connection: Connection) {
        guard connection.phase != .lingering else { return }
        connection.phase = .lingering
        connection.input = []
        _ = chargeRequestBytes(connection)
        connection.hold = .none
        shutdown(connection.fd, Int32(SHUT_WR))
        connection.setInputDeadline(.linger, at: now + core.lingerTimeout)
        updateInterest(connection)
    }
}
