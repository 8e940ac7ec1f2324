// The few POSIX socket calls the server needs, with errno turned into typed errors.

import CHTTPServer
import NetworkAddress

#if canImport(Glibc)
    import Glibc
#endif

/// Why the server could not start.
package enum HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The host is neither an IPv4 or IPv6 literal nor a host name, or the port is out of range.
    case invalidAddress(String)
    /// The host name gave no address to listen on (`reason` is the resolver's).
    case cannotResolve(host: String, reason: String)
    /// `bind` or `listen` failed (address in use, not local, permission).
    case cannotListen(address: String, errno: Int32)
    /// A system call the server needs failed (epoll, eventfd, thread creation).
    case systemCallFailed(String, errno: Int32)
    /// `start()` was called twice, or after `shutdown`.
    case alreadyStarted

    package var description: String {
        switch self {
        case .invalidAddress(let text): return "invalid listen address \(text)"
        case .cannotResolve(let host, let reason):
            return "cannot listen on \(host): the host name does not resolve: \(reason)"
        case .cannotListen(let address, let code):
            return "cannot listen on \(address): \(String(cString: strerror(code)))"
        case .systemCallFailed(let call, let code): return "\(call) failed: \(String(cString: strerror(code)))"
        case .alreadyStarted: return "the server was already started"
        }
    }
}

enum Socket {
    /// A non-blocking listening socket on `host:port`; returns it with the port actually bound.
    /// `reusePort` lets several listeners (one per event loop) share the port. SO_REUSEPORT set before
    /// `listen` would also let a second server of the same user share a fixed port silently, so an
    /// `exclusive` socket (a server's first) binds and listens without it, failing with EADDRINUSE on
    /// a port in use (SO_REUSEADDR lets two sockets bind one port while neither listens, so only
    /// `listen` decides), and opens its port group only once it listens.
    static func listen(
        host rawHost: String, port: Int, backlog: Int32, reusePort: Bool, exclusive: Bool
    ) throws(HTTPServerError) -> (fd: Int32, port: Int) {
        guard let host = ListenHost(rawHost) else {
            throw .invalidAddress(rawHost.contains(":") ? "[\(rawHost)]:\(port)" : "\(rawHost):\(port)")
        }
        let display = host.display(port: port)
        guard (0...65535).contains(port) else { throw .invalidAddress(display) }
        let storage: sockaddr_storage
        let length: socklen_t
        do {
            (storage, length) = try host.socketAddress(port: port)
        } catch {
            throw .cannotResolve(host: host.text, reason: error.reason)
        }
        let fd = try bound(storage, length: length, reusePort: reusePort && !exclusive, display: display)
        guard Glibc.listen(fd, backlog) == 0 else {
            let code = errno
            close(fd)
            throw .cannotListen(address: display, errno: code)
        }
        if reusePort && exclusive {
            var one: Int32 = 1
            guard setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                let code = errno
                close(fd)
                throw .systemCallFailed("setsockopt(SO_REUSEPORT)", errno: code)
            }
        }
        var local = sockaddr_storage()
        var localLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &localLength) }
        }
        return (fd, peerAddress(local).port)
    }

    /// A socket bound to `address` (IPv6 sockets are v6-only).
    private static func bound(
        _ address: sockaddr_storage, length: socklen_t, reusePort: Bool, display: String
    ) throws(HTTPServerError) -> Int32 {
        let family = Int32(address.ss_family)
        let fd = socket(
            family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .systemCallFailed("socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if reusePort { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) }
        if family == AF_INET6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = address
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw .cannotListen(address: display, errno: code)
        }
        return fd
    }

    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    static func peerAddress(_ storage: sockaddr_storage) -> PeerAddress {
        var storage = storage
        return withUnsafePointer(to: &storage) { pointer in
            if Int32(pointer.pointee.ss_family) == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                    let bytes = withUnsafeBytes(of: v6.pointee.sin6_addr) { Array($0) }
                    return PeerAddress(family: .ipv6, bytes: bytes, port: Int(UInt16(bigEndian: v6.pointee.sin6_port)))
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                let bytes = withUnsafeBytes(of: v4.pointee.sin_addr) { Array($0) }
                return PeerAddress(family: .ipv4, bytes: bytes, port: Int(UInt16(bigEndian: v4.pointee.sin_port)))
            }
        }
    }

    /// Raises the soft open-file limit towards `wanted` (never above the hard limit); returns the
    /// resulting soft limit.
    @discardableResult
    static func raiseOpenFileLimit(to wanted: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < rlim_t(wanted) {
            var raised = limit
            raised.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(limit.rlim_cur)
    }

    /// Milliseconds on a monotonic clock (coarse: a few ms of resolution is plenty for timeouts).
    static func monotonicMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

extension Duration {
    /// Whole milliseconds, at least 1 for any positive duration.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        let total = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return total == 0 && attoseconds > 0 ? 1 : total
    }
}
