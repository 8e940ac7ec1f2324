import CCurl

/// One libcurl easy handle and its error buffer, kept between requests because the handle's connection
/// cache is what keeps a connection to the peer alive.
///
/// `@unchecked Sendable`: the client's pool hands a handle to one thread at a time and takes it back
/// after the transfer; nothing else ever touches it.
final class EasyHandle: @unchecked Sendable {
    private let curl: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let errorBufferSize: Int

    /// Returns nil when libcurl cannot allocate a handle.
    init?() {
        guard let curl = curl_easy_init() else { return nil }
        self.curl = curl
        errorBufferSize = Int(ccurl_error_size())
        errorBuffer = .allocate(capacity: errorBufferSize)
        errorBuffer.initialize(repeating: 0, count: errorBufferSize)
    }

    deinit {
        curl_easy_cleanup(curl)
        errorBuffer.deallocate()
    }

    /// Runs one blocking transfer. Options from the previous transfer are reset first; live
    /// connections survive the reset.
    /// With `stream`, the body goes to its receiver, there is no total timeout, and a transfer the
    /// caller stopped counts as a response.
    func perform(
        _ request: CurlRequest, settings: TransferSettings, stream: StreamHooks? = nil
    ) throws(CurlError) -> CurlResponse {
        lastNewConnections = 0
        let method = try RequestCheck.method(request.method)
        try RequestCheck.url(request.url)
        if method == "HEAD", request.body != nil {
            throw .badRequest("a HEAD request cannot carry a body")
        }
        let headerList = try HeaderList(request.headers, hasBody: request.body != nil)
        defer { headerList.free() }

        let origin = settings.wantsHTTP2 ? H2CReuseWorkaround.cleartextOrigin(of: request.url) : nil
        let reuseMode = H2CReuseWorkaround.isNeeded && origin != nil && origin == http2CleartextOrigin
        var version = settings.curlHTTPVersion(for: request.url, reusingHTTP2Cleartext: reuseMode)
        var outcome = transfer(
            request, method: method, headers: headerList, settings: settings, version: version, stream: stream)
        var opened = outcome.newConnections
        if reuseMode, opened > 0, case .failure(let error) = outcome.result,
            H2CReuseWorkaround.isProtocolMismatch(error)
        {
            version = settings.curlHTTPVersion(for: request.url, reusingHTTP2Cleartext: false)
            outcome = transfer(
                request, method: method, headers: headerList, settings: settings, version: version, stream: stream)
            opened += outcome.newConnections
        }
        lastNewConnections = opened
        switch outcome.result {
        case .success(var response):
            response.newConnections = opened
            http2CleartextOrigin = response.httpVersion == .http2 ? origin : nil
            return response
        case .failure(let error):
            http2CleartextOrigin = nil
            throw error
        }
    }

    /// New connections the last `perform` opened, also valid after it failed.
    private(set) var lastNewConnections = 0

    /// The cleartext origin this handle last spoke HTTP/2 with (see `H2CReuseWorkaround`).
    private var http2CleartextOrigin: String?

