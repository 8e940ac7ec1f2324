// A generic seam around every exchange: fields every response carries, and a record once it is sent.

#if canImport(Glibc)
    import Glibc
#endif

/// Hooks the server runs for every request it answers, whatever produced the answer: a handler, a
/// fault a handler threw, a deferred responder, or the router's own 404/405. A protocol layer on top
/// of the server (e.g. OpenStack's microversion and request-id headers) lives in these closures; the
/// server itself stays ignorant of it. Both run on an event loop thread: keep them cheap, never block.
/// A class: the server reads it for every request, and a reference is one retain to copy.
package final class ExchangeHooks: Sendable {
    /// Runs once a request is complete, before its handler. It may annotate the request for the
    /// handler (`HTTPRequest.annotation`) and returns what every response to this request carries.
    package let begin: @Sendable (inout HTTPRequest) -> ExchangeStart
    /// The fields of a fault answering bytes that never became a request (malformed, over a limit,
    /// timed out), which `begin` never saw.
    package let unparsedRequestHeaders: EncodedFields
    /// Runs after each response of an exchange that `begin` saw and asked to record
    /// (`ExchangeStart.recordsExchange`) is queued (for access logs).
    package let end: (@Sendable (ExchangeRecord) -> Void)?
    /// When set, every response of an exchange with an `exchangeID` also carries `<name>: <id>`
    /// (e.g. a request-id field), written by the encoder so `begin` can return shared headers.
    package let exchangeIDField: String?

    package init(
        begin: @escaping @Sendable (inout HTTPRequest) -> ExchangeStart,
        unparsedRequestHeaders: EncodedFields = EncodedFields(),
        exchangeIDField: String? = nil, end: (@Sendable (ExchangeRecord) -> Void)? = nil
    ) {
        self.begin = begin
        self.unparsedRequestHeaders = unparsedRequestHeaders
        self.exchangeIDField = exchangeIDField
        self.end = end
    }
}

/// What `ExchangeHooks.begin` decided for one request. Small and cheap to move (the rare early
/// answer is boxed): it crosses from the hooks to the server on every request.
package struct ExchangeStart: Sendable {
    /// Appended to every response of this exchange, after the handler's own fields (encoded once
    /// and shared: appending them is one copy of their bytes).
    package var headers: EncodedFields
    /// When set, answered instead of running the handler (e.g. a 400 for a header every route
    /// depends on). Must not be deferred.
    package var answer: HTTPResponse? {
        get { boxedAnswer?.response }
        set { boxedAnswer = newValue.map(AnswerBox.init) }
    }
    /// An identifier for the exchange (e.g. a request id), handed back in its `ExchangeRecord` and
    /// written under `ExchangeHooks.exchangeIDField`.
    package var exchangeID: ExchangeID?
    /// Whether `ExchangeHooks.end` wants this exchange's record (e.g. only while an access log is
    /// on). When false the server neither times the exchange nor keeps what the record would hold.
    package var recordsExchange: Bool
    private var boxedAnswer: AnswerBox? = nil

    private final class AnswerBox: Sendable {
        let response: HTTPResponse
        init(_ response: HTTPResponse) { self.response = response }
    }

    /// Set `answer` afterwards when there is one: the common case passes no response around.
    package init(headers: EncodedFields, exchangeID: ExchangeID? = nil, recordsExchange: Bool = true) {
        self.headers = headers
        self.exchangeID = exchangeID
        self.recordsExchange = recordsExchange
    }
}

/// Header fields encoded once as `name: value\r\n` lines, for fields that many responses carry
/// unchanged (CR, LF and NUL replaced as `HTTPHeaders.add` replaces them).
package struct EncodedFields: Sendable, Equatable {
    /// The encoded lines, each ending in CRLF.
    package let bytes: [UInt8]

    package init(_ headers: HTTPHeaders = HTTPHeaders()) {
        var bytes: [UInt8] = []
        headers.encode(into: &bytes)
        self.bytes = bytes
    }

    package var isEmpty: Bool { bytes.isEmpty }
}

