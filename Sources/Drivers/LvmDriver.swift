import Config
import Foundation
import Supervision

/// Cinder's LVM driver as far as supervision goes: it asks LVM's own `vgs` about one volume group
/// (and, with `lvm_type = thin`, `lvs` about its thin pool `<vg>-pool`, named as Cinder names it)
/// and reports one pool named after the volume group, iSCSI being Cinder's default target. The
/// tools run with a deadline in their own process group, so a hung `vgs` (a stuck PV) costs a
/// timeout, never a thread forever.
package final class LvmDriver: VolumeDriver {
    package struct Options: Sendable, Equatable {
        package var volumeBackendName: String
        package var volumeGroup: String
        /// Directories searched for `vgs`, in order (never the process-wide `PATH` at call time).
        package var toolSearchPath: [String]
        /// Seconds `vgs` may take before it is killed.
        package var toolTimeout: Double
        /// Thick volumes straight in the volume group, or thin ones in its pool `<vg>-pool`.
        package var thin: Bool
        var pool = CommonPoolOptions()

        package init(
            volumeBackendName: String, volumeGroup: String,
            toolSearchPath: [String] = LvmDriver.defaultToolSearchPath, toolTimeout: Double = 30,
            thin: Bool = false
        ) {
            self.volumeBackendName = volumeBackendName
            self.volumeGroup = volumeGroup
            self.toolSearchPath = toolSearchPath
            self.toolTimeout = toolTimeout
            self.thin = thin
        }

        /// Cinder's name for the thin pool of a volume group.
        package var thinPoolName: String { volumeGroup + "-pool" }

        static let names: Set<String> = CommonPoolOptions.names.union([
            "volume_group", "lvm_tools_path", "lvm_tool_timeout", "lvm_type",
        ])

        static func read(_ reader: inout DriverOptionReader) -> Options? {
            let group = reader.required("volume_group") { v throws(ConfigDiagnostic) in
                let name = try v.nonEmptyString()
                guard name.utf8.allSatisfy({ $0 < 0x80 && (isalnum(Int32($0)) != 0 || "+_.-".utf8.contains($0)) }),
                    !name.hasPrefix("-")
                else {
                    throw v.problem("expected a volume group name (letters, digits, + _ . -), got \"\(v.text)\"")
                }
                return name
            }
            let path = reader.optional("lvm_tools_path") { v throws(ConfigDiagnostic) in
                let directories = v.text.split(separator: ":").map { String($0).trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty }
                guard !directories.isEmpty, directories.allSatisfy({ $0.hasPrefix("/") }) else {
                    throw v.problem("expected absolute directories separated by ':', got \"\(v.text)\"")
                }
                return directories
            }
            let timeout = reader.optional("lvm_tool_timeout") { v throws(ConfigDiagnostic) in try v.seconds() }
            let type = reader.optional("lvm_type") { v throws(ConfigDiagnostic) in
                let type = try v.choice(["default", "thin", "auto"])
                guard type != "auto" else {
                    throw v.problem("auto is not supported by volumed: choose default (thick) or thin")
                }
                return type
            }
            let pool = CommonPoolOptions(reading: &reader)
            guard let group, reader.problems.isEmpty else { return nil }
            var options = Options(
                volumeBackendName: reader.backend.volumeBackendName, volumeGroup: group,
                toolSearchPath: path ?? LvmDriver.defaultToolSearchPath, toolTimeout: timeout ?? 30,
                thin: type == "thin")
            options.pool = pool
            return options
        }
    }

    /// The service's `PATH` at start-up plus the sbin directories LVM installs into, which a
    /// non-root `PATH` often lacks.
    package static let defaultToolSearchPath: [String] = {
        let inherited = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        var directories: [String] = []
        for directory in inherited + ["/usr/local/sbin", "/usr/sbin", "/sbin"] where !directories.contains(directory) {
            directories.append(directory)
        }
        return directories
    }()

    package static let version = "1.0.0"
    package let volumeDriverName: String
    package let options: Options
    package var supported: Bool { true }

    package init(volumeDriverName: String = "lvm", options: Options) {
        self.volumeDriverName = volumeDriverName
        self.options = options
    }

    /// Finds the tools; without them the driver cannot work until LVM is installed (`missing_library`).
    package func doSetup() throws {
        _ = try locate("vgs")
        if options.thin { _ = try locate("lvs") }
    }

    /// The volume group (and the thin pool) must exist and the tools must describe them.
    package func checkForSetupError() throws {
        _ = try queryVolumeGroup()
        if options.thin { _ = try queryThinPool() }
    }

    package func getVolumeStats() throws -> VolumeStats {
        let group = try queryVolumeGroup()
        var pool = PoolStats(
            poolName: group.name, totalCapacityGB: .gib(gibRounded(group.sizeGiB)),
            freeCapacityGB: .gib(gibRounded(group.freeGiB)), reservedPercentage: options.pool.reservedPercentage,
            thinProvisioningSupport: false, thickProvisioningSupport: true, maxOverSubscriptionRatio: 1.0)
        if options.thin {
            // As Cinder: a thin backend's capacity is its pool's, free is the data space not yet used.
            let thinPool = try queryThinPool()
            pool.totalCapacityGB = .gib(gibRounded(thinPool.sizeGiB))
            pool.freeCapacityGB = .gib(gibRounded(thinPool.sizeGiB * (100 - thinPool.dataPercent) / 100))
            pool.thinProvisioningSupport = true
            pool.thickProvisioningSupport = false
            pool.maxOverSubscriptionRatio = options.pool.maxOverSubscriptionRatio
        }
        return VolumeStats(
            volumeBackendName: options.volumeBackendName, vendorName: "Open Source", driverVersion: Self.version,
            storageProtocol: "iSCSI", totalCapacityGB: pool.totalCapacityGB, freeCapacityGB: pool.freeCapacityGB,
            reservedPercentage: options.pool.reservedPercentage, pools: [pool])
    }

    /// The tool's own `PATH`: the search path, then the standard directories.
    private var childSearchPath: String {
        var directories = options.toolSearchPath
        for standard in ["/usr/local/bin", "/usr/bin", "/bin"] where !directories.contains(standard) {
            directories.append(standard)
        }
        return directories.joined(separator: ":")
    }

    private func locate(_ tool: String) throws(DriverError) -> String {
        guard let path = CommandRunner.locate(tool, in: options.toolSearchPath) else {
            throw DriverError(
                .missingLibrary,
                "LVM's \(tool) was not found in \(options.toolSearchPath.joined(separator: ":")) (install lvm2)")
        }
        return path
    }

    private func run(_ tool: String, _ arguments: [String]) throws(DriverError) -> (path: String, result: CommandResult)
    {
        let path = try locate(tool)
        do {
            let result = try CommandRunner.run(
                path, arguments: arguments,
                environment: ["PATH=" + childSearchPath, "LC_ALL=C", "LVM_SUPPRESS_FD_WARNINGS=1"],
                timeout: options.toolTimeout)
            return (path, result)
        } catch {
            throw DriverError(.missingLibrary, "cannot run \(path): \(error)")
        }
    }

    private func queryVolumeGroup() throws(DriverError) -> LvmReport.VolumeGroup {
        let (path, result) = try run("vgs", LvmReport.vgsArguments(volumeGroup: options.volumeGroup))
        return try LvmReport.volumeGroup(
            named: options.volumeGroup, from: result, tool: path, timeout: options.toolTimeout)
    }

    private func queryThinPool() throws(DriverError) -> LvmReport.ThinPool {
        let (path, result) = try run(
            "lvs", LvmReport.lvsArguments(volumeGroup: options.volumeGroup, pool: options.thinPoolName))
        return try LvmReport.thinPool(
            named: options.thinPoolName, from: result, tool: path, timeout: options.toolTimeout)
    }
}
