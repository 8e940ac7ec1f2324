import CCurl
import Synchronization

/// A blocking HTTP client over libcurl's easy interface, safe to call from many threads at once.
///
/// It keeps a small pool of easy handles: each call checks one out, so one thread uses a handle at a
/// time, and puts it back afterwards, so the handle's open connection is reused by the next call
/// (keep-alive between publishing ticks instead of a new TCP connection per report). Every call is
/// bounded by the connect and total timeouts, which are always set.
package final class CurlClient: Sendable {
    /// How the client talks to its peers; fixed for the client's lifetime.
    package struct Configuration: Sendable, Equatable {
        /// The HTTP version to ask for.
        package enum HTTPVersion: Sendable, Equatable {
            case http1_1
            /// Prior knowledge for `http://` URLs, ALPN negotiation for `https://` URLs.
            case http2
        }

        /// Seconds allowed to establish a connection (TCP and TLS).
        package var connectTimeout: Double
        /// Seconds allowed for the whole transfer, connection included.
        package var totalTimeout: Double
        package var httpVersion: HTTPVersion
        /// Verify the peer's certificate and host name over TLS.
        package var verifyTLS: Bool
        /// A PEM bundle of trusted CAs instead of the system's.
        package var caFile: String?
        /// A PEM client certificate presented over TLS (etcd's `--client-cert-auth`).
        package var clientCertificateFile: String?
        /// The PEM private key of `clientCertificateFile`.
        package var clientKeyFile: String?
        package var userAgent: String
        /// Responses with a larger body fail with `CurlError.isResponseTooLarge`.
        package var maxResponseBodyBytes: Int
        /// Easy handles (and so open connections) kept between calls; more concurrent calls still run,
        /// with handles that are closed afterwards.
        package var maxIdleHandles: Int

        package init(
            connectTimeout: Double = 5,
            totalTimeout: Double = 30,
            httpVersion: HTTPVersion = .http1_1,
            verifyTLS: Bool = true,
            caFile: String? = nil,
            userAgent: String = "volumed",
            maxResponseBodyBytes: Int = 16 * 1024 * 1024,
            maxIdleHandles: Int = 8,
            clientCertificateFile: String? = nil,
            clientKeyFile: String? = nil
        ) {
            self.connectTimeout = connectTimeout
            self.totalTimeout = totalTimeout
            self.httpVersion = httpVersion
            self.verifyTLS = verifyTLS
            self.caFile = caFile
            self.userAgent = userAgent
            self.maxResponseBodyBytes = maxResponseBodyBytes
            self.maxIdleHandles = maxIdleHandles
            self.clientCertificateFile = clientCertificateFile
            self.clientKeyFile = clientKeyFile
        }
    }

    /// Counters over the client's lifetime, for metrics and for proving connection reuse.
    package struct Statistics: Sendable, Equatable {
        /// Calls to `send`.
        package var requests = 0
        /// Calls that ended in a `CurlError`.
        package var failures = 0
        /// New connections opened, summed from `CURLINFO_NUM_CONNECTS` over all transfers.
        package var connectionsOpened = 0
        /// Easy handles created; stays at the concurrency level when handles are reused.
        package var handlesCreated = 0

        package init() {}
    }

    private struct Pool {
        var idle: [EasyHandle] = []
        var statistics = Statistics()
    }

    package let configuration: Configuration
    private let settings: TransferSettings
    private let pool = Mutex(Pool())

    /// Fails when the configuration cannot work (timeouts not positive and finite, a body cap below
    /// zero) or libcurl cannot be initialized.
    package init(configuration: Configuration = Configuration()) throws(CurlError) {
        settings = try Self.settings(for: configuration)
        self.configuration = configuration
        let initialized = ccurl_global_init_once()
        guard initialized == CURLE_OK else {
            throw CurlError(code: initialized, detail: "curl_global_init failed")
        }
    }

    /// Sends one request and waits for the whole answer (or the total timeout).
    package func send(_ request: CurlRequest) throws(CurlError) -> CurlResponse {
        let handle = try checkOut()
        do {
            let response = try handle.perform(request, settings: settings)
            checkIn(handle, connectionsOpened: response.newConnections, failed: false)
            return response
        } catch {
            checkIn(handle, connectionsOpened: handle.lastNewConnections, failed: true)
            throw error
        }
    }

    /// Sends one request and hands the response body to `receive` as it arrives, for answers that
    /// last as long as the peer keeps them open (etcd's watch). There is no total timeout (the connect
    /// timeout holds): the transfer ends when the peer ends it, when `receive` returns false, or when
    /// `shouldContinue` returns false; libcurl asks it with every chunk and about once a second while
    /// nothing arrives, so another thread can stop a quiet stream within about a second.
    /// The returned response has an empty body: every byte went to `receive`.
    package func stream(
        _ request: CurlRequest,
        shouldContinue: @escaping @Sendable () -> Bool,
        receive: @escaping (UnsafeRawBufferPointer) -> Bool
    ) throws(CurlError) -> CurlStreamEnd {
        let hooks = StreamHooks(shouldContinue: shouldContinue, receive: receive)
        let handle = try checkOut()
        do {
            let response = try handle.perform(request, settings: settings, stream: hooks)
            checkIn(handle, connectionsOpened: response.newConnections, failed: false)
            return CurlStreamEnd(response: response, stoppedByCaller: hooks.stopped)
        } catch {
            checkIn(handle, connectionsOpened: handle.lastNewConnections, failed: true)
            throw error
        }
    }

    /// Sends a GET.
    package func get(_ url: String, headers: [CurlHeader] = []) throws(CurlError) -> CurlResponse {
        try send(CurlRequest(method: "GET", url: url, headers: headers))
    }

    /// Sends a POST with `body` labelled as `contentType`.
    package func post(
        _ url: String, body: [UInt8], contentType: String = "application/json", headers: [CurlHeader] = []
    ) throws(CurlError) -> CurlResponse {
        try send(
            CurlRequest(
                method: "POST", url: url, headers: headers + [CurlHeader("Content-Type", contentType)], body: body))
    }

    package var statistics: Statistics {
        pool.withLock { $0.statistics }
    }

    private func checkOut() throws(CurlError) -> EasyHandle {
        let reused: EasyHandle? = pool.withLock { pool in
            pool.statistics.requests += 1
            return pool.idle.popLast()
        }
        if let reused { return reused }
        guard let created = EasyHandle() else {
            pool.withLock { $0.statistics.failures += 1 }
            throw CurlError(code: CURLE_FAILED_INIT, detail: "curl_easy_init returned no handle")
        }
        pool.withLock { $0.statistics.handlesCreated += 1 }
        return created
    }

    private func checkIn(_ handle: EasyHandle, connectionsOpened: Int, failed: Bool) {
        // A surplus handle is released here, outside the lock, when `spare` goes out of scope.
        let spare: EasyHandle? = pool.withLock { pool in
            pool.statistics.connectionsOpened += connectionsOpened
            if failed { pool.statistics.failures += 1 }
            guard pool.idle.count < configuration.maxIdleHandles else { return handle }
            pool.idle.append(handle)
            return nil
        }
        _ = spare
    }

    private static func settings(for configuration: Configuration) throws(CurlError) -> TransferSettings {
        let connect = try milliseconds(configuration.connectTimeout, name: "connectTimeout")
        let total = try milliseconds(configuration.totalTimeout, name: "totalTimeout")
        guard configuration.maxResponseBodyBytes >= 0 else {
            throw .badConfiguration("maxResponseBodyBytes must not be negative")
        }
        guard configuration.maxIdleHandles >= 0 else {
            throw .badConfiguration("maxIdleHandles must not be negative")
        }
        if let caFile = configuration.caFile, caFile.isEmpty || caFile.utf8.contains(0) {
            throw .badConfiguration("caFile must be a non-empty path")
        }
        for (name, path) in [
            ("clientCertificateFile", configuration.clientCertificateFile),
            ("clientKeyFile", configuration.clientKeyFile),
        ] {
            if let path, path.isEmpty || path.utf8.contains(0) {
                throw .badConfiguration("\(name) must be a non-empty path")
            }
        }
        if (configuration.clientCertificateFile == nil) != (configuration.clientKeyFile == nil) {
            throw .badConfiguration("clientCertificateFile and clientKeyFile go together")
        }
        guard !configuration.userAgent.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw .badConfiguration("userAgent must not contain control characters")
        }
        return TransferSettings(
            connectTimeoutMilliseconds: connect,
            totalTimeoutMilliseconds: total,
            wantsHTTP2: configuration.httpVersion == .http2,
            verifyTLS: configuration.verifyTLS,
            caFile: configuration.caFile,
            clientCertificateFile: configuration.clientCertificateFile,
            clientKeyFile: configuration.clientKeyFile,
            userAgent: configuration.userAgent,
            maxResponseBodyBytes: configuration.maxResponseBodyBytes
        )
    }

    /// Seconds to whole milliseconds, rounded up so a tiny timeout never becomes 0 (which libcurl
    /// reads as "no timeout").
    private static func milliseconds(_ seconds: Double, name: String) throws(CurlError) -> Int {
        guard seconds.isFinite, seconds > 0, seconds <= 86_400 * 365 else {
            throw .badConfiguration("\(name) must be a positive number of seconds, got \(seconds)")
        }
        return max(1, Int((seconds * 1000).rounded(.up)))
    }
}