/// An exchange's identifier, at most 40 bytes held inline (`req-<uuid>` is exactly 40), so making,
/// copying and writing one allocates and reference-counts nothing. CR, LF and NUL are replaced by
/// spaces as they are written in, so an id can never split a response.
package struct ExchangeID: Sendable, Equatable, CustomStringConvertible {
    package static var capacity: Int { 40 }
    private var storage: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
    private var length: UInt8 = 0

    /// Lets `initializer` write the id into `capacity` bytes; it returns how many it wrote.
    package init(unsafeUninitializedCapacity initializer: (UnsafeMutableRawBufferPointer) -> Int) {
        let written = withUnsafeMutableBytes(of: &storage) { raw in
            min(max(initializer(raw), 0), Self.capacity)
        }
        length = UInt8(written)
        if mayHoldControlBytes {
            withUnsafeMutableBytes(of: &storage) { raw in
                for index in 0..<written where raw[index] == 13 || raw[index] == 10 || raw[index] == 0 {
                    raw[index] = UInt8(ascii: " ")
                }
            }
        }
    }

    /// False when no byte of the storage is below 14 (CR is 13), tested a word at a time; the
    /// unused tail is zeros, so it is true for an id shorter than `capacity`.
    private var mayHoldControlBytes: Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        // A byte b < 14 makes (b - 14) borrow into its high bit while b's own high bit is clear.
        func below14(_ word: UInt64) -> UInt64 { (word &- ones &* 14) & ~word & highs }
        return below14(storage.0) | below14(storage.1) | below14(storage.2) | below14(storage.3)
            | below14(storage.4) != 0
    }

    /// The first `capacity` bytes of `text`.
    package init(_ text: some StringProtocol) {
        self.init { buffer in
            var count = 0
            for byte in text.utf8.prefix(Self.capacity) {
                buffer[count] = byte
                count += 1
            }
            return count
        }
    }

    package var count: Int { Int(length) }

    package func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try Swift.withUnsafeBytes(of: storage) { raw in try body(UnsafeRawBufferPointer(rebasing: raw[..<count])) }
    }

    package var description: String { withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }

    /// Appends the id and CRLF with one copy.
    func appendLine(to buffer: inout [UInt8]) {
        var line = (storage.0, storage.1, storage.2, storage.3, storage.4, UInt64(0))
        Swift.withUnsafeMutableBytes(of: &line) { raw in
            raw.storeBytes(of: UInt16(0x0d0a).bigEndian, toByteOffset: count, as: UInt16.self)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[..<(count + 2)]))
        }
    }

    package static func == (lhs: ExchangeID, rhs: ExchangeID) -> Bool {
        lhs.withUnsafeBytes { left in rhs.withUnsafeBytes { right in left.elementsEqual(right) } }
    }
}

/// One answered exchange, as `ExchangeHooks.end` sees it.
package struct ExchangeRecord: Sendable {
    package let exchangeID: ExchangeID?
    package let method: HTTPMethod
    /// The request-target as sent.
    package let target: String
    /// The status actually sent (304 when an ETag matched).
    package let status: HTTPStatus
    /// The body bytes sent (0 for HEAD, 304, 204).
    package let bodyBytes: Int
    /// From the complete request (once `begin` ran) to the response queued, in nanoseconds
    /// (monotonic clock).
    package let durationNanoseconds: UInt64
    /// The value `begin` put in `HTTPRequest.annotation`, if any (e.g. a client's global request id).
    package let annotation: (any Sendable)?

    package init(
        exchangeID: ExchangeID?, method: HTTPMethod, target: String, status: HTTPStatus, bodyBytes: Int,
        durationNanoseconds: UInt64, annotation: (any Sendable)?
    ) {
        self.exchangeID = exchangeID
        self.method = method
        self.target = target
        self.status = status
        self.bodyBytes = bodyBytes
        self.durationNanoseconds = durationNanoseconds
        self.annotation = annotation
    }
}

/// Monotonic nanoseconds, for exchange durations.
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}
