import Foundation

// Loopback sockets for the fault matrix: free ports, requests sent in pieces, the kernel's TCP table.

/// A loopback port that was free a moment ago (bound to port 0, read back, closed).
func reserveLoopbackPort() -> Int? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var address = loopbackAddress(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
        }
    }
    return ok ? Int(UInt16(bigEndian: address.sin_port)) : nil
}

private func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// The port of a `http://127.0.0.1:PORT` URL.
func portOf(_ url: String) -> Int? {
    url.split(separator: ":").last.flatMap { Int($0) }
}

/// A plain TCP connection for requests sent in pieces (a request in flight across a signal).
final class RawConnection {
    private var fd: Int32

    init?(port: Int, receiveTimeout: Int = 30) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            // deinit runs for a failed init too: a second close would hit whatever descriptor another
            // thread opened with this number in between (seen as a reset of an in-process server's
            // fresh connection in another suite).
            fd = -1
            return nil
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// What one `recv` returns (at least one byte unless the peer closed or the timeout passed).
    func readSome() -> String {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: chunk[0..<n], as: UTF8.self) : ""
    }

    /// Everything the peer sends until it closes the connection (or the receive timeout passes).
    func readUntilClosed(limit: Int = 1 << 20) -> String {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while received.count < limit {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += chunk[0..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }
}

/// The kernel's IPv4 TCP table (`/proc/net/tcp`), to see which connections a process holds.
enum LoopbackTCPTable {
    struct Entry: CustomStringConvertible {
        var localPort: Int
        var remotePort: Int
        /// The kernel's state code: "01" established, "06" time-wait.
        var state: String
        var inode: String
        var description: String { "\(localPort)->\(remotePort) st=\(state) inode=\(inode)" }
    }

    static func entries() -> [Entry] {
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
            return Entry(localPort: local, remotePort: remote, state: String(fields[3]), inode: String(fields[9]))
        }
    }

    /// The socket inodes among `pid`'s open descriptors.
    static func socketInodes(of pid: Int32) -> Set<String> {
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
    static func connections(of pid: Int32, to port: Int) -> Set<Int> {
        let inodes = socketInodes(of: pid)
        return Set(
            entries().filter { $0.remotePort == port && $0.state == "01" && inodes.contains($0.inode) }.map(\.localPort)
        )
    }

    /// Connections to or from `port` closed within the last minute or so.
    static func timeWaits(port: Int) -> Int {
        entries().filter { $0.state == "06" && ($0.localPort == port || $0.remotePort == port) }.count
    }
}
