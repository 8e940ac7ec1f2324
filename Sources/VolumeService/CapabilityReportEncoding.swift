import Foundation
import Supervision

/// The wire form of tick reports, shared by the publisher and the tests that read what it sent:
/// `{"reports": [{"host", "service", "timestamp", "capabilities": {"backend_state", "status", ...}}]}`,
/// with the driver's stats under Cinder's capability names when the backend is up.
public enum CapabilityReportEncoding {
    public static let serviceBinary = "cinder-volume"

    /// Cinder's timestamp format (`2026-11-24T17:40:00.000000`, UTC, microseconds).
    public static func cinderTimestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        let micros = Int(((date.timeIntervalSince1970 - Double(seconds)) * 1_000_000).rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(min(micros, 999_999)), 6))"
    }

    /// One report as a JSON object (for `JSONSerialization`).
    public static func object(for report: BackendReport) throws -> [String: Any] {
        var capabilities: [String: Any] = [:]
        if let stats = report.capabilities {
            let data = try JSONEncoder().encode(stats)
            if let decoded = try JSONSerialization.jsonObject(with: data) as? [String: Any] {
                capabilities = decoded
            }
        }
        capabilities["backend_state"] = report.backendState.rawValue
        capabilities["status"] = report.serviceStatus.status
        if let reason = report.serviceStatus.disabledReason {
            capabilities["disabled_reason"] = reason
        }
        return [
            "host": report.host,
            "service": serviceBinary,
            "timestamp": cinderTimestamp(report.timestamp),
            "capabilities": capabilities,
        ]
    }

    /// A batch body for `POST /v3/scheduler/capabilities`.
    public static func batchBody(_ reports: some Sequence<BackendReport>) throws -> [UInt8] {
        let objects = try reports.map(object(for:))
        let data = try JSONSerialization.data(withJSONObject: ["reports": objects], options: [.sortedKeys])
        return [UInt8](data)
    }
}
