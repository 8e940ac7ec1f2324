// Who may change state.

import HTTPServer
import Logging

/// Decides whether a state-changing request (`POST`, `PUT`) may proceed. Reads are open to all;
/// writes need `X-Auth-Token` equal to the admin token (compared in constant time so response
/// timing does not leak how much of a guess was right), or, with no token configured, a loopback
/// client — so a service started without a token is never open to the network by accident.
package struct AccessPolicy: Sendable {
    private let adminToken: [UInt8]?
    /// `noauth`: a `user:project` token is enough (Cinder's standalone mode).
    private let strategy: AuthStrategy

    package init(adminToken: String?, strategy: AuthStrategy = .adminToken) {
        self.strategy = strategy
        if let adminToken, !adminToken.isEmpty {
            self.adminToken = Array(adminToken.utf8)
        } else {
            self.adminToken = nil
        }
    }

    /// Whether an admin token is configured.
    package var requiresToken: Bool { adminToken != nil }

    /// Logs, once at start-up, how state-changing requests are guarded.
    package func logMode(to logger: Logger) {
        if strategy == .noauth {
            logger.warning(
                "auth_strategy = noauth: state-changing API requests are accepted from any client whose X-Auth-Token reads user:project"
            )
        }
        if requiresToken {
            logger.info("state-changing API requests require X-Auth-Token to equal the admin token")
        } else {
            logger.warning(
                "no admin token configured: state-changing API requests (POST/PUT) are accepted from loopback clients only"
            )
        }
    }

    /// Throws the fault to answer when `request` may not change state: 403 for a request a web page
    /// made a browser send (`refuseCrossSite`), 401 without a token, 403 with a wrong one, 403 from
    /// a non-loopback client when no token is configured, then 415 for a body that is not JSON.
    package func authorizeMutation(_ request: HTTPRequest) throws(OpenStackFault) {
        try Self.refuseCrossSite(request)
        try authorizeCaller(request)
        try RequestInput.requireJSONBody(request)
    }

    /// Who is asking: the token, or loopback when none is configured.
    private func authorizeCaller(_ request: HTTPRequest) throws(OpenStackFault) {
        if strategy == .noauth, let presented = request.headers["X-Auth-Token"], Self.isNoauthToken(presented) {
            return
        }
        guard let adminToken else {
            guard request.isFromLoopback else {
                throw .forbidden(
                    "No admin token is configured, so state-changing requests are accepted from loopback clients only.")
            }
            return
        }
        guard let presented = request.headers["X-Auth-Token"] else {
            throw .unauthorized(
                "This request requires an X-Auth-Token header carrying the admin token.", challenge: "X-Auth-Token")
        }
        guard Self.constantTimeEqual(Array(presented.utf8), adminToken) else {
            throw .forbidden("The X-Auth-Token does not match the admin token.")
        }
    }

    /// Cinder's noauth token: `user:project`, both parts non-empty, one colon.
    static func isNoauthToken(_ token: String) -> Bool {
        let parts = token.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
    }

    /// A browser on the operator's machine is a loopback client, so without a token any web page
    /// could make it change state. Browsers say where a request comes from: `Origin` (sent on every
    /// cross-origin POST/PUT) and `Sec-Fetch-Site`. A state change is refused with 403 when either
    /// names another origin than this service's own (`Origin` equal to `http(s)://` + `Host`), or
    /// when the origin's host is a DNS name other than `localhost`: a page whose name was made to
    /// resolve to this machine (DNS rebinding) is "same-origin" to the browser, but volumed serves
    /// no pages, so no legitimate origin is a DNS name. cinderclient, openstacksdk and curl send
    /// neither header, and are unaffected.
    static func refuseCrossSite(_ request: HTTPRequest) throws(OpenStackFault) {
        if let site = request.headers["Sec-Fetch-Site"]?.lowercased(), site != "same-origin", site != "none" {
            throw .forbidden("Cross-site state-changing requests are refused (Sec-Fetch-Site: \(site)).")
        }
        let origins = request.headers.values(forName: "Origin")
        guard let origin = origins.first else { return }
        guard origins.count == 1, isOwnOrigin(origin, host: request.headers["Host"]) else {
            throw .forbidden("State-changing requests from another origin are refused (Origin: \(origin.prefix(200))).")
        }
    }

    /// Whether `origin` (`scheme://host[:port]`) names the service a request with `host` reached,
    /// a port equal to the scheme's default counting as absent.
    static func isOwnOrigin(_ origin: String, host: String?) -> Bool {
        guard let host, !host.isEmpty else { return false }
        let lowered = origin.lowercased()
        let scheme: String
        let authority: Substring
        if lowered.hasPrefix("http://") {
            scheme = "http"
            authority = lowered.dropFirst(7)
        } else if lowered.hasPrefix("https://") {
            scheme = "https"
            authority = lowered.dropFirst(8)
        } else {
            return false  // "null" (a sandboxed page, a file://), or anything else
        }
        let defaultPort = scheme == "http" ? ":80" : ":443"
        func normalized(_ text: Substring) -> Substring {
            text.hasSuffix(defaultPort) ? text.dropLast(defaultPort.count) : text
        }
        return !authority.isEmpty && normalized(authority) == normalized(Substring(host.lowercased()))
            && isLiteralOrLocalhost(authority)
    }

    /// Whether an origin's `host[:port]` names an IP address (`127.0.0.1`, `[::1]`) or localhost.
    static func isLiteralOrLocalhost(_ authority: Substring) -> Bool {
        if authority.hasPrefix("[") { return true }  // an IPv6 literal
        let host = authority.prefix { $0 != ":" }
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4
            && parts.allSatisfy { part in
                !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
                    && Int(part).map { $0 <= 255 } == true
            }
    }

    /// Compares every byte of the longer input whatever the contents, so the time taken depends only
    /// on the lengths.
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference = UInt64(lhs.count ^ rhs.count)
        let length = max(lhs.count, rhs.count)
        for index in 0..<length {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= UInt64(left ^ right)
        }
        return difference == 0
    }
}
