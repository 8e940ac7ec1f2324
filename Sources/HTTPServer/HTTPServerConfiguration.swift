// Every limit of the server, named and defaulted.

/// Settings of an `HTTPServer`. Each limit says what a client gets when it crosses it.
package struct HTTPServerConfiguration: Sendable {
    /// An IPv4 or IPv6 literal (`127.0.0.1`, `::1`, `[::1]`, `0.0.0.0`, `::`). Default: Cinder's
    /// API address, loopback only.
    package var host: String = "127.0.0.1"
    /// 0 picks an ephemeral port; read it from `HTTPServer.localPort` after `start()`.
    package var port: Int = 8776
    /// Event loops (threads each running its own epoll set); 0 means one per available core.
    package var eventLoopCount: Int = 0
    package var listenBacklog: Int32 = 1024

    /// Request line plus header fields (and, for chunked bodies, the trailer section). Beyond: 431.
    package var maxHeadBytes: Int = 16 * 1024
    /// The request-target alone. Beyond: 414.
    package var maxTargetBytes: Int = 8 * 1024
    /// Header fields per request. Beyond: 431.
    package var maxHeaderCount: Int = 100
    /// Body bytes after de-chunking. Beyond: 413 (before reading it when the length is declared,
    /// and instead of `100 Continue`).
    package var maxBodyBytes: Int = 1024 * 1024

    /// From the first byte of a request (or from accept) until its head is complete. Beyond: 408 and
    /// close (slowloris).
    package var headerReadTimeout: Duration = .seconds(10)
    /// From the end of the head until the body is complete. Beyond: 408 and close.
    package var bodyReadTimeout: Duration = .seconds(30)
    /// How long a keep-alive connection may sit between requests. Beyond: closed silently.
    package var keepAliveIdleTimeout: Duration = .seconds(60)
    /// How long queued response bytes may wait without the client reading any of them (a client that
    /// never reads). Beyond: reset. While `maxBufferedOutputBytes` is used up (everyone's answers
    /// wait), a client that has read nothing for a second is reset sooner.
    package var writeTimeout: Duration = .seconds(30)
    /// After a final response with `Connection: close`, how long unread request bytes are drained
    /// before the socket is closed, so the client receives the response instead of a reset.
    package var lingerTimeout: Duration = .seconds(2)

    /// Open client connections across all event loops. A connection beyond it is answered
    /// `503 serviceUnavailable` with `Connection: close` and closed at once. The server raises its
    /// open-file limit at start to fit this when the hard limit allows.
    package var maxConnections: Int = 16_384
    /// Requests of one connection that may be answered but not yet written out (pipelining). Beyond:
    /// the server stops reading that connection until the client reads its responses.
    package var maxPipelinedRequests: Int = 64
    /// Unsent response bytes of one connection (counting every response produced, also those of
    /// one batch of pipelined requests) at which the server stops reading it, so it produces no more
    /// responses until the client has read them. The response that crosses it is queued whole, so
    /// a connection holds at most this plus one response.
    package var maxQueuedResponseBytes: Int = 1024 * 1024
    /// Unsent response bytes of all connections together. Beyond: connections stop being read (no
    /// new responses) until the total drains; a connection whose client never reads is closed after
    /// `writeTimeout`, so the total always drains. Exceeded by at most one response per event loop.
    package var maxBufferedOutputBytes: Int = 64 * 1024 * 1024
    /// Request bytes held by all connections together: bodies received so far and bytes read but
    /// not yet consumed (pipelined requests, partial heads). A request whose bytes would go beyond
    /// it is answered `503 serviceUnavailable` with `Connection: close`: at once, before `100
    /// Continue` and before reading its body, when its Content-Length does not fit in what is left;
    /// otherwise when the bytes that do not fit arrive. Never made to wait: a waiting client keeps
    /// its bytes in flight, and an immediate, retryable answer is what an overloaded Cinder API
    /// gives too. Only bytes received count, so announcing bodies that never come takes nothing.
    /// Exceeded by at most one 64 KiB read per event loop.
    package var maxBufferedRequestBytes: Int = 64 * 1024 * 1024

    /// Written as the `Server` header.
    package var serverName: String = "volumed"

    /// How the server's own refusals (malformed or over-limit requests, no route, a failed handler)
    /// are written: a protocol layer gives them its body shape here. Default: the plain-text
    /// `HTTPError.response()`. Called on event loop threads and wherever a deferred responder is
    /// dropped: keep it cheap, never block.
    package var renderError: @Sendable (HTTPError) -> HTTPResponse = { $0.response() }

    package init() {}

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
