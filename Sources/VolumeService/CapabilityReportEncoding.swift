import Foundation
import Scheduler
import Supervision

/// The wire form of tick reports, shared by the publisher and the tests that read what it sent:
/// `{"reports": [{"host", "service", "timestamp", "capabilities": {"backend_state", "status", ...}}]}`,
/// with the driver's stats under Cinder's capability names when the backend is up.
///
/// Written straight into bytes: with 1,000 backends this runs every tick, and going through
/// `JSONEncoder` and `JSONSerialization` (sorted keys compare through ICU) cost about three
/// quarters of the volume service's CPU per tick (see BENCHMARKS.md, "Profile").
public enum CapabilityReportEncoding {
    public static let serviceBinary = "cinder-volume"

    /// Why a report cannot be written as JSON (a capacity or ratio that is not a finite number).
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Cinder's timestamp format (`2026-11-24T17:40:00.000000`, UTC, microseconds).
    public static func cinderTimestamp(_ date: Date) -> String {
        var formatter = CinderTimestampFormatter()
        var bytes: [UInt8] = []
        formatter.append(date, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A batch body for `POST /v3/scheduler/capabilities`.
    public static func batchBody(_ reports: some Collection<BackendReport>) throws(Failure) -> [UInt8] {
        var json = ReportWriter(reservingCapacity: 64 + reports.count * 900)
        json.beginObject()
        json.key("reports")
        json.beginArray()
        for report in reports { try write(report, to: &json) }
        json.endArray()
        json.endObject()
        return json.bytes
    }

    private static func write(_ report: BackendReport, to json: inout ReportWriter) throws(Failure) {
        json.beginObject()
        json.member("host", report.host)
        json.member("service", serviceBinary)
        json.member("timestamp", report.timestamp)
        json.key("capabilities")
        json.beginObject()
        json.member("backend_state", report.backendState.rawValue)
        json.member("status", report.serviceStatus.status)
        if let reason = report.serviceStatus.disabledReason {
            json.member("disabled_reason", reason)
        }
        if let stats = report.capabilities {
            try write(stats, to: &json)
        }
        json.endObject()
        json.endObject()
    }

    /// The members `VolumeStats` and `PoolStats` encode to, under Cinder's capability names.
    private static func write(_ stats: VolumeStats, to json: inout ReportWriter) throws(Failure) {
        json.member("volume_backend_name", stats.volumeBackendName)
        json.member("vendor_name", stats.vendorName)
        json.member("driver_version", stats.driverVersion)
        json.member("storage_protocol", stats.storageProtocol)
        try json.member("total_capacity_gb", stats.totalCapacityGB)
        try json.member("free_capacity_gb", stats.freeCapacityGB)
        json.member("reserved_percentage", stats.reservedPercentage)
        json.key("pools")
        json.beginArray()
        for pool in stats.pools {
            json.beginObject()
            json.member("pool_name", pool.poolName)
            try json.member("total_capacity_gb", pool.totalCapacityGB)
            try json.member("free_capacity_gb", pool.freeCapacityGB)
            json.member("reserved_percentage", pool.reservedPercentage)
            json.member("thin_provisioning_support", pool.thinProvisioningSupport)
            json.member("thick_provisioning_support", pool.thickProvisioningSupport)
            try json.member("max_over_subscription_ratio", pool.maxOverSubscriptionRatio)
            json.member("QoS_support", pool.qosSupport)
            json.member("multiattach", pool.multiattach)
            json.endObject()
        }
        json.endArray()
    }
}

/// Compact JSON into a byte buffer, commas placed by nesting level.
private struct ReportWriter {
    private(set) var bytes: [UInt8] = []
    /// Reports of one batch mostly fall in the same second: its text is formatted once.
    private var timestamps = CinderTimestampFormatter()
    /// Per open object or array: whether it has an element yet.
    private var hasElement: [Bool] = []
    /// A key was just written: the next value is its value, not a new element.
    private var afterKey = false

    init(reservingCapacity capacity: Int) {
        bytes.reserveCapacity(capacity)
    }

    /// Writes the comma before a new element of the innermost object or array, if it needs one.
    private mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        guard let last = hasElement.indices.last else { return }
        if hasElement[last] { bytes.append(UInt8(ascii: ",")) }
        hasElement[last] = true
    }

    mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        hasElement.append(false)
    }

    mutating func endObject() {
        hasElement.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        hasElement.append(false)
    }

    mutating func endArray() {
        hasElement.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    mutating func key(_ name: String) {
        separate()
        JSONWriter.appendString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    mutating func member(_ name: String, _ value: String) {
        key(name)
        afterKey = false
        JSONWriter.appendString(value, to: &bytes)
    }

    mutating func member(_ name: String, _ value: Bool) {
        key(name)
        afterKey = false
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func member(_ name: String, _ value: Int) {
        key(name)
        afterKey = false
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func member(_ name: String, _ value: Double) throws(CapabilityReportEncoding.Failure) {
        guard let number = JSONNumber(value) else {
            throw CapabilityReportEncoding.Failure(description: "\(name) is not a finite number: \(value)")
        }
        key(name)
        afterKey = false
        bytes.append(contentsOf: number.text.utf8)
    }

    mutating func member(_ name: String, _ value: Date) {
        key(name)
        afterKey = false
        bytes.append(UInt8(ascii: "\""))
        timestamps.append(value, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func member(_ name: String, _ value: Capacity) throws(CapabilityReportEncoding.Failure) {
        switch value {
        case .gib(let number): try member(name, number)
        case .unknown: member(name, "unknown")
        case .infinite: member(name, "infinite")
        }
    }
}

/// Writes `2026-11-24T17:40:00.000000` (UTC); keeps the text up to the seconds of the last second
/// it formatted, so a batch of reports made within one second calls `gmtime_r` once.
private struct CinderTimestampFormatter {
    private var second: Int?
    private var prefix: [UInt8] = []

    mutating func append(_ date: Date, to out: inout [UInt8]) {
        let since1970 = date.timeIntervalSince1970
        let whole = since1970.rounded(.down)
        guard whole.isFinite, abs(whole) < 1e15 else {  // no clock gives this; never trap on it
            out.append(contentsOf: "1970-01-01T00:00:00.000000".utf8)
            return
        }
        let seconds = Int(whole)
        if seconds != second {
            second = seconds
            prefix = Self.prefix(seconds)
        }
        out.append(contentsOf: prefix)
        var micros = min(max(Int(((since1970 - whole) * 1_000_000).rounded(.down)), 0), 999_999)
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buffer in
            for index in stride(from: 5, through: 0, by: -1) {
                buffer[index] = UInt8(ascii: "0") + UInt8(micros % 10)
                micros /= 10
            }
            out.append(contentsOf: buffer)
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.` for a second since 1970.
    private static func prefix(_ seconds: Int) -> [UInt8] {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let text = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
        return Array(text.utf8)
    }
}
