import Config
import Foundation
import SharedTestSupport
import Supervision
import Testing

@testable import Drivers

@Suite(.offCooperativePool) struct NfsDriverTests {
    @Test func md5MatchesPythonHashlib() {
        #expect(MD5.hexDigest("") == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(MD5.hexDigest("abc") == "900150983cd24fb0d6963f7d28e17f72")
        #expect(MD5.hexDigest(String(repeating: "a", count: 1000)) == "cabe45dcc9ae5b66ba86600cca6b8ba8")
        #expect(MD5.hexDigest("192.168.1.10:/export/gold") == "1553699286b8e9c06ae957392f9aaebc")
    }

    @Test func parsesSharesLikeCinder() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(
            "shares",
            """
            # gold tier
            192.168.1.10:/export/gold -o vers=4.1

              /srv/local-share
            192.168.1.10:/export/gold
            """)
        let shares = try NfsSharesFile.read(path: file, mountPointBase: "/mnt/base/")
        #expect(
            shares == [
                NfsShare(
                    address: "192.168.1.10:/export/gold", mountOptions: nil,
                    mountPoint: "/mnt/base/1553699286b8e9c06ae957392f9aaebc", isRemote: true),
                NfsShare(
                    address: "/srv/local-share", mountOptions: nil, mountPoint: "/srv/local-share", isRemote: false),
            ])
    }

    @Test func sharesFileProblemsAreConfigErrors() throws {
        let directory = try TemporaryDirectory()
        let missing = NfsDriver(
            options: .init(
                volumeBackendName: "n", sharesConfig: directory.path + "/absent",
                mountPointBase: directory.path))
        #expect(
            driverError { try missing.doSetup() }
                == DriverError(
                    .configError, "nfs_shares_config \(directory.path)/absent: cannot read: No such file or directory"))

        let empty = try directory.write("empty", "# nothing yet\n\n")
        let emptyDriver = NfsDriver(
            options: .init(volumeBackendName: "n", sharesConfig: empty, mountPointBase: directory.path))
        #expect(
            driverError { try emptyDriver.doSetup() }
                == DriverError(.configError, "nfs_shares_config \(empty): lists no share"))

        let bad = try directory.write("bad", "server:/ok\nrelative/path\nhost-without-export\n")
        let badDriver = NfsDriver(
            options: .init(volumeBackendName: "n", sharesConfig: bad, mountPointBase: directory.path))
        #expect(
            driverError { try badDriver.doSetup() }
                == DriverError(
                    .configError,
                    "\(bad):2: \"relative/path\" is neither host:/export nor an absolute path; "
                        + "\(bad):3: \"host-without-export\" is neither host:/export nor an absolute path"))
        #expect(DriverError(.configError, "").errorClass == .unrecoverable)
    }

    @Test func localShareRecoversWhenItsDirectoryAppears() throws {
        let directory = try TemporaryDirectory()
        let sharePath = directory.path + "/volumes"
        let shares = try directory.write("shares", sharePath + "\n")
        let driver = NfsDriver(
            options: .init(volumeBackendName: "gold", sharesConfig: shares, mountPointBase: directory.path))
        try driver.doSetup()
        let failure = driverError { try driver.checkForSetupError() }
        #expect(
            failure
                == DriverError(
                    .backendUnavailable,
                    "no usable share: \(sharePath): mount point \(sharePath) does not exist"))
        #expect(failure?.errorClass == .recoverable)
        #expect(driverError { _ = try driver.getVolumeStats() }?.kind == .backendUnavailable)

        _ = try directory.makeDirectory("volumes")
        try driver.checkForSetupError()
        let stats = try driver.getVolumeStats()
        var fs = statvfs()
        #expect(statvfs(sharePath, &fs) == 0)
        let expectedTotal = (Double(UInt64(fs.f_blocks) * UInt64(fs.f_frsize)) / 1_073_741_824 * 100).rounded() / 100
        let expectedFree = Double(UInt64(fs.f_bavail) * UInt64(fs.f_frsize)) / 1_073_741_824
        #expect(stats.volumeBackendName == "gold")
        #expect(stats.vendorName == "Open Source")
        #expect(stats.storageProtocol == "nfs")
        #expect(stats.totalCapacityGB == .gib(expectedTotal))
        guard case .gib(let free) = stats.freeCapacityGB else {
            Issue.record("free is not a number")
            return
        }
        #expect(abs(free - expectedFree) < 1.0)  // other processes write to the same disk meanwhile
        #expect(stats.pools.map(\.poolName) == [sharePath])
        #expect(stats.pools.first?.totalCapacityGB == .gib(expectedTotal))
        #expect(stats.pools.first?.thinProvisioningSupport == true)
        #expect(stats.pools.first?.maxOverSubscriptionRatio == 20)
        #expect(try FileManager.default.contentsOfDirectory(atPath: sharePath) == [])  // the write probe cleaned up
    }

    @Test func remoteShareMustBeAMountedDirectory() throws {
        let directory = try TemporaryDirectory()
        let base = try directory.makeDirectory("mnt")
        let share = "10.0.0.5:/export/silver"
        let mountPoint = base + "/" + MD5.hexDigest(share)
        let shares = try directory.write("shares", share + "\n")
        let table = try directory.write("mountinfo", "22 1 0:21 / /proc rw - proc proc rw\n")
        var options = NfsDriver.Options(volumeBackendName: "silver", sharesConfig: shares, mountPointBase: base)
        options.mountTablePath = table
        let driver = NfsDriver(options: options)
        try driver.doSetup()

        #expect(
            driverError { try driver.checkForSetupError() }
                == DriverError(
                    .backendUnavailable,
                    "no usable share: \(share): mount point \(mountPoint) does not exist"))

        _ = try directory.write("mnt/" + MD5.hexDigest(share), "a file, not a directory")
        #expect(
            driverError { try driver.checkForSetupError() }
                == DriverError(
                    .backendUnavailable,
                    "no usable share: \(share): mount point \(mountPoint) is not a directory"))

        try FileManager.default.removeItem(atPath: mountPoint)
        _ = try directory.makeDirectory("mnt/" + MD5.hexDigest(share))
        #expect(
            driverError { try driver.checkForSetupError() }
                == DriverError(
                    .backendUnavailable,
                    "no usable share: \(share): nothing is mounted at \(mountPoint) (volumed does not mount shares)"))

        _ = try directory.write(
            "mountinfo",
            "22 1 0:21 / /proc rw - proc proc rw\n"
                + "95 22 0:50 / \(mountPoint) rw,relatime - nfs4 \(share) rw,vers=4.1\n")
        try driver.checkForSetupError()
        #expect(try driver.getVolumeStats().pools.map(\.poolName) == [share])
    }

    @Test func mountTableEscapesAreDecoded() {
        #expect(MountTable.unescape(#"/mnt/with\040space\134x"#) == #"/mnt/with space\x"#)
        #expect(MountTable.unescape(#"/trailing\04"#) == #"/trailing\04"#)
    }

    @Test func usableWhileOneShareIsAsCinder() throws {
        let directory = try TemporaryDirectory()
        let ready = try directory.makeDirectory("ready")
        let absent = directory.path + "/absent"
        let shares = try directory.write("shares", "\(absent)\n\(ready)\n")
        let driver = NfsDriver(
            options: .init(
                volumeBackendName: "mixed", sharesConfig: shares,
                mountPointBase: directory.path, sparsedVolumes: false))
        try driver.doSetup()
        try driver.checkForSetupError()
        let stats = try driver.getVolumeStats()
        #expect(stats.pools.map(\.poolName) == [ready])
        #expect(stats.pools.first?.thickProvisioningSupport == true)
        #expect(stats.pools.first?.thinProvisioningSupport == false)
    }

    @Test func sharesOnOneFileSystemAreCountedOnce() throws {
        let directory = try TemporaryDirectory()
        let first = try directory.makeDirectory("a")
        let second = try directory.makeDirectory("b")
        let shares = try directory.write("shares", "\(first)\n\(second)\n")
        let driver = NfsDriver(
            options: .init(volumeBackendName: "two", sharesConfig: shares, mountPointBase: directory.path))
        try driver.doSetup()
        let stats = try driver.getVolumeStats()
        #expect(stats.pools.count == 2)
        #expect(stats.totalCapacityGB == stats.pools[0].totalCapacityGB)
    }

    @Test(.enabled(if: geteuid() != 0, "root writes everywhere; this case needs an unprivileged user"))
    func unwritableMountPointIsUnavailable() throws {
        let directory = try TemporaryDirectory()
        let share = try directory.makeDirectory("readonly")
        chmod(share, 0o555)
        defer { chmod(share, 0o755) }
        let shares = try directory.write("shares", share + "\n")
        let driver = NfsDriver(
            options: .init(volumeBackendName: "ro", sharesConfig: shares, mountPointBase: directory.path))
        try driver.doSetup()
        #expect(
            driverError { try driver.checkForSetupError() }
                == DriverError(
                    .backendUnavailable,
                    "no usable share: \(share): mount point \(share) is not writable: Permission denied"))
    }
}
