import Foundation
import Supervision

/// The operator decisions that must survive a crash or `SIGKILL`: which services were disabled and
/// why. Cinder keeps them in its database; volumed keeps them in one small JSON file under
/// `state_path`, replaced atomically (write a temporary file, fsync, rename, fsync the directory) so a
/// restart never sees a half-written file and never loses a decision that was acknowledged.
public struct ServiceStateFile: Sendable {
    public let path: String

    public init(directory: String) {
        self.path = (directory as NSString).appendingPathComponent("service-state.json")
    }

    /// Why the file could not be read or written, with the path and the system's reason.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private struct Document: Codable {
        var version: Int
        var services: [String: Entry]
    }

    private struct Entry: Codable {
        var disabled: Bool
        var disabledReason: String?

        enum CodingKeys: String, CodingKey {
            case disabled
            case disabledReason = "disabled_reason"
        }
    }

    /// The saved flags by backend id; empty when no file exists yet.
    public func load() throws(Failure) -> [String: Supervision.ServiceStatus] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "\(path): cannot read: \(String(cString: strerror(errno)))")
        }
        do {
            let document = try JSONDecoder().decode(Document.self, from: data)
            return document.services.mapValues { Supervision.ServiceStatus(disabled: $0.disabled, disabledReason: $0.disabledReason) }
        } catch {
            throw Failure(description: "\(path) is not a volumed state file (\(Self.reason(error))); repair it, "
                + "or remove it to start with every service enabled")
        }
    }

    /// Replaces the file with `statuses`; only disabled services are written (enabled is the default).
    public func save(_ statuses: [String: Supervision.ServiceStatus]) throws(Failure) {
        let entries = statuses.filter { $0.value.disabled }
            .mapValues { Entry(disabled: true, disabledReason: $0.disabledReason) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data: Data
        do {
            data = try encoder.encode(Document(version: 1, services: entries))
        } catch {
            throw Failure(description: "\(path): cannot encode state: \(error)")
        }
        let directory = try createDirectory()
        let temporary = path + ".tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw systemFailure("cannot create \(temporary)") }
        let written = data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue }; return false }
                offset += n
            }
            return true
        }
        guard written, fsync(fd) == 0 else {
            let failure = systemFailure("cannot write \(temporary)")
            close(fd)
            unlink(temporary)
            throw failure
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let failure = systemFailure("cannot replace \(path)")
            unlink(temporary)
            throw failure
        }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// A decoding error in a few words (its full description runs over several lines of coding paths).
    private static func reason(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .dataCorrupted(let context)?:
            return (context.underlyingError.map { "\($0.localizedDescription)" } ?? context.debugDescription)
        case .keyNotFound(let key, _)?:
            return "no \"\(key.stringValue)\" member"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    /// Start-up's check that a decision acknowledged later can be kept: the directory exists (or is
    /// created) and a file can be created in it. Found now, a problem stops start-up with the path and
    /// the reason, instead of the first `disable` answering 200 and being lost at the next restart.
    public func checkWritable() throws(Failure) {
        let directory = try createDirectory()
        let probe = directory + "/.volumed-write-probe.\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw systemFailure("state_path \(directory) is not writable") }
        close(fd)
        unlink(probe)
    }

    /// The state directory, created with its parents when missing.
    private func createDirectory() throws(Failure) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try LocalFiles.makeDirectories(directory)
        } catch {
            throw Failure(description: "state_path: \(error)")
        }
        return directory
    }

    private func systemFailure(_ what: String) -> Failure {
        Failure(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
