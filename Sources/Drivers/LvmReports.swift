import Foundation
import Supervision

/// LVM's reporting tools (`vgs`, `lvs`) in machine-readable form, and what each way a run can end
/// means for the driver: a timeout is `timeout`, a failing tool or a missing volume is
/// `backend_unavailable` (with the tool's stderr), output that cannot be read is `other`.
enum LvmReport {
    /// A volume group from `vgs`.
    struct VolumeGroup: Sendable, Equatable {
        var name: String
        var sizeGiB: Double
        var freeGiB: Double
    }

    /// A thin pool from `lvs`.
    struct ThinPool: Sendable, Equatable {
        var name: String
        var sizeGiB: Double
        /// Share of the pool's data space in use, 0-100.
        var dataPercent: Double
    }

    /// Sizes in GiB (`--units g` is binary), no unit suffix, fields separated by ':'.
    static let commonArguments = ["--noheadings", "--nosuffix", "--units", "g", "--separator", ":"]

    static func vgsArguments(volumeGroup: String) -> [String] {
        commonArguments + ["-o", "vg_name,vg_size,vg_free", volumeGroup]
    }

    static func lvsArguments(volumeGroup: String, pool: String) -> [String] {
        commonArguments + ["-o", "lv_name,lv_size,data_percent", volumeGroup + "/" + pool]
    }

    static func volumeGroup(
        named name: String, from result: CommandResult, tool: String,
        timeout: Double
    ) throws(DriverError) -> VolumeGroup {
        let row = try matchingRow(named: name, from: result, tool: tool, timeout: timeout, what: "volume group")
        guard let size = sizeValue(row[1]), let free = sizeValue(row[2]), free <= size + 0.01 else {
            throw unreadable(row, tool: tool)
        }
        return VolumeGroup(name: name, sizeGiB: size, freeGiB: free)
    }

    static func thinPool(
        named name: String, from result: CommandResult, tool: String,
        timeout: Double
    ) throws(DriverError) -> ThinPool {
        let row = try matchingRow(named: name, from: result, tool: tool, timeout: timeout, what: "thin pool")
        guard let size = sizeValue(row[1]), let percent = sizeValue(row[2]), percent <= 100 else {
            throw unreadable(row, tool: tool)
        }
        return ThinPool(name: name, sizeGiB: size, dataPercent: percent)
    }

    /// The three fields of the row whose first field is `name`.
    private static func matchingRow(
        named name: String, from result: CommandResult, tool: String, timeout: Double,
        what: String
    ) throws(DriverError) -> [String] {
        // The tool's lines joined into one, so the error is one log line and one table cell.
        let stderr = result.standardError.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: "; ")
        let detail = stderr.isEmpty ? "" : ": " + String(stderr.suffix(2_000))
        switch result.ending {
        case .timedOut:
            throw DriverError(
                .timeout, "\(tool) did not finish within \(CommandRunner.seconds(timeout)) s and was killed")
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
            guard fields.count == 3, sizeValue(fields[1]) != nil, sizeValue(fields[2]) != nil else {
                throw unreadable(fields, tool: tool)
            }
            if fields[0] == name { return fields }
        }
        throw DriverError(.backendUnavailable, "\(what) \(name) not found in the output of \(tool)\(detail)")
    }

    private static func unreadable(_ fields: [String], tool: String) -> DriverError {
        DriverError(
            .other,
            "\(tool) printed output volumed cannot read: \"\(String(fields.joined(separator: ":").prefix(200)))\"")
    }

    /// A non-negative number as LVM prints it; since LVM 2.02.169 a rounded value carries '<' or
    /// '>' in front.
    static func sizeValue(_ field: String) -> Double? {
        var text = Substring(field)
        if let first = text.first, first == "<" || first == ">" { text = text.dropFirst() }
        guard let value = Double(text), value.isFinite, value >= 0 else { return nil }
        return value
    }
}

extension CommandRunner {
    /// A number of seconds as people write it: `30`, `0.5`.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
