import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Loopback ports for tests that run real peers: the one free-port and is-it-listening check of the
/// test targets.
package enum Loopback {
    /// A loopback port that was free a moment ago (bound to port 0, read back, closed). Someone else
    /// can take it before the test binds it: callers that hand it to another program retry.
    package static func reservePort() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = Self.address(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        return ok ? Int(UInt16(bigEndian: address.sin_port)) : nil
    }

    /// True when something accepts TCP connections on 127.0.0.1:`port`.
    package static func isListening(port: Int) -> Bool {
        (try? RawClient(port: port, receiveTimeout: 1)) != nil
    }

    /// The port of a `http://127.0.0.1:PORT` URL.
    package static func port(of url: String) -> Int? {
        url.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) }
    }

    static func address(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
