// The request-reading half of ConnectionIO.process, without a socket: the same scanner, parser,
// target splitting, routing and body reader, fed in whatever pieces the harness chooses. It records
// what a connection would do with each request, so runs over differently split input can be compared.

/// What one request on the stream came to.
enum Outcome: Equatable, CustomStringConvertible {
    /// A request reached its handler; `close` when the connection ends after answering it.
    case served(ServedRequest, close: Bool)
    /// The request was rejected with this status and the connection closes. `method` once the
    /// parser had accepted its head (the refusal is framed for it: no body for a HEAD); nil for
    /// bytes the scanner or parser refused.
    case rejected(status: Int, method: String?)

    var description: String {
        switch self {
        case .served(let request, let close): return "served(\(request)\(close ? ", close" : ""))"
        case .rejected(let status, let method): return "rejected(\(status)\(method.map { ", \($0)" } ?? ""))"
        }
    }
}

/// The parts of a served request that must not depend on how the bytes arrived.
struct ServedRequest: Equatable, CustomStringConvertible {
    var method: String
    var version: String
    var target: [UInt8]
    var path: String
    var query: [String]
    var headers: [String]
    var route: String?
    var body: [UInt8]
    var responseStatus: Int

    var description: String {
        "\(method) \(String(decoding: target, as: UTF8.self)) \(version) route=\(route ?? "-") "
            + "headers=\(headers.count) body=\(body.count) -> \(responseStatus)"
    }
}

/// One connection's input side. `receive` is called with each piece; `finish` says where it stopped.
struct RequestStream {
    enum Phase: Equatable { case head, body, closed }

    let limits: ParserLimits
    let router: Router
    /// Re-check every invariant (the reference run); the split runs are only compared with it.
    let verify: Bool
    private(set) var outcomes: [Outcome] = []
    private(set) var phase = Phase.head
    private var input: [UInt8] = []
    private var scanner = HeadScanner()
    private var head: ParsedHead?
    private var split: RequestTarget.Split?
    private var match: Router.Match?
    private var bodyReader: BodyReader?

    init(limits: ParserLimits, router: Router, verify: Bool) {
        self.limits = limits
        self.router = router
        self.verify = verify
    }

    /// Bytes received but not consumed when the input ended, and the phase: both must not depend on
    /// the split either.
    var leftover: (phase: Phase, bytes: Int) { (phase, phase == .closed ? 0 : input.count) }

    /// The method the server's answer to the request at `index` (0-based, in stream order) is framed
    /// for, under the server's rule (ConnectionIO.fail): the request's method once the parser has
    /// accepted its head, whether it was served, refused afterwards, or its body is still being
    /// read when the stream ends; nil for bytes the scanner or parser refused or a head that never
    /// completed. The server judges the same bytes with the same parser, so both agree.
    func methodOfAnswer(_ index: Int) -> String? {
        if index < outcomes.count {
            switch outcomes[index] {
            case .served(let request, _): return request.method
            case .rejected(_, let method): return method
            }
        }
        if index == outcomes.count && phase == .body { return head?.method.rawValue }
        return nil
    }

    mutating func receive(_ chunk: UnsafeBufferPointer<UInt8>) {
        guard phase != .closed else { return }
        // Move the buffer out (no copy), append, process, keep what was not consumed: what
        // ConnectionIO does with `connection.input`.
        var buffered = input
        input = []
        buffered.append(contentsOf: chunk)
        let consumed = buffered.withUnsafeBufferPointer { process($0) }
        if phase != .closed {
            if consumed > 0 { buffered.removeFirst(consumed) }
            input = buffered
        }
    }

    private mutating func process(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var consumed = 0
        while consumed < bytes.count && phase != .closed {
            let rest = UnsafeBufferPointer(rebasing: bytes[consumed...])
            switch phase {
            case .head:
                if scanner.offset == 0 && rest[0] == 13 {
                    if rest.count < 2 { return consumed }
                    if rest[1] == 10 {
                        consumed += 2
                        continue
                    }
                }
                switch scanner.scan(rest, limits: limits) {
                case .incomplete:
                    return consumed
                case .failed(let error):
                    reject(error, method: nil)
                case .complete(let length):
                    let headBytes = UnsafeBufferPointer(rebasing: rest[0..<length])
                    consumed += length
                    let parsed: ParsedHead
                    do {
                        parsed = try RequestParser.parseHead(headBytes, limits: limits)
                    } catch {
                        reject(error, method: nil)
                        continue
                    }
                    if verify { Invariants.checkHead(parsed, headLength: length, limits: limits) }
                    do {
                        try begin(parsed)
                    } catch {
                        reject(error, method: parsed.method)
                    }
                }
            case .body:
                do {
                    let taken = try bodyReader!.feed(rest)
                    Invariants.require(taken <= rest.count, "the body reader consumed more than it was given")
                    Invariants.require(taken > 0 || bodyReader!.isComplete, "the body reader made no progress")
                    consumed += taken
                } catch {
                    reject(error, method: head?.method)
                    continue
                }
                if bodyReader!.isComplete { finish(forceClose: false) }
            case .closed:
                return consumed
            }
        }
        return consumed
    }

