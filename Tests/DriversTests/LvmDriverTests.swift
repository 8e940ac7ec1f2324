import Config
import Foundation
import SharedTestSupport
import Supervision
import Testing

@testable import Drivers

/// Each test writes a stand-in `vgs` into its own directory and passes that directory explicitly
/// as the tool search path, so tests running in parallel never touch the process's `PATH`.
@Suite(.offCooperativePool) struct LvmDriverTests {
    let expectedArguments = "--noheadings --nosuffix --units g --separator : -o vg_name,vg_size,vg_free vg0"

    func driver(playing script: String, in directory: TemporaryDirectory, timeout: Double = 20) throws -> LvmDriver {
        let tools = try directory.makeDirectory("bin")
        _ = try directory.write("bin/vgs", "#!/bin/sh\n" + script, mode: 0o755)
        return LvmDriver(
            options: .init(
                volumeBackendName: "lvm-gold", volumeGroup: "vg0",
                toolSearchPath: ["/nonexistent", tools], toolTimeout: timeout))
    }

    @Test func reportsTheVolumeGroupFromVgsOutput() throws {
        let directory = try TemporaryDirectory()
        let driver = try driver(
            playing: """
                echo "$@" > "$(dirname "$0")/../args"
                echo "LC_ALL=$LC_ALL" >> "$(dirname "$0")/../args"
                echo "  other:5.00:1.00"
                echo "  vg0:20.00:15.504"
                """, in: directory)
        try driver.doSetup()
        try driver.checkForSetupError()
        let stats = try driver.getVolumeStats()
        #expect(
            stats
                == VolumeStats(
                    volumeBackendName: "lvm-gold", vendorName: "Open Source", driverVersion: "1.0.0",
                    storageProtocol: "iSCSI",
                    totalCapacityGB: .gib(20), freeCapacityGB: .gib(15.5), reservedPercentage: 0,
                    pools: [
                        PoolStats(
                            poolName: "vg0", totalCapacityGB: .gib(20), freeCapacityGB: .gib(15.5),
                            thinProvisioningSupport: false, thickProvisioningSupport: true, maxOverSubscriptionRatio: 1)
                    ]))
        let recorded = try String(contentsOfFile: directory.path + "/args", encoding: .utf8)
        #expect(recorded == expectedArguments + "\nLC_ALL=C\n")
    }

    @Test func roundedSizesWithLessThanSignsAreRead() throws {
        let directory = try TemporaryDirectory()
        let driver = try driver(playing: "echo '  vg0:<931.01:>0.50'\n", in: directory)
        let stats = try driver.getVolumeStats()
        #expect(stats.totalCapacityGB == .gib(931.01))
        #expect(stats.freeCapacityGB == .gib(0.5))
    }

    @Test func thinPoolCapacityComesFromLvs() throws {
        let directory = try TemporaryDirectory()
        let tools = try directory.makeDirectory("bin")
        _ = try directory.write("bin/vgs", "#!/bin/sh\necho '  vg0:100.00:10.00'\n", mode: 0o755)
        var options = LvmDriver.Options(
            volumeBackendName: "thin", volumeGroup: "vg0", toolSearchPath: [tools], thin: true)
        options.pool.maxOverSubscriptionRatio = 5
        let driver = LvmDriver(options: options)
        #expect(
            driverError { try driver.doSetup() }
                == DriverError(.missingLibrary, "LVM's lvs was not found in \(tools) (install lvm2)"))

        _ = try directory.write(
            "bin/lvs",
            """
            #!/bin/sh
            echo "$@" > "$(dirname "$0")/../lvs-args"
            echo '  vg0-pool:<80.00:25.00'
            """, mode: 0o755)
        try driver.doSetup()
        try driver.checkForSetupError()
        let pool = try #require(driver.getVolumeStats().pools.first)
        #expect(
            pool
                == PoolStats(
                    poolName: "vg0", totalCapacityGB: .gib(80), freeCapacityGB: .gib(60),
                    thinProvisioningSupport: true, thickProvisioningSupport: false, maxOverSubscriptionRatio: 5))
        #expect(
            try String(contentsOfFile: directory.path + "/lvs-args", encoding: .utf8)
                == "--noheadings --nosuffix --units g --separator : -o lv_name,lv_size,data_percent vg0/vg0-pool\n")

        _ = try directory.write(
            "bin/lvs", "#!/bin/sh\necho '  Failed to find logical volume \"vg0/vg0-pool\"' >&2\nexit 5\n", mode: 0o755)
        #expect(
            driverError { try driver.checkForSetupError() }
                == DriverError(
                    .backendUnavailable,
                    "\(tools)/lvs vg0-pool exited with status 5: Failed to find logical volume \"vg0/vg0-pool\""))
    }

    @Test func volumeGroupNotFoundIsRecoverableWithStderr() throws {
        let directory = try TemporaryDirectory()
        let driver = try driver(
            playing: """
                echo '  Volume group "vg0" not found' >&2
                echo '  Cannot process volume group vg0' >&2
                exit 5
                """, in: directory)
        try driver.doSetup()
        let error = driverError { try driver.checkForSetupError() }
        // The tool's lines are joined: the message is one log line and one table cell.
        #expect(
            error
                == DriverError(
                    .backendUnavailable,
                    "\(directory.path)/bin/vgs vg0 exited with status 5: Volume group \"vg0\" not found; Cannot process volume group vg0"
                ))
        #expect(error?.errorClass == .recoverable)
    }

    @Test func garbageOutputIsARecoverableOtherError() throws {
        let directory = try TemporaryDirectory()
        let driver = try driver(playing: "echo 'vg0 is twenty gigabytes'\n", in: directory)
        #expect(
            driverError { _ = try driver.getVolumeStats() }
                == DriverError(
                    .other,
                    "\(directory.path)/bin/vgs printed output volumed cannot read: \"vg0 is twenty gigabytes\""))

        let numbers = try self.driver(playing: "echo '  vg0:lots:1.0'\n", in: directory)
        #expect(driverError { _ = try numbers.getVolumeStats() }?.kind == .other)
    }

    @Test func missingGroupInCleanOutputIsUnavailable() throws {
        let directory = try TemporaryDirectory()
        let driver = try driver(playing: "echo '  vg1:1.00:1.00'\n", in: directory)
        #expect(
            driverError { try driver.checkForSetupError() }
                == DriverError(
                    .backendUnavailable,
                    "volume group vg0 not found in the output of \(directory.path)/bin/vgs"))
    }

    @Test func aHungToolIsKilledWithItsChildren() throws {
        let directory = try TemporaryDirectory()
        let driver = try driver(
            playing: """
                sleep 300 &
                echo $! > "$(dirname "$0")/../child"
                wait
                """, in: directory, timeout: 0.5)
        let error = driverError { try driver.checkForSetupError() }
        #expect(error == DriverError(.timeout, "\(directory.path)/bin/vgs did not finish within 0.5 s and was killed"))
        #expect(error?.errorClass == .recoverable)
        let child = try #require(
            Int32(
                String(contentsOfFile: directory.path + "/child", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(waitUntil { processIsGone(child) })
    }

    @Test func aToolThatClosesItsOutputButLingersIsStillBounded() throws {
        let directory = try TemporaryDirectory()
        let driver = try driver(playing: "exec >&- 2>&-\nsleep 300\n", in: directory, timeout: 0.5)
        #expect(driverError { try driver.checkForSetupError() }?.kind == .timeout)
    }

    @Test func aToolKilledBySignalIsUnavailable() throws {
        let directory = try TemporaryDirectory()
        let driver = try driver(playing: "kill -9 $$\n", in: directory)
        #expect(
            driverError { try driver.checkForSetupError() }
                == DriverError(
                    .backendUnavailable,
                    "\(directory.path)/bin/vgs was killed by signal 9"))
    }

    @Test func missingOrNonExecutableToolIsAMissingLibrary() throws {
        let directory = try TemporaryDirectory()
        let empty = try directory.makeDirectory("empty")
        let none = LvmDriver(options: .init(volumeBackendName: "x", volumeGroup: "vg0", toolSearchPath: [empty]))
        let error = driverError { try none.doSetup() }
        #expect(error == DriverError(.missingLibrary, "LVM's vgs was not found in \(empty) (install lvm2)"))
        #expect(error?.errorClass == .unrecoverable)

        _ = try directory.write("empty/vgs", "#!/bin/sh\necho vg0:1:1\n", mode: 0o644)
        #expect(driverError { try none.doSetup() }?.kind == .missingLibrary)
    }
}

/// True when `pid` no longer runs (absent, or a zombie nobody reaped yet).
func processIsGone(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    guard let close = stat.lastIndex(of: ")") else { return true }
    return stat[stat.index(close, offsetBy: 2)] == "Z"
}
