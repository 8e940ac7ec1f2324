/// Builds the JSON pieces of `get_pools` for one backend report, once per report, so a view of a
/// thousand backends is a concatenation of ready bytes rather than a fresh encoding.
import JSON

enum PoolEncoding {
    /// Cinder's pool name for a backend that reports no pools and no `volume_backend_name`.
    static let defaultPoolName = "_pool0"

    /// Keys about the service rather than the storage; they stay out of a pool's capabilities.
    static let serviceKeys: Set<String> = ["pools", "status", "disabled_reason", "frozen"]

    /// The pools a report stands for: its own pools, or, for a driver without pools, one pool named
    /// after `volume_backend_name` (or `_pool0`) holding the backend-level capabilities.
    static func pools(of report: CapabilityReport) -> [PoolReport] {
        if let pools = report.pools { return pools }
        let name: String
        if case .string(let backendName) = report.capability("volume_backend_name"), !backendName.isEmpty {
            name = backendName
        } else {
            name = defaultPoolName
        }
        return [PoolReport(name: name, capabilities: [])]
    }

    /// `host@backend#pool`.
    static func fullName(host: String, pool: String) -> String {
        host + "#" + pool
    }

    /// A pool's capabilities as `get_pools?detail=true` shows them: the backend-level keys, overridden
    /// or extended by the pool's own, then `timestamp` (the report's time) and `updated` (when the
    /// scheduler received it).
    static func capabilities(
        of pool: PoolReport, in report: CapabilityReport, timestamp: JSONValue, updated: JSONValue
    ) -> [JSONMember] {
        var merged = report.capabilities.filter { !serviceKeys.contains($0.key) }
        // Capability objects hold a few dozen keys: a scan beats hashing them.
        func put(_ member: JSONMember) {
            if let position = merged.firstIndex(where: { $0.key == member.key }) {
                merged[position] = member
            } else {
                merged.append(member)
            }
        }
        for member in pool.capabilities { put(member) }
        put(JSONMember("timestamp", timestamp))
        put(JSONMember("updated", updated))
        return merged
    }

    /// The comma-separated pool objects of one backend for the plain view: `{"name":"h@b#p"},...`.
    static func summaryFragment(host: String, pools: [PoolReport]) -> [UInt8] {
        var out: [UInt8] = []
        for (position, pool) in pools.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"name":"#.utf8)
            JSONWriter.appendString(fullName(host: host, pool: pool.name), to: &out)
            out.append(UInt8(ascii: "}"))
        }
        return out
    }

    /// The comma-separated pool objects of one backend for the detailed view:
    /// `{"name":"h@b#p","capabilities":{...}},...`.
    static func detailFragment(report: CapabilityReport, pools: [PoolReport], updated: JSONValue) -> [UInt8] {
        let timestamp = JSONValue.string(report.timestamp.description)
        var out: [UInt8] = []
        for (position, pool) in pools.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"name":"#.utf8)
            JSONWriter.appendString(fullName(host: report.host, pool: pool.name), to: &out)
            out.append(contentsOf: #","capabilities":"#.utf8)
            JSONWriter.appendObject(
                capabilities(of: pool, in: report, timestamp: timestamp, updated: updated), to: &out)
            out.append(UInt8(ascii: "}"))
        }
        return out
    }
}
