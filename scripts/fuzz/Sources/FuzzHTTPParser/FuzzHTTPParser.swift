// libFuzzer entry for the HTTP/1.1 request path: head scanner, head parser, target splitting and
// percent-decoding, routing, body reader (Content-Length and chunked), response encoding; and the
// connection code around them (ConnectionScenario.swift).
//
// Each input is one connection's byte stream. It is fed whole, one byte at a time, and in two
// pseudo-random splits derived from the input, and every run must produce the same outcomes (the
// same requests served, the same rejection status, the same bytes left over): a parser whose verdict
// depends on how TCP cut the stream is a smuggling hazard. Every served request re-checks its limits
// (see Invariants).

/// Small limits, so short inputs reach every limit check.
let harnessLimits = ParserLimits(maxHeadBytes: 256, maxTargetBytes: 96, maxHeaderCount: 12, maxBodyBytes: 300)

/// A handler's own error, which renders itself (as volumed's OpenStack faults do).
struct EmptyBody: HTTPResponseError {
    var status: HTTPStatus { .conflict }
    var headers: HTTPHeaders { HTTPHeaders() }
    func response() -> HTTPResponse { HTTPResponse(status: status, body: "empty") }
}

/// Routes shaped like volumed's: literals, parameters, literal-vs-parameter siblings, an ETag.
let harnessRouter: Router = {
    var router = Router()
    router.get("/v3/{project_id}/os-services") { request in
        HTTPResponse(etag: "\"v1\"", body: Array(request.path.utf8))
    }
    router.put("/v3/{project_id}/os-services/{action}") { request in HTTPResponse(body: request.body) }
    router.get("/v3/{project_id}/scheduler-stats/get_pools") { request in
        HTTPResponse.text(request.query.map { "\($0.name)=\($0.value)" }.joined(separator: "&"))
    }
    router.get("/drivers") { _ in HTTPResponse(etag: "W/\"d\"", body: "[]") }
    router.get("/drivers/stats") { _ in HTTPResponse.text("stats") }
    router.get("/drivers/{id}") { request in HTTPResponse.text(request.pathParameters["id"] ?? "") }
    router.post("/drivers/{id}/reinit") { request in
        if request.body.isEmpty { throw EmptyBody() }
        return HTTPResponse(status: .accepted, body: request.body)
    }
    router.delete("/drivers/{id}") { _ in HTTPResponse(status: .noContent, body: []) }
    router.get("/healthz") { _ in HTTPResponse.text("ok") }
    // For the connection scenarios: an answer given later (like reinit?wait=) and a large one.
    router.post("/drivers/{id}/wait") { _ in
        .deferred { responder in scenarioState.responders.append(responder) }
    }
    router.get("/pools") { _ in HTTPResponse(body: bigScenarioBody) }
    return router
}()

/// A run of the stream over `bytes` cut into pieces of the given lengths (the last piece takes the rest).
func runStream(_ bytes: UnsafeBufferPointer<UInt8>, pieces: some Sequence<Int>, verify: Bool = false) -> RequestStream {
    var stream = RequestStream(limits: harnessLimits, router: harnessRouter, verify: verify)
    var offset = 0
    var lengths = pieces.makeIterator()
    while offset < bytes.count, let length = lengths.next() {
        let end = min(bytes.count, offset + max(1, length))
        stream.receive(UnsafeBufferPointer(rebasing: bytes[offset..<end]))
        offset = end
    }
    if offset < bytes.count { stream.receive(UnsafeBufferPointer(rebasing: bytes[offset...])) }
    return stream
}

/// Deterministic piece lengths from the input itself (libFuzzer needs runs to be reproducible).
struct SplitSequence: Sequence, IteratorProtocol {
    var state: UInt64
    let maxPiece: UInt64

    mutating func next() -> Int? {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % maxPiece) + 1
    }
}

func fnv1a(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return hash
}

func compare(_ reference: RequestStream, _ other: RequestStream, split: String) {
    guard reference.outcomes == other.outcomes, reference.leftover == other.leftover else {
        Invariants.fail("""
            the outcome depends on how the input is split (\(split)):
              whole: \(reference.outcomes) leftover \(reference.leftover)
              split: \(other.outcomes) leftover \(other.leftover)
            """)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPParser(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let whole = runStream(bytes, pieces: CollectionOfOne(size), verify: true)
    compare(whole, runStream(bytes, pieces: repeatElement(1, count: size)), split: "byte by byte")
    let seed = fnv1a(bytes)
    compare(whole, runStream(bytes, pieces: SplitSequence(state: seed, maxPiece: 7)), split: "pieces of 1-7, seed \(seed)")
    compare(whole, runStream(bytes, pieces: SplitSequence(state: ~seed, maxPiece: 97)), split: "pieces of 1-97, seed \(~seed)")
    // One input in four also goes through the real connection code (its socket calls cost about
    // six times the parser runs), with a peer behaving as the hash says.
    if seed & 3 == 0 {
        runConnectionScenario(bytes, behaviour: PeerBehaviour(UInt8(truncatingIfNeeded: seed >> 11)), model: whole)
    }
    return 0
}
