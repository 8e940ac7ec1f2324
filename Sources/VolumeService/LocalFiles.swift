import Foundation

/// Creating directories and small files with the system's own reasons in the message
/// (`mkdir /proc/x: No such file or directory`), where Foundation's errors read
/// "NSCocoaErrorDomain error 512" and name nothing an operator can act on.
enum LocalFiles {
    enum Failure: Error, Equatable, CustomStringConvertible {
        /// `component`, a prefix of `path`, exists and is not a directory.
        case notADirectory(path: String, component: String)
        /// `mkdir` of `path` failed with `errno`.
        case cannotCreate(path: String, errno: Int32)
        /// `open` or `write` of `path` failed with `errno`.
        case cannotWrite(path: String, errno: Int32)

        var description: String {
            switch self {
            case .notADirectory(let path, let component): "cannot create \(path): \(component) is not a directory"
            case .cannotCreate(let path, let code): "cannot create \(path): \(String(cString: strerror(code)))"
            case .cannotWrite(let path, let code): "cannot write \(path): \(String(cString: strerror(code)))"
            }
        }
    }

    /// `mkdir -p path` (mode 0755 for what it creates).
    static func makeDirectories(_ path: String) throws(Failure) {
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            built += "/" + component
            var info = stat()
            if stat(built, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    throw .notADirectory(path: path, component: built)
                }
                continue
            }
            guard mkdir(built, 0o755) == 0 else {
                let code = errno
                if code == EEXIST { continue }
                throw .cannotCreate(path: built, errno: code)
            }
        }
    }

    /// Replaces the contents of the file at `path` with `text`.
    static func write(_ text: String, to path: String) throws(Failure) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let code = errno
            throw .cannotWrite(path: path, errno: code)
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                let code = errno
                if code == EINTR { continue }
                throw .cannotWrite(path: path, errno: code)
            }
            offset += written
        }
    }
}
