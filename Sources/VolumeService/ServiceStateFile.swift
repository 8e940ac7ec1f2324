import Foundation
import JSON
import Scheduler
import ServiceDecisions
import Supervision
import Synchronization

/// The operator decisions of one node in one small JSON file, `<state_path>/service-state.json`
/// (Cinder keeps them in its database). Every change replaces the file atomically and durably:
/// a temporary file with an unpredictable name, created with `O_CREAT|O_EXCL|O_NOFOLLOW` (a planted
/// file or link is never written through), written, fsynced, renamed over the file, and the
/// directory fsynced. Only then is the decision acknowledged.
///
/// Format (version 2), one entry per service with a decision, sorted:
/// `{"version": 2, "services": [{"host": "node1@gold", "binary": "cinder-volume", "disabled": true,
/// "disabled_reason": "...", "frozen": false}]}`. Version 1 files (`"services"` keyed by backend id)
/// are read and carried over to this node's `host@backend` keys; the next decision writes version 2.
package final class ServiceStateFile: OperatorDecisionStore {
    package static let fileName = "service-state.json"
    /// The format written.
    package static let currentVersion = 2
    /// The formats read.
    package static let understoodVersions = [1, 2]
    /// A state file past this size is refused rather than read into memory (it would hold millions
    /// of services).
    package static let maxBytes = 16 << 20

    package let directory: String
    package let path: String
    /// The state directory, opened once: every file operation is relative to it, so a directory
    /// swapped afterwards cannot redirect a write, and a decision needs no descriptor for it when
    /// the process runs out of them.
    private let directoryFD: Int32

    package var location: String { path }

    /// Opens the state directory, creating it with its parents when missing, and removes temporary
    /// files a crash left behind.
    package init(directory: String) throws(DecisionStoreError) {
        self.directory = directory
        self.path = (directory as NSString).appendingPathComponent(Self.fileName)
        do {
            try LocalFiles.makeDirectories(directory)
        } catch {
            throw .unusableLocation(option: "state_path", reason: "\(error)")
        }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw .system(path: directory, operation: "cannot open the state directory", errno: code)
        }
        directoryFD = fd
        removeLeftoverTemporaries()
    }

    deinit {
        close(directoryFD)
    }

    // MARK: reading

    package func load(host: String) throws(DecisionStoreError) -> [ServiceKey: AdminState] {
        var info = stat()
        guard fstatat(directoryFD, Self.fileName, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            let code = errno
            if code == ENOENT { return [:] }
            throw .system(path: path, operation: "cannot examine", errno: code)
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            break
        case S_IFLNK:
            throw .unsafeFile(
                path: path,
                reason: "it is a symbolic link\(linkTarget()); volumed never reads or writes its state "
                    + "through a link (a planted link could point it at any file): replace the link with the file itself, "
                    + "or remove it to start with every service enabled")
        default:
            throw .unsafeFile(
                path: path,
                reason: "it is not a regular file (\(Self.kind(info.st_mode))); "
                    + "move it away to start with every service enabled")
        }
        let bytes = try readFile()
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw .malformed(path: path, reason: "\(error)")
        }
        return try decode(document, host: host)
    }

    /// ` to TARGET` (`, which does not exist` when it dangles), or empty when it cannot be read.
    private func linkTarget() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlinkat(directoryFD, Self.fileName, &buffer, buffer.count - 1)
        guard count >= 0 else { return "" }
        let target = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var info = stat()
        let dangling = fstatat(directoryFD, Self.fileName, &info, 0) != 0
        return " to \(target)" + (dangling ? ", which does not exist" : "")
    }

    private static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFCHR, S_IFBLK: return "a device"
        default: return "not a regular file"
        }
    }

    private func readFile() throws(DecisionStoreError) -> [UInt8] {
        let fd = openat(directoryFD, Self.fileName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            throw .system(path: path, operation: "cannot open", errno: code)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw .system(path: path, operation: "cannot read", errno: code)
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > Self.maxBytes {
                throw .malformed(path: path, reason: "larger than \(Self.maxBytes >> 20) MiB")
            }
        }
    }

    private func decode(_ document: JSONValue, host: String) throws(DecisionStoreError) -> [ServiceKey: Supervision
        .AdminState]
    {
        guard case .object = document else { throw .malformed(path: path, reason: "not a JSON object") }
        guard let versionValue = document["version"] else {
            throw .malformed(path: path, reason: "no \"version\" member")
        }
        guard case .number(let number) = versionValue else {
            throw .malformed(path: path, reason: "\"version\" is not a number")
        }
        guard let version = Int(exactly: number.value), Self.understoodVersions.contains(version) else {
            throw .unsupportedVersion(path: path, found: number.text, understood: Self.understoodVersions)
        }
        var statuses: [ServiceKey: AdminState] = [:]
        switch (version, document["services"]) {
        case (1, .object(let members)?):
            // Version 1 keyed the flags by backend id: they are this node's backends.
            for member in members {
                let status = try status(member.value, at: "services.\(member.key)")
                if !status.isDefault { statuses[.volume(host: host, backend: member.key)] = status }
            }
        case (2, .array(let entries)?):
            for (index, entry) in entries.enumerated() {
                let at = "services[\(index)]"
                guard let serviceHost = entry["host"]?.stringValue, !serviceHost.isEmpty,
                    let binary = entry["binary"]?.stringValue, !binary.isEmpty
                else {
                    throw .malformed(path: path, reason: "\(at): \"host\" and \"binary\" must be non-empty strings")
                }
                let key = ServiceKey(host: serviceHost, binary: binary)
                guard statuses[key] == nil else {
                    throw .malformed(path: path, reason: "\(at): \(key) is listed twice")
                }
                let status = try status(entry, at: at)
                if !status.isDefault { statuses[key] = status }
            }
        case (_, nil):
            throw .malformed(path: path, reason: "no \"services\" member")
        default:
            throw .malformed(
                path: path,
                reason: "\"services\" must be \(version == 1 ? "an object" : "a list") in version \(version)")
        }
        return statuses
    }

    private func status(_ entry: JSONValue, at place: String) throws(DecisionStoreError) -> AdminState {
        guard case .object = entry else { throw .malformed(path: path, reason: "\(place) is not an object") }
        guard let disabled = entry["disabled"]?.boolValue else {
            throw .malformed(path: path, reason: "\(place).disabled must be true or false")
        }
        var status = AdminState(disabled: disabled)
        switch entry["disabled_reason"] {
        case nil, .null?: break
        case .string(let reason)?: status.disabledReason = reason
        default: throw .malformed(path: path, reason: "\(place).disabled_reason must be a string or null")
        }
        switch entry["frozen"] {
        case nil: break
        case .bool(let frozen)?: status.frozen = frozen
        default: throw .malformed(path: path, reason: "\(place).frozen must be true or false")
        }
        return status
    }

    // MARK: writing

    package func checkWritable() throws(DecisionStoreError) {
        let name = Self.temporaryName()
        let fd = openat(directoryFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            throw .system(path: directory, operation: "state_path is not writable", errno: code)
        }
        close(fd)
        unlinkat(directoryFD, name, 0)
    }

    package func commit(
        _ status: AdminState, for key: ServiceKey,
        all: [ServiceKey: AdminState]
    ) throws(DecisionStoreError) {
        try replace(with: Self.encode(all))
    }

    /// Replaces the file with `statuses` (cluster mode keeps it as the last copy of this node's
    /// decisions in etcd, read when the host starts before etcd answers).
    package func replaceAll(_ statuses: [ServiceKey: AdminState]) throws(DecisionStoreError) {
        try replace(with: Self.encode(statuses))
    }

    /// The document of `statuses` (default statuses left out), services sorted.
    static func encode(_ statuses: [ServiceKey: AdminState]) -> [UInt8] {
        var json = JSONWriter(style: .pythonDumps, reservingCapacity: 64 + statuses.count * 128)
        json.beginObject()
        json.member("version", currentVersion)
        json.key("services")
        json.beginArray()
        for (key, status) in statuses.sorted(by: { $0.key < $1.key }) where !status.isDefault {
            json.beginObject()
            json.member("host", key.host)
            json.member("binary", key.binary)
            json.member("disabled", status.disabled)
            json.member("disabled_reason", status.disabledReason)
            json.member("frozen", status.frozen)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.bytes + [UInt8(ascii: "\n")]
    }

    /// Write a temporary file, fsync, rename over the state file, fsync the directory. Every error
    /// is captured right after the call that failed.
    private func replace(with bytes: [UInt8]) throws(DecisionStoreError) {
        let name = Self.temporaryName()
        let temporaryPath = (directory as NSString).appendingPathComponent(name)
        let fd = openat(directoryFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            throw .system(path: temporaryPath, operation: "cannot create", errno: code)
        }
        var failure: DecisionStoreError?
        var offset = 0
        while offset < bytes.count, failure == nil {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                let code = errno
                if code != EINTR { failure = .system(path: temporaryPath, operation: "cannot write", errno: code) }
            } else {
                offset += written
            }
        }
        if failure == nil, fsync(fd) != 0 {
            let code = errno
            failure = .system(path: temporaryPath, operation: "cannot sync", errno: code)
        }
        if close(fd) != 0, failure == nil {
            let code = errno
            failure = .system(path: temporaryPath, operation: "cannot close", errno: code)
        }
        if failure == nil, renameat(directoryFD, name, directoryFD, Self.fileName) != 0 {
            let code = errno
            failure = .system(path: path, operation: "cannot replace it with \(name)", errno: code)
        }
        if let failure {
            unlinkat(directoryFD, name, 0)
            throw failure
        }
        guard fsync(directoryFD) == 0 else {
            let code = errno
            throw .unconfirmed(path: path, errno: code)
        }
    }

    /// `.service-state.json.<64 random bits>.tmp`: not guessable, so nobody can plant it in advance
    /// (and `O_EXCL|O_NOFOLLOW` refuse anything planted anyway).
    static func temporaryName() -> String {
        ".\(fileName).\(String(UInt64.random(in: .min ... .max), radix: 16)).tmp"
    }

    /// Temporary files of a write that a crash interrupted; never the state file itself.
    private func removeLeftoverTemporaries() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(".\(Self.fileName).") && name.hasSuffix(".tmp") {
            unlinkat(directoryFD, name, 0)
        }
    }
}