    private func transfer(
        _ request: CurlRequest, method: String, headers: HeaderList, settings: TransferSettings, version: Int,
        stream: StreamHooks?
    ) -> (result: Result<CurlResponse, CurlError>, newConnections: Int) {
        curl_easy_reset(curl)
        errorBuffer.update(repeating: 0, count: errorBufferSize)
        let sink = TransferSink(maxBodyBytes: settings.maxResponseBodyBytes, stream: stream)
        defer { withExtendedLifetime(sink) {} }
        do throws(CurlError) {
            try configure(request.url, settings: settings, version: version, sink: sink, headers: headers)
            if stream != nil {
                try set(CURLOPT_TIMEOUT_MS, 0)
                try set(CURLOPT_NOPROGRESS, 0)
                try check(ccurl_setopt_xferinfo_callback(curl, checkStream), "CURLOPT_XFERINFOFUNCTION")
                try set(CURLOPT_XFERINFODATA, pointer: Unmanaged.passUnretained(sink).toOpaque())
            }
            try configureMethod(method, hasBody: request.body != nil, bodySize: request.body?.count ?? 0)
        } catch {
            _ = ccurl_setopt_slist(curl, CURLOPT_HTTPHEADER, nil)
            return (.failure(error), 0)
        }
        let code: CURLcode = withBodyPointer(request.body) { pointer in
            if let pointer {
                let set = ccurl_setopt_pointer(curl, CURLOPT_POSTFIELDS, pointer)
                if set != CURLE_OK { return set }
            }
            return curl_easy_perform(curl)
        }
        // Drop pointers into memory that is about to go away; the callbacks answer nil user data with 0.
        _ = ccurl_setopt_slist(curl, CURLOPT_HTTPHEADER, nil)
        _ = ccurl_setopt_pointer(curl, CURLOPT_WRITEDATA, nil)
        _ = ccurl_setopt_pointer(curl, CURLOPT_HEADERDATA, nil)
        _ = ccurl_setopt_pointer(curl, CURLOPT_XFERINFODATA, nil)
        let opened = infoLong(CURLINFO_NUM_CONNECTS)
        guard code == CURLE_OK || stream?.stopped == true else { return (.failure(failure(code, sink: sink)), opened) }
        let response = CurlResponse(
            status: infoLong(CURLINFO_RESPONSE_CODE),
            headers: sink.headers,
            body: sink.body,
            httpVersion: Self.httpVersion(infoLong(CURLINFO_HTTP_VERSION)),
            newConnections: opened
        )
        return (.success(response), opened)
    }

