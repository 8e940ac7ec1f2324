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

/// The kernel's IPv4 TCP table (`/proc/net/tcp`), to see which connections a process holds.
package enum LoopbackTCPTable {
    package struct Entry: CustomStringConvertible {
        package var localPort: Int
        package var remotePort: Int
        /// The kernel's state code: "01" established, "06" time-wait.
        package var state: String
        package var inode: String
        /// Bytes received and not yet read by the socket's owner.
        package var receiveQueue: Int
        package var description: String { "\(localPort)->\(remotePort) st=\(state) inode=\(inode) rx=\(receiveQueue)" }
    }

    package static func entries() -> [Entry] {
        let fd = open("/proc/net/tcp", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 9,
                let local = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }),
                let remote = fields[2].split(separator: ":").last.flatMap({ Int($0, radix: 16) })
            else { return nil }
            let receiveQueue = fields[4].split(separator: ":").last.flatMap { Int($0, radix: 16) } ?? 0
            return Entry(
                localPort: local, remotePort: remote, state: String(fields[3]), inode: String(fields[9]),
                receiveQueue: receiveQueue)
        }
    }

    /// The socket inodes among `pid`'s open descriptors.
    package static func socketInodes(of pid: Int32) -> Set<String> {
        let directory = "/proc/\(pid)/fd"
        var inodes = Set<String>()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + name),
                target.hasPrefix("socket:[")
            else { continue }
            inodes.insert(String(target.dropFirst(8).dropLast()))
        }
        return inodes
    }

    /// Local ports of the established connections `pid` holds to `port`.
    package static func connections(of pid: Int32, to port: Int) -> Set<Int> {
        let inodes = socketInodes(of: pid)
        return Set(
            entries().filter { $0.remotePort == port && $0.state == "01" && inodes.contains($0.inode) }.map(\.localPort)
        )
    }

    /// Connections to or from `port` closed within the last minute or so.
    package static func timeWaits(port: Int) -> Int {
        entries().filter { $0.state == "06" && ($0.localPort == port || $0.remotePort == port) }.count
    }
}

extension RawClient {
    /// Whether the server on `port` has read every byte this client sent (its side of the
    /// connection holds nothing unread): what a test awaits before it acts on a request in flight.
    package func isReadByServer(port: Int) -> Bool {
        let local = localPort
        return LoopbackTCPTable.entries().contains {
            $0.localPort == port && $0.remotePort == local && $0.receiveQueue == 0
        }
    }
}
