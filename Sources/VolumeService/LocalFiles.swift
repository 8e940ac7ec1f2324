import Foundation

/// Creating directories and small files with the system's own reasons in the message
/// (`mkdir /proc/x: No such file or directory`), where Foundation's errors read
/// "NSCocoaErrorDomain error 512" and name nothing an operator can act on.
enum LocalFiles {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// `mkdir -p path` (mode 0755 for what it creates).
    static func makeDirectories(_ path: String) throws(Failure) {
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            built += "/" + component
            var info = stat()
            if stat(built, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    throw Failure(description: "cannot create \(path): \(built) is not a directory")
                }
                continue
            }
            guard mkdir(built, 0o755) == 0 else {
                let code = errno
                if code == EEXIST { continue }
                throw Failure(description: "cannot create \(built): \(String(cString: strerror(code)))")
            }
        }
    }

    /// Replaces the contents of the file at `path` with `text`.
    static func write(_ text: String, to path: String) throws(Failure) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let code = errno
            throw Failure(description: "cannot write \(path): \(String(cString: strerror(code)))")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                let code = errno
                if code == EINTR { continue }
                throw Failure(description: "cannot write \(path): \(String(cString: strerror(code)))")
            }
            offset += written
        }
    }
}