    private func configure(
        _ url: String, settings: TransferSettings, version: Int, sink: TransferSink, headers: HeaderList
    ) throws(CurlError) {
        try set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer))
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_URL, url)
        try set(CURLOPT_PROTOCOLS_STR, "http,https")
        try set(CURLOPT_FOLLOWLOCATION, 0)
        try set(CURLOPT_CONNECTTIMEOUT_MS, settings.connectTimeoutMilliseconds)
        try set(CURLOPT_TIMEOUT_MS, settings.totalTimeoutMilliseconds)
        try set(CURLOPT_TCP_KEEPALIVE, 1)
        try set(CURLOPT_HTTP_VERSION, version)
        try set(CURLOPT_SSL_VERIFYPEER, settings.verifyTLS ? 1 : 0)
        try set(CURLOPT_SSL_VERIFYHOST, settings.verifyTLS ? 2 : 0)
        if let caFile = settings.caFile { try set(CURLOPT_CAINFO, caFile) }
        if let certificate = settings.clientCertificateFile { try set(CURLOPT_SSLCERT, certificate) }
        if let key = settings.clientKeyFile { try set(CURLOPT_SSLKEY, key) }
        try set(CURLOPT_USERAGENT, settings.userAgent)
        try check(
            ccurl_setopt_off(curl, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(settings.maxResponseBodyBytes)),
            "CURLOPT_MAXFILESIZE_LARGE")
        let sinkPointer = Unmanaged.passUnretained(sink).toOpaque()
        try check(ccurl_setopt_data_callback(curl, CURLOPT_WRITEFUNCTION, receiveBody), "CURLOPT_WRITEFUNCTION")
        try set(CURLOPT_WRITEDATA, pointer: sinkPointer)
        try check(ccurl_setopt_data_callback(curl, CURLOPT_HEADERFUNCTION, receiveHeader), "CURLOPT_HEADERFUNCTION")
        try set(CURLOPT_HEADERDATA, pointer: sinkPointer)
        try check(ccurl_setopt_slist(curl, CURLOPT_HTTPHEADER, headers.list), "CURLOPT_HTTPHEADER")
    }

    /// GET and HEAD use libcurl's own modes; POST posts the body; any other method (or a GET with a
    /// body) is sent as a custom request whose body libcurl posts as given.
    private func configureMethod(_ method: String, hasBody: Bool, bodySize: Int) throws(CurlError) {
        switch (method, hasBody) {
        case ("GET", false):
            try set(CURLOPT_HTTPGET, 1)
        case ("HEAD", _):
            try set(CURLOPT_NOBODY, 1)
        case ("POST", _):
            try set(CURLOPT_POST, 1)
            try check(
                ccurl_setopt_off(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodySize)),
                "CURLOPT_POSTFIELDSIZE_LARGE")
        default:
            try set(CURLOPT_CUSTOMREQUEST, method)
            if hasBody {
                try check(
                    ccurl_setopt_off(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodySize)),
                    "CURLOPT_POSTFIELDSIZE_LARGE")
            }
        }
    }

    /// Calls `body` with a pointer to the request body's bytes (a valid pointer even for an empty body),
    /// or nil when there is no body to post.
    private func withBodyPointer<R>(_ bytes: [UInt8]?, _ body: (UnsafeMutableRawPointer?) -> R) -> R {
        guard let bytes else { return body(nil) }
        if bytes.isEmpty {
            var empty: UInt8 = 0
            return withUnsafeMutableBytes(of: &empty) { body($0.baseAddress) }
        }
        return bytes.withUnsafeBytes { body(UnsafeMutableRawPointer(mutating: $0.baseAddress)) }
    }

    private func failure(_ code: CURLcode, sink: TransferSink) -> CurlError {
        if let overflow = sink.overflow {
            return CurlError(code: code, detail: overflow)
        }
        return CurlError(code: code, detail: String(cString: errorBuffer))
    }

    private func infoLong(_ info: CURLINFO) -> Int {
        var value = 0
        guard ccurl_getinfo_long(curl, info, &value) == CURLE_OK else { return 0 }
        return value
    }

    private static func httpVersion(_ value: Int) -> CurlHTTPVersion {
        switch value {
        case Int(CURL_HTTP_VERSION_1_0): .http1_0
        case Int(CURL_HTTP_VERSION_1_1): .http1_1
        case Int(CURL_HTTP_VERSION_2_0): .http2
        case Int(CURL_HTTP_VERSION_3): .http3
        default: .unknown
        }
    }

    private func set(_ option: CURLoption, _ value: Int) throws(CurlError) {
        try check(ccurl_setopt_long(curl, option, value), "option \(option.rawValue)")
    }

    private func set(_ option: CURLoption, _ value: String) throws(CurlError) {
        try check(value.withCString { ccurl_setopt_string(curl, option, $0) }, "option \(option.rawValue)")
    }

    private func set(_ option: CURLoption, pointer: UnsafeMutableRawPointer) throws(CurlError) {
        try check(ccurl_setopt_pointer(curl, option, pointer), "option \(option.rawValue)")
    }

    private func check(_ code: CURLcode, _ what: String) throws(CurlError) {
        guard code == CURLE_OK else {
            throw CurlError(code: code, detail: "setting \(what) failed")
        }
    }
}

/// The client's configuration, turned into the numbers libcurl takes.
struct TransferSettings: Sendable {
    let connectTimeoutMilliseconds: Int
    let totalTimeoutMilliseconds: Int
    let wantsHTTP2: Bool
    let verifyTLS: Bool
    let caFile: String?
    let clientCertificateFile: String?
    let clientKeyFile: String?
    let userAgent: String
    let maxResponseBodyBytes: Int

    /// HTTP/2 over cleartext needs prior knowledge (no upgrade dance); over TLS, ALPN offers h2 and
    /// falls back to HTTP/1.1 if the peer declines. `reusingHTTP2Cleartext` picks the mode that
    /// reuses a kept HTTP/2 cleartext connection on libcurl 7.88 (see `H2CReuseWorkaround`).
    func curlHTTPVersion(for url: String, reusingHTTP2Cleartext: Bool) -> Int {
        guard wantsHTTP2 else { return Int(CURL_HTTP_VERSION_1_1) }
        if reusingHTTP2Cleartext || url.lowercased().hasPrefix("https://") {
            return Int(CURL_HTTP_VERSION_2TLS)
        }
        return Int(CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE)
    }
}
