// A generic seam around every exchange: fields every response carries, and a record once it is sent.

#if canImport(Glibc)
    import Glibc
#endif

/// Hooks the server runs for every request it answers, whatever produced the answer: a handler, a
/// fault a handler threw, a deferred responder, or the router's own 404/405. A protocol layer on top
/// of the server (e.g. OpenStack's microversion and request-id headers) lives in these closures; the
/// server itself stays ignorant of it. Both run on an event loop thread: keep them cheap, never block.
package struct ExchangeHooks: Sendable {
    /// Runs once a request is complete, before its handler. It may annotate the request for the
    /// handler (`HTTPRequest.annotation`) and returns what every response to this request carries.
    package var begin: @Sendable (inout HTTPRequest) -> ExchangeStart
    /// The fields of a fault answering bytes that never became a request (malformed, over a limit,
    /// timed out), which `begin` never saw.
    package var unparsedRequestHeaders: HTTPHeaders
    /// Runs after each response of an exchange that `begin` saw is queued (for access logs).
    package var end: (@Sendable (ExchangeRecord) -> Void)?
    /// When set, every response of an exchange with an `exchangeID` also carries `<name>: <id>`
    /// (e.g. a request-id field), written by the encoder so `begin` can return shared headers.
    package var exchangeIDField: String?

    package init(
        begin: @escaping @Sendable (inout HTTPRequest) -> ExchangeStart,
        unparsedRequestHeaders: HTTPHeaders = HTTPHeaders(),
        exchangeIDField: String? = nil, end: (@Sendable (ExchangeRecord) -> Void)? = nil
    ) {
        self.begin = begin
        self.unparsedRequestHeaders = unparsedRequestHeaders
        self.exchangeIDField = exchangeIDField
        self.end = end
    }
}

/// What `ExchangeHooks.begin` decided for one request.
package struct ExchangeStart: Sendable {
    /// Appended to every response of this exchange, after the handler's own fields (a value built
    /// once and shared costs no copy).
    package var headers: HTTPHeaders
    /// When set, answered instead of running the handler (e.g. a 400 for a header every route
    /// depends on). Must not be deferred.
    package var answer: HTTPResponse?
    /// An identifier for the exchange (e.g. a request id), handed back in its `ExchangeRecord` and
    /// written under `ExchangeHooks.exchangeIDField`.
    package var exchangeID: String?

    package init(headers: HTTPHeaders, answer: HTTPResponse? = nil, exchangeID: String? = nil) {
        self.headers = headers
        self.answer = answer
        self.exchangeID = exchangeID
    }
}

/// One answered exchange, as `ExchangeHooks.end` sees it.
package struct ExchangeRecord: Sendable {
    package let exchangeID: String?
    package let method: HTTPMethod
    /// The request-target as sent.
    package let target: String
    /// The status actually sent (304 when an ETag matched).
    package let status: HTTPStatus
    /// The body bytes sent (0 for HEAD, 304, 204).
    package let bodyBytes: Int
    /// From the complete request to the response queued, in nanoseconds (monotonic clock).
    package let durationNanoseconds: UInt64
    /// The value `begin` put in `HTTPRequest.annotation`, if any (e.g. a client's global request id).
    package let annotation: (any Sendable)?

    package init(
        exchangeID: String?, method: HTTPMethod, target: String, status: HTTPStatus, bodyBytes: Int,
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
