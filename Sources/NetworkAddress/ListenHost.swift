#if canImport(Glibc)
    import Glibc
#endif

/// The host part of a listen option (`osapi_volume_listen`, `scheduler_listen`): an IPv4 or IPv6
/// literal (`[::1]` accepted), or a host name resolved when the server binds, as Cinder's
/// `HostAddressOpt` takes it and its WSGI server binds it (the first `getaddrinfo` answer). The one
/// rule that both the configuration check and the server apply, so a file that `check-config`
/// accepts is one the server can bind, name resolution aside.
package enum ListenHost: Sendable, Hashable, CustomStringConvertible {
    case ipv4(String)
    case ipv6(String)
    /// An RFC 1123 host name (letters, digits, hyphens; labels of 1 to 63 characters; at most 253).
    case name(String)

    /// Nil when `text` is neither an address literal nor a valid host name.
    package init?(_ text: String) {
        var host = text
        if host.hasPrefix("[") && host.hasSuffix("]") && host.count > 2 {
            host = String(host.dropFirst().dropLast())
            var v6 = in6_addr()
            guard inet_pton(AF_INET6, host, &v6) == 1 else { return nil }
            self = .ipv6(host)
            return
        }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            self = .ipv4(host)
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            self = .ipv6(host)
        } else if Self.isHostName(host) {
            self = .name(host)
        } else {
            return nil
        }
    }

    static func isHostName(_ value: String) -> Bool {
        guard !value.isEmpty, value.utf8.count <= 253 else { return false }
        let labels = value.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.unicodeScalars.allSatisfy {
                    $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-")
                }
        }
    }

    /// The host as written without brackets.
    package var text: String {
        switch self {
        case .ipv4(let text), .ipv6(let text), .name(let text): return text
        }
    }

    /// `host:port`, with brackets around an IPv6 literal.
    package func display(port: Int) -> String {
        if case .ipv6(let text) = self { return "[\(text)]:\(port)" }
        return "\(text):\(port)"
    }

    package var description: String { text }

    /// Why a host name gave no address to bind.
    package struct ResolutionFailure: Error, Sendable, Equatable, CustomStringConvertible {
        /// What `getaddrinfo` said.
        package enum Code: Sendable, Equatable {
            /// Its own error, an `EAI_*` value (`EAI_NONAME`: no such name).
            case resolver(Int32)
            /// `EAI_SYSTEM`: a system call failed with this `errno`.
            case system(errno: Int32)
        }

        package let host: String
        package let code: Code

        package init(host: String, code: Code) {
            self.host = host
            self.code = code
        }

        /// The system's text for `code`, e.g. `Name or service not known`.
        package var reason: String {
            switch code {
            case .resolver(let status): String(cString: gai_strerror(status))
            case .system(let number): String(cString: strerror(number))
            }
        }

        package var description: String { "cannot resolve \(host): \(reason)" }
    }

    /// The address to bind for `port`: the literal, or the first address the resolver gives for the
    /// name (`getaddrinfo` with `AF_UNSPEC`, `SOCK_STREAM`, `AI_PASSIVE`), as Cinder binds it.
    package func socketAddress(port: Int) throws(ResolutionFailure) -> (storage: sockaddr_storage, length: socklen_t) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | (isLiteral ? AI_NUMERICHOST : 0) | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(text, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let code: ResolutionFailure.Code = status == EAI_SYSTEM ? .system(errno: errno) : .resolver(status)
            throw ResolutionFailure(host: text, code: code)
        }
        defer { freeaddrinfo(list) }
        var storage = sockaddr_storage()
        let length = first.pointee.ai_addrlen
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(length)))
        }
        return (storage, length)
    }

    private var isLiteral: Bool {
        if case .name = self { return false }
        return true
    }
}
