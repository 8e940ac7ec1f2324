import Config
import Foundation
import ServiceNames
import Supervision

/// One line of Cinder's `nfs_shares_config`: an NFS export `host:/export` (mounted by someone else
/// at `<nfs_mount_point_base>/<md5 of the share>`) or an absolute local path that is already the
/// storage (a mounted file system or a plain directory), used where it is.
struct NfsShare: Sendable, Equatable {
    /// The share exactly as written (without mount options): the pool name and the hashed string.
    var address: String
    /// Mount options written after the share; volumed never mounts, so they are only shown.
    var mountOptions: String?
    /// Where the share's files are.
    var mountPoint: String
    /// Whether the share is remote (then the mount point must be a mount in the mount table).
    var isRemote: Bool

    /// Cinder's rule for NFS shares (`.+:/.+`), plus absolute local paths.
    static func parse(line: String, mountPointBase: String) -> NfsShare? {
        let parts = line.split(separator: " ", maxSplits: 1)
        guard let first = parts.first else { return nil }
        let address = String(first)
        let options = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: .whitespaces) : nil
        if address.hasPrefix("/") {
            return NfsShare(address: address, mountOptions: options, mountPoint: address, isRemote: false)
        }
        guard let separator = address.range(of: ":/"), separator.lowerBound > address.startIndex,
            separator.upperBound < address.endIndex
        else { return nil }
        let base = mountPointBase.hasSuffix("/") ? String(mountPointBase.dropLast()) : mountPointBase
        return NfsShare(
            address: address, mountOptions: options,
            mountPoint: base + "/" + MD5.hexDigest(address), isRemote: true)
    }
}

/// Reads the shares file. Every problem with it is a configuration error: the file will not fix
/// itself, the operator must edit it (then reload or re-initialize).
enum NfsSharesFile {
    static func read(path: String, mountPointBase: String) throws(DriverError) -> [NfsShare] {
        let data: [UInt8]
        do {
            data = try FileContents.read(path, maxBytes: 16 << 20)
        } catch {
            throw DriverError(.configError, "nfs_shares_config \(path): \(error)")
        }
        var shares: [NfsShare] = []
        var invalid: [String] = []
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        for (index, rawLine) in lines.enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let share = NfsShare.parse(line: line, mountPointBase: mountPointBase) else {
                invalid.append(
                    "\(path):\(index + 1): \(ServiceName.quoted(line)) is neither host:/export nor an absolute path")
                continue
            }
            // The share is the pool's name: it must pass the scheduler's rule for pool names.
            do {
                try ServiceName.checkPool(share.address)
            } catch {
                invalid.append(
                    "\(path):\(index + 1): share \(ServiceName.quoted(share.address)) cannot name a pool: it \(error)")
                continue
            }
            if let existing = shares.firstIndex(where: { $0.address == share.address }) {
                shares[existing] = share  // as Cinder: a repeated share keeps its last options
            } else {
                shares.append(share)
            }
        }
        guard invalid.isEmpty else { throw DriverError(.configError, invalid.joined(separator: "; ")) }
        guard !shares.isEmpty else {
            throw DriverError(.configError, "nfs_shares_config \(path): lists no share")
        }
        return shares
    }
}

/// The mount points listed in `/proc/self/mountinfo`, so a remote share whose mount point is an
/// empty directory (the NFS mount not done yet) is not mistaken for storage: statvfs there would
/// report the local disk.
enum MountTable {
    static func mountPoints(tablePath: String) -> Set<String>? {
        // Read to the end: procfs files report a size of 0, and `FileManager.contents(atPath:)`
        // then stops after its first read (about 4 KiB), dropping later mounts on a busy host.
        guard let handle = FileHandle(forReadingAtPath: tablePath) else { return nil }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.readToEnd() ?? Data()
        } catch {
            return nil
        }
        var points = Set<String>()
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 4 else { continue }
            points.insert(unescape(String(fields[4])))
        }
        return points
    }

    /// mountinfo writes space, tab, newline and backslash as `\040`-style octal escapes.
    static func unescape(_ field: String) -> String {
        var bytes: [UInt8] = []
        let source = Array(field.utf8)
        var index = 0
        while index < source.count {
            if source[index] == UInt8(ascii: "\\"), index + 3 < source.count,
                let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
