import Config
import Foundation
import Supervision
import Synchronization

/// Cinder's NFS driver, reduced to what volumed supervises: it reads the shares file, checks each
/// share's mount point, and reports capacity from `statvfs`, one pool per share.
///
/// volumed never runs `mount`: a remote share must already be mounted at
/// `<nfs_mount_point_base>/<md5 of the share>` (by systemd, autofs or an operator), and a local
/// absolute-path share is used where it is. So "the storage is not ready yet" is simply a missing
/// or unmounted mount point, which is recoverable, and the driver runs without root.
///
/// As in Cinder, the backend is usable while at least one share is: unusable shares are left out of
/// the pools, and only when none is usable does a call fail with `backend_unavailable`.
package final class NfsDriver: VolumeDriver {
    package struct Options: Sendable, Equatable {
        package var volumeBackendName: String
        /// Absolute path of the shares file.
        package var sharesConfig: String
        /// Absolute path under which remote shares are mounted.
        package var mountPointBase: String
        /// Sparse files (thin) or fully allocated ones (thick), Cinder's `nfs_sparsed_volumes`.
        package var sparsedVolumes = true
        var pool = CommonPoolOptions()
        /// Where the kernel lists mounts; a test points it at a file of its own.
        var mountTablePath = "/proc/self/mountinfo"

        package init(
            volumeBackendName: String, sharesConfig: String, mountPointBase: String, sparsedVolumes: Bool = true
        ) {
            self.volumeBackendName = volumeBackendName
            self.sharesConfig = sharesConfig
            self.mountPointBase = mountPointBase
            self.sparsedVolumes = sparsedVolumes
        }

        /// The option names this driver reads from a backend section.
        static let names: Set<String> = CommonPoolOptions.names.union([
            "nfs_shares_config", "nfs_mount_point_base", "nfs_sparsed_volumes", "nfs_mount_options",
        ])

        /// Types the options of `backend`; `nfs_mount_point_base` defaults to `<state_path>/mnt` as
        /// in Cinder (`$state_path/mnt`).
        static func read(_ reader: inout DriverOptionReader, service: ServiceOptions) -> Options? {
            let shares = reader.required("nfs_shares_config") { v throws(ConfigDiagnostic) in try v.path() }
            let base = reader.optional("nfs_mount_point_base") { v throws(ConfigDiagnostic) in try v.path() }
            let sparsed = reader.optional("nfs_sparsed_volumes") { v throws(ConfigDiagnostic) in try v.bool() }
            let pool = CommonPoolOptions(reading: &reader)
            guard let shares, reader.problems.isEmpty else { return nil }
            var options = Options(
                volumeBackendName: reader.backend.volumeBackendName, sharesConfig: shares,
                mountPointBase: base ?? service.statePath + "/mnt", sparsedVolumes: sparsed ?? true)
            options.pool = pool
            return options
        }
    }

    package static let version = "1.0.0"
    package let volumeDriverName: String
    package let options: Options
    package var supported: Bool { true }
    private let shares = Mutex<[NfsShare]>([])

    package init(volumeDriverName: String = "nfs", options: Options) {
        self.volumeDriverName = volumeDriverName
        self.options = options
    }

    /// Reads the shares file again, so a re-initialization sees the operator's edits.
    package func doSetup() throws {
        let read = try NfsSharesFile.read(path: options.sharesConfig, mountPointBase: options.mountPointBase)
        shares.withLock { $0 = read }
    }

    /// At least one share must be a writable directory (and mounted, if remote); a file is created
    /// and removed to prove it, as access() alone says yes to root on a root-squashed export.
    package func checkForSetupError() throws {
        let current = try loadedShares()
        var reasons: [String] = []
        for share in current {
            if let reason = unusableReason(share) ?? writeProbeFailure(share) {
                reasons.append(reason)
            } else {
                return
            }
        }
        throw DriverError(.backendUnavailable, "no usable share: " + reasons.joined(separator: "; "))
    }

    package func getVolumeStats() throws -> VolumeStats {
        let current = try loadedShares()
        var pools: [PoolStats] = []
        var reasons: [String] = []
        var totalBytes: UInt64 = 0
        var freeBytes: UInt64 = 0
        var countedDevices = Set<UInt64>()
        for share in current {
            if let reason = unusableReason(share) {
                reasons.append(reason)
                continue
            }
            var fs = statvfs()
            var info = stat()
            guard statvfs(share.mountPoint, &fs) == 0, stat(share.mountPoint, &info) == 0 else {
                let code = errno
                reasons.append("\(share.address): statvfs \(share.mountPoint): \(String(cString: strerror(code)))")
                continue
            }
            let shareTotal = UInt64(fs.f_blocks) * UInt64(fs.f_frsize)
            let shareFree = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
            if countedDevices.insert(UInt64(info.st_dev)).inserted {  // shares on one file system count once
                totalBytes += shareTotal
                freeBytes += shareFree
            }
            pools.append(
                PoolStats(
                    poolName: share.address, totalCapacityGB: .gib(bytes: shareTotal),
                    freeCapacityGB: .gib(bytes: shareFree),
                    reservedPercentage: options.pool.reservedPercentage,
                    thinProvisioningSupport: options.sparsedVolumes,
                    thickProvisioningSupport: !options.sparsedVolumes,
                    maxOverSubscriptionRatio: options.pool.maxOverSubscriptionRatio))
        }
        guard !pools.isEmpty else {
            throw DriverError(.backendUnavailable, "no usable share: " + reasons.joined(separator: "; "))
        }
        return VolumeStats(
            volumeBackendName: options.volumeBackendName, vendorName: "Open Source", driverVersion: Self.version,
            storageProtocol: "nfs", totalCapacityGB: .gib(bytes: totalBytes), freeCapacityGB: .gib(bytes: freeBytes),
            reservedPercentage: options.pool.reservedPercentage, pools: pools)
    }

    private func loadedShares() throws(DriverError) -> [NfsShare] {
        let current = shares.withLock { $0 }
        guard !current.isEmpty else { throw DriverError(.other, "doSetup has not read the shares file yet") }
        return current
    }

    /// Why a share cannot be used now, or nil when it can.
    private func unusableReason(_ share: NfsShare) -> String? {
        var info = stat()
        guard stat(share.mountPoint, &info) == 0 else {
            let code = errno
            let reason = code == ENOENT ? "does not exist" : "cannot be examined: \(String(cString: strerror(code)))"
            return "\(share.address): mount point \(share.mountPoint) \(reason)"
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            return "\(share.address): mount point \(share.mountPoint) is not a directory"
        }
        if share.isRemote {
            let resolved =
                realpath(share.mountPoint, nil).map { pointer in
                    defer { free(pointer) }
                    return String(cString: pointer)
                } ?? share.mountPoint
            if let mounted = MountTable.mountPoints(tablePath: options.mountTablePath),
                !mounted.contains(resolved), !mounted.contains(share.mountPoint)
            {
                return "\(share.address): nothing is mounted at \(share.mountPoint) (volumed does not mount shares)"
            }
        }
        guard access(share.mountPoint, W_OK | X_OK) == 0 else {
            let code = errno
            return
                "\(share.address): mount point \(share.mountPoint) is not writable: \(String(cString: strerror(code)))"
        }
        return nil
    }

    private func writeProbeFailure(_ share: NfsShare) -> String? {
        let probe = share.mountPoint + "/.volumed-write-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            return
                "\(share.address): mount point \(share.mountPoint) is not writable: \(String(cString: strerror(code)))"
        }
        close(fd)
        unlink(probe)
        return nil
    }
}
