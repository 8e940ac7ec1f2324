import Config
import Foundation
import Supervision

/// Cinder's LVM driver as far as supervision goes: it asks LVM's own `vgs` about one volume group
/// and reports its size and free space as one pool (thick provisioning, iSCSI as Cinder's default
/// target). The tool runs with a deadline in its own process group, so a hung `vgs` (a stuck PV)
/// costs a timeout, never a thread forever.
public final class LvmDriver: VolumeDriver {
    public struct Options: Sendable, Equatable {
        public var volumeBackendName: String
        public var volumeGroup: String
        /// Directories searched for `vgs`, in order (never the process-wide `PATH` at call time).
        public var toolSearchPath: [String]
        /// Seconds `vgs` may take before it is killed.
        public var toolTimeout: Double
        var pool = CommonPoolOptions()

        public init(volumeBackendName: String, volumeGroup: String,
                    toolSearchPath: [String] = LvmDriver.defaultToolSearchPath, toolTimeout: Double = 30) {
            self.volumeBackendName = volumeBackendName
            self.volumeGroup = volumeGroup
            self.toolSearchPath = toolSearchPath
            self.toolTimeout = toolTimeout
        }

        static let names: Set<String> = CommonPoolOptions.names.union([
            "volume_group", "lvm_tools_path", "lvm_tool_timeout", "lvm_type",
        ])

        static func read(_ reader: inout DriverOptionReader) -> Options? {
            let group = reader.required("volume_group") { v throws(ConfigDiagnostic) in
                let name = try v.nonEmptyString()
                guard name.utf8.allSatisfy({ $0 < 0x80 && (isalnum(Int32($0)) != 0 || "+_.-".utf8.contains($0)) }),
                      !name.hasPrefix("-") else {
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
            _ = reader.optional("lvm_type") { v throws(ConfigDiagnostic) in
                guard try v.choice(["default", "thin", "auto"]) == "default" else {
                    throw v.problem("only thick volume groups (lvm_type = default) are supported by volumed, got \"\(v.text)\"")
                }
                return "default"
            }
            let pool = CommonPoolOptions(reading: &reader)
            guard let group, reader.problems.isEmpty else { return nil }
            var options = Options(volumeBackendName: reader.backend.volumeBackendName, volumeGroup: group,
                                  toolSearchPath: path ?? LvmDriver.defaultToolSearchPath, toolTimeout: timeout ?? 30)
            options.pool = pool
            return options
        }
    }

    /// The service's `PATH` at start-up plus the sbin directories LVM installs into, which a
    /// non-root `PATH` often lacks.
    public static let defaultToolSearchPath: [String] = {
        let inherited = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        var directories: [String] = []
        for directory in inherited + ["/usr/local/sbin", "/usr/sbin", "/sbin"] where !directories.contains(directory) {
            directories.append(directory)
        }
        return directories
    }()

    public static let version = "1.0.0"
    public let volumeDriverName: String
    public let options: Options
    public var supported: Bool { true }

    public init(volumeDriverName: String = "lvm", options: Options) {
        self.volumeDriverName = volumeDriverName
        self.options = options
    }

    /// Finds `vgs`; without it the driver cannot work until LVM is installed (`missing_library`).
    public func doSetup() throws {
        _ = try locateVgs()
    }

    /// The volume group must exist and `vgs` must describe it.
    public func checkForSetupError() throws {
        _ = try queryVolumeGroup()
    }

    public func getVolumeStats() throws -> VolumeStats {
        let group = try queryVolumeGroup()
        let pool = PoolStats(
            poolName: group.name, totalCapacityGB: .gib(gibRounded(group.sizeGiB)),
            freeCapacityGB: .gib(gibRounded(group.freeGiB)), reservedPercentage: options.pool.reservedPercentage,
            thinProvisioningSupport: false, thickProvisioningSupport: true, maxOverSubscriptionRatio: 1.0)
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

    private func locateVgs() throws(DriverError) -> String {
        guard let vgs = CommandRunner.locate("vgs", in: options.toolSearchPath) else {
            throw DriverError(.missingLibrary,
                              "LVM's vgs was not found in \(options.toolSearchPath.joined(separator: ":")) (install lvm2)")
        }
        return vgs
    }

    private func queryVolumeGroup() throws(DriverError) -> VgsReport.VolumeGroup {
        let vgs = try locateVgs()
        let result: CommandResult
        do {
            result = try CommandRunner.run(
                vgs, arguments: VgsReport.arguments(volumeGroup: options.volumeGroup),
                environment: ["PATH=" + childSearchPath, "LC_ALL=C", "LVM_SUPPRESS_FD_WARNINGS=1"],
                timeout: options.toolTimeout)
        } catch {
            throw DriverError(.missingLibrary, "cannot run \(vgs): \(error)")
        }
        return try VgsReport.volumeGroup(named: options.volumeGroup, from: result, tool: vgs, timeout: options.toolTimeout)
    }
}

/// `vgs`'s machine-readable output, and what each way it can end means for the driver.
enum VgsReport {
    struct VolumeGroup: Sendable, Equatable {
        var name: String
        var sizeGiB: Double
        var freeGiB: Double
    }

    /// Sizes in GiB (`--units g` is binary), no unit suffix, fields separated by ':'.
    static func arguments(volumeGroup: String) -> [String] {
        ["--noheadings", "--nosuffix", "--units", "g", "--separator", ":", "-o", "vg_name,vg_size,vg_free", volumeGroup]
    }

    static func volumeGroup(named name: String, from result: CommandResult, tool: String,
                            timeout: Double) throws(DriverError) -> VolumeGroup {
        let stderr = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
        let detail = stderr.isEmpty ? "" : ": " + String(stderr.suffix(2_000))
        switch result.ending {
        case .timedOut:
            throw DriverError(.timeout, "\(tool) did not finish within \(CommandRunner.seconds(timeout)) s and was killed")
        case .signaled(let signal):
            throw DriverError(.backendUnavailable, "\(tool) was killed by signal \(signal)\(detail)")
        case .exited(let status) where status != 0:
            throw DriverError(.backendUnavailable, "\(tool) \(name) exited with status \(status)\(detail)")
        case .exited:
            break
        }
        let lines = result.standardOutput.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for line in lines {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3, let size = sizeValue(fields[1]), let free = sizeValue(fields[2]),
                  size.isFinite, free.isFinite, size >= 0, free >= 0, free <= size + 0.01 else {
                throw DriverError(.other, "\(tool) printed output volumed cannot read: \"\(String(line.prefix(200)))\"")
            }
            if fields[0] == name { return VolumeGroup(name: name, sizeGiB: size, freeGiB: free) }
        }
        throw DriverError(.backendUnavailable, "volume group \(name) not found in the output of \(tool)\(detail)")
    }

    /// A size as LVM prints it; since LVM 2.02.169 a rounded value carries '<' or '>' in front.
    static func sizeValue(_ field: String) -> Double? {
        var text = Substring(field)
        if let first = text.first, first == "<" || first == ">" { text = text.dropFirst() }
        return Double(text)
    }
}

extension CommandRunner {
    /// A number of seconds as people write it: `30`, `0.5`.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
