#if canImport(Glibc)
    import Glibc
#endif

/// Reading the small files an operator points volumed at (the configuration, a token file, a shares
/// file) with the system's reason for a failure, captured right after the call that failed (never
/// "Success" from a later call's errno). Only regular files are read: a FIFO or a device would
/// block a reload or never end.
package enum FileContents {
    /// Why a file could not be read.
    package enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// `open` or `read` failed with `errno`.
        case system(operation: String, errno: Int32)
        /// A directory, FIFO, socket or device.
        case notRegular(kind: String)
        /// Larger than the limit the caller gave, in bytes.
        case tooLarge(limit: Int)

        /// The reason alone: `No such file or directory`, `it is a FIFO, not a regular file`.
        package var reason: String {
            switch self {
            case .system(_, let code): return String(cString: strerror(code))
            case .notRegular(let kind): return "it is \(kind), not a regular file"
            case .tooLarge(let limit): return "it is larger than \(limit >> 20) MiB"
            }
        }

        package var description: String { "cannot read: \(reason)" }
    }

    /// The bytes of the regular file at `path`, at most `maxBytes`.
    package static func read(_ path: String, maxBytes: Int = 64 << 20) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            throw .system(operation: "open", errno: code)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            throw .system(operation: "examine", errno: code)
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .notRegular(kind: kind(info.st_mode)) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(Int(info.st_size), maxBytes))
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw .system(operation: "read", errno: code)
            }
            if count == 0 { return bytes }
            guard bytes.count + count <= maxBytes else { throw .tooLarge(limit: maxBytes) }
            bytes.append(contentsOf: chunk[..<count])
        }
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFCHR, S_IFBLK: return "a device"
        default: return "a special file"
        }
    }
}
