import CCurl

/// Keeps HTTP/2 cleartext (prior knowledge) connections alive on libcurl before 7.89.0.
///
/// libcurl 7.88.x (Debian 12 ships 7.88.1) fails every transfer that reuses a prior-knowledge
/// connection with CURLE_HTTP2 "Error in the HTTP2 framing layer" (curl/curl#10634, fixed in 7.89.0):
/// on reuse it stacks a second HTTP/2 layer onto the connection. Asking for `CURL_HTTP_VERSION_2TLS`
/// instead reuses the existing HTTP/2 connection without that step. If the kept connection has gone
/// meanwhile, that mode opens a new one speaking HTTP/1.1, which an HTTP/2-only peer rejects without
/// processing the request; the transfer is then repeated once with prior knowledge.
enum H2CReuseWorkaround {
    /// True for the libcurl versions with the bug.
    static let isNeeded: Bool = ccurl_version_number() < 0x07_59_00

    /// "http://host:port" in lower case for a cleartext URL, nil for anything else.
    static func cleartextOrigin(of url: String) -> String? {
        let lowered = url.lowercased()
        guard lowered.hasPrefix("http://") else { return nil }
        let rest = lowered.dropFirst("http://".count)
        var authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") {
            authority = authority[authority.index(after: at)...]
        }
        return "http://" + authority
    }

    /// Failures that mean an HTTP/1.1 request met an HTTP/2-only peer, which did not act on it.
    static func isProtocolMismatch(_ error: CurlError) -> Bool {
        error.code == Int(CURLE_UNSUPPORTED_PROTOCOL.rawValue)
            || error.code == Int(CURLE_WEIRD_SERVER_REPLY.rawValue)
            || error.code == Int(CURLE_GOT_NOTHING.rawValue)
    }
}
