import Foundation

// The kernel's view of loopback connections, for the fault matrix (sockets themselves: SharedTestSupport).

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
