import CCurl

/// A failed transfer, as libcurl reported it, so callers can log the exact cause and decide whether to retry.
///
/// Any HTTP status is a response, never an error: a `CurlError` means no complete HTTP answer arrived
/// (or the request could not be sent at all).
package struct CurlError: Error, Sendable, Equatable, CustomStringConvertible {
    /// libcurl's `CURLcode` number (e.g. 7 couldn't connect, 28 timed out).
    package let code: Int
    /// `curl_easy_strerror` for `code`: a fixed, generic text.
    package let message: String
    /// The `CURLOPT_ERRORBUFFER` text (or our own explanation for checks made before libcurl ran);
    /// empty when libcurl left none.
    package let detail: String

    package init(code: Int, message: String, detail: String) {
        self.code = code
        self.message = message
        self.detail = detail
    }

    /// Builds the error for `code`, taking the generic text from libcurl.
    init(code: CURLcode, detail: String) {
        let text = curl_easy_strerror(code).map { String(cString: $0) } ?? "unknown libcurl error"
        self.init(code: Int(code.rawValue), message: text, detail: detail)
    }

    /// A request the client refused before handing it to libcurl (bad URL, method or header).
    static func badRequest(_ detail: String) -> CurlError {
        CurlError(code: CURLE_BAD_FUNCTION_ARGUMENT, detail: detail)
    }

    /// A client configuration that cannot work (e.g. a negative timeout).
    static func badConfiguration(_ detail: String) -> CurlError {
        CurlError(code: CURLE_BAD_FUNCTION_ARGUMENT, detail: detail)
    }

    /// `curl error N: ` and the most specific text: the detail when libcurl left one (it usually
    /// already ends with the generic message, which is then not repeated), else the generic message.
    package var description: String {
        if detail.isEmpty { return "curl error \(code): \(message)" }
        if detail.hasSuffix(message) { return "curl error \(code): \(detail)" }
        return "curl error \(code): \(message): \(detail)"
    }

    /// The connect or total timeout ran out.
    package var isTimeout: Bool { code == Int(CURLE_OPERATION_TIMEDOUT.rawValue) }

    /// No connection could be made: refused, unreachable, or the name did not resolve.
    package var isConnectFailure: Bool {
        code == Int(CURLE_COULDNT_CONNECT.rawValue)
            || code == Int(CURLE_COULDNT_RESOLVE_HOST.rawValue)
            || code == Int(CURLE_COULDNT_RESOLVE_PROXY.rawValue)
    }

    /// The peer's answer was larger than `Configuration.maxResponseBodyBytes`.
    package var isResponseTooLarge: Bool {
        code == Int(CURLE_FILESIZE_EXCEEDED.rawValue)
            || (code == Int(CURLE_WRITE_ERROR.rawValue) && detail.hasPrefix(Self.tooLargePrefix))
    }

    /// TLS could not be set up or the peer's certificate was not trusted.
    package var isTLSFailure: Bool {
        code == Int(CURLE_SSL_CONNECT_ERROR.rawValue)
            || code == Int(CURLE_PEER_FAILED_VERIFICATION.rawValue)
            || code == Int(CURLE_SSL_CACERT_BADFILE.rawValue)
            || code == Int(CURLE_SSL_CERTPROBLEM.rawValue)
    }

    static let tooLargePrefix = "response body larger than"
}