    private mutating func begin(_ parsed: ParsedHead) throws(HTTPError) {
        let split = try RequestTarget.split(parsed.target)
        let match = try router.match(method: parsed.method, rawPath: split.rawPath)
        if case .contentLength(let length) = parsed.framing, length > limits.maxBodyBytes {
            throw .contentTooLarge("too large")
        }
        head = parsed
        self.split = split
        self.match = match
        if parsed.framing == .none {
            bodyReader = nil
            finish(forceClose: false)
            return
        }
        if parsed.expectContinue {
            var wanted = false
            if case .found = match { wanted = true }
            if !wanted {
                // As the server does: answer at once and close instead of reading an unwanted body.
                bodyReader = BodyReader(framing: .none, limits: limits)
                finish(forceClose: true)
                return
            }
        }
        bodyReader = BodyReader(framing: parsed.framing, limits: limits)
        phase = .body
    }

    private mutating func finish(forceClose: Bool) {
        guard let head, let split, let match else {
            Invariants.fail("finish without a parsed head")
        }
        let body = bodyReader?.takeBody() ?? []
        if verify { Invariants.checkBody(body, framing: head.framing, forceClose: forceClose, limits: limits) }
        self.head = nil
        self.split = nil
        self.match = nil
        bodyReader = nil
        var request = HTTPRequest(
            method: head.method, version: head.version, target: String(decoding: head.target, as: UTF8.self),
            path: split.path, query: split.query, headers: head.headers, body: body, peer: .loopbackV4)
        let response: HTTPResponse
        var route: String?
        switch match {
        case .notFound:
            response = HTTPError.notFound("not found").response()
        case .methodNotAllowed(let pattern, let allow):
            route = pattern
            response = HTTPError.methodNotAllowed("not allowed", allow: allow).response()
        case .found(let found, let parameters):
            route = found.pattern
            request.pathParameters = parameters
            request.routePattern = found.pattern
            do {
                response = try found.handler(request)
            } catch let error as any HTTPResponseError {
                response = error.response()
            } catch {
                Invariants.fail("a harness handler threw \(error)")
            }
        }
        let keepAlive = head.keepAlive && !forceClose
        let context = ResponseContext(
            method: head.method, version: head.version, keepAlive: keepAlive, routePattern: route,
            ifNoneMatch: head.headers.firstValue(lowercasedName: HeaderName.ifNoneMatch) != nil ? head.headers : nil)
        var encoded: [UInt8] = []
        let status = ResponseEncoder.encode(
            response, context: context, dateLine: harnessDateLine, serverLine: harnessServerLine, into: &encoded)
        if verify { Invariants.checkEncodedResponse(encoded, status: status, method: head.method, keepAlive: keepAlive) }
        outcomes.append(.served(ServedRequest(
            method: head.method.rawValue, version: head.version.description, target: Array(head.target),
            path: split.path, query: split.query.map { "\($0.name)=\($0.value)" },
            headers: request.headers.map { "\($0.name): \($0.value)" }, route: route, body: body,
            responseStatus: status.code), close: !keepAlive))
        phase = keepAlive ? .head : .closed
    }

    private mutating func reject(_ error: Error, method: HTTPMethod?) {
        guard let fault = error as? HTTPError else {
            Invariants.fail("the parser threw a non-HTTPError: \(error)")
        }
        Invariants.require(fault.status.code >= 400 && fault.status.code < 600, "a fault with status \(fault.status.code)")
        if verify {
            var encoded: [UInt8] = []
            let context = ResponseContext(
                method: method ?? .get, version: .http1_1, keepAlive: false, routePattern: nil, ifNoneMatch: nil)
            let status = ResponseEncoder.encode(
                fault.response(), context: context, dateLine: harnessDateLine, serverLine: harnessServerLine, into: &encoded)
            Invariants.checkEncodedResponse(encoded, status: status, method: method ?? .get, keepAlive: false)
        }
        outcomes.append(.rejected(status: fault.status.code, method: method?.rawValue))
        phase = .closed
        head = nil
        bodyReader = nil
    }
}

let harnessDateLine = Array("Date: x\r\n".utf8)
let harnessServerLine = Array("Server: fuzz\r\n".utf8)
