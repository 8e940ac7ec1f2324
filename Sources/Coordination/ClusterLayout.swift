import JSON
import Scheduler

/// Where a cluster of volumed hosts keeps its state in etcd, and how each value is written: the one
/// place that knows the keys. Under a root (default `/volumed`, so several clusters can share one etcd):
///
/// | key | value | lease |
/// |---|---|---|
/// | `<root>/services/<host@backend>/<binary>` | `ServiceRecord` | the host's: gone when the host is |
/// | `<root>/last-seen/<host@backend>/<binary>` | `ServiceRecord` | none: a dead host is listed as down, not forgotten |
/// | `<root>/reports/<host@backend>` | the backend's latest capability report, the object `POST /v3/scheduler/capabilities` takes | the host's |
/// | `<root>/decisions/<host@backend>/<binary>` | `DecisionRecord` | none: decisions outlive the host |
///
/// Key segments are percent-encoded (`/`, `%` and anything outside printable ASCII), so a host name
/// can never reach into another key's place.
package struct ClusterLayout: Sendable, Equatable {
    /// The root every key starts with, without a trailing `/`.
    package let root: String

    package static let defaultRoot = "/volumed"

    /// Nil when `root` does not start with `/`, ends with `/`, or has a control character.
    package init?(root: String = defaultRoot) {
        guard root.hasPrefix("/"), !root.hasSuffix("/"),
            root.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
        else { return nil }
        self.root = root
    }

    /// What a key under the root is.
    package enum Entry: Sendable, Equatable, Hashable {
        case service(host: String, binary: String)
        case lastSeen(host: String, binary: String)
        case report(host: String)
        case decision(host: String, binary: String)
    }

    package func key(_ entry: Entry) -> String {
        switch entry {
        case .service(let host, let binary): "\(root)/services/\(Self.segment(host))/\(Self.segment(binary))"
        case .lastSeen(let host, let binary): "\(root)/last-seen/\(Self.segment(host))/\(Self.segment(binary))"
        case .report(let host): "\(root)/reports/\(Self.segment(host))"
        case .decision(let host, let binary): "\(root)/decisions/\(Self.segment(host))/\(Self.segment(binary))"
        }
    }

    /// Every key of the cluster (what a scheduler watches).
    package var everything: EtcdKeys { .prefix(root + "/") }
    package var services: EtcdKeys { .prefix(root + "/services/") }
    package var lastSeen: EtcdKeys { .prefix(root + "/last-seen/") }
    package var reports: EtcdKeys { .prefix(root + "/reports/") }
    package var decisions: EtcdKeys { .prefix(root + "/decisions/") }
    /// The decisions about the services of node `host` (every `host@backend`).
    package func decisions(ofNode host: String) -> EtcdKeys { .prefix(root + "/decisions/" + Self.segment(host) + "@") }

    /// The entry a key names; nil for a key this layout did not write (another root, an unknown
    /// kind, a malformed segment), which a reader skips.
    package func entry(of key: String) -> Entry? {
        guard key.hasPrefix(root + "/") else { return nil }
        let parts = key.dropFirst(root.utf8.count + 1).split(separator: "/", omittingEmptySubsequences: false)
        guard let kind = parts.first else { return nil }
        let names = parts.dropFirst().map { Self.unsegment($0) }
        guard !names.contains(where: { $0 == nil || $0!.isEmpty }) else { return nil }
        let values = names.map { $0! }
        switch (kind, values.count) {
        case ("services", 2): return .service(host: values[0], binary: values[1])
        case ("last-seen", 2): return .lastSeen(host: values[0], binary: values[1])
        case ("reports", 1): return .report(host: values[0])
        case ("decisions", 2): return .decision(host: values[0], binary: values[1])
        default: return nil
        }
    }

    // MARK: key segments

    private static let hex = Array("0123456789ABCDEF".utf8)

    /// Percent-encodes every byte that is not a letter, digit, or one of `-._~@:+`.
    static func segment(_ name: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(name.utf8.count)
        for byte in name.utf8 {
            if isPlain(byte) {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reverses `segment`; nil for a segment it could not have written.
    static func unsegment(_ text: Substring) -> String? {
        var out: [UInt8] = []
        var bytes = text.utf8.makeIterator()
        while let byte = bytes.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = bytes.next().flatMap(hexValue), let low = bytes.next().flatMap(hexValue) else {
                    return nil
                }
                let decoded = high << 4 | low
                guard !isPlain(decoded) else { return nil }
                out.append(decoded)
            } else {
                guard isPlain(byte) else { return nil }
                out.append(byte)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func isPlain(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "-._~@:+".utf8.contains(byte)
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Why a value under the cluster's keys could not be read (a newer volumed's format, or damage);
/// a reader logs it with the key and skips the entry.
package struct ClusterRecordError: Error, Sendable, Equatable, CustomStringConvertible {
    package let key: String
    package let problem: String

    package init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }

    package var description: String { "\(key): \(problem)" }
}

/// One volume service of a host, as the cluster lists it (Cinder's service row): written under the
/// host's lease while the host lives, and without a lease as the service's last-seen record.
package struct ServiceRecord: Sendable, Equatable {
    /// `host@backend`.
    package var host: String
    /// `cinder-volume`.
    package var binary: String
    /// Cinder's `storage_availability_zone`.
    package var zone: String
    /// Where the host's own API answers (for actions a scheduler forwards, and for operators).
    package var apiURL: String
    /// When the host wrote this record: its start, its last renewal, or its orderly stop.
    package var updatedAt: CapabilityTimestamp

    package init(host: String, binary: String, zone: String, apiURL: String, updatedAt: CapabilityTimestamp) {
        self.host = host
        self.binary = binary
        self.zone = zone
        self.apiURL = apiURL
        self.updatedAt = updatedAt
    }

    /// `{"host","binary","zone","api_url","updated_at"}`.
    package func encoded() -> [UInt8] {
        var json = JSONWriter(style: .compact, reservingCapacity: 160)
        json.beginObject()
        json.member("host", host)
        json.member("binary", binary)
        json.member("zone", zone)
        json.member("api_url", apiURL)
        json.member("updated_at", updatedAt.description)
        json.endObject()
        return json.bytes
    }

    /// Reads a record written by `encoded()`; members it does not know are ignored (a newer writer).
    package static func decode(_ bytes: [UInt8], key: String) throws(ClusterRecordError) -> ServiceRecord {
        let value = try RecordFields.object(bytes, key: key)
        let fields = RecordFields(value: value, key: key)
        let stamp = try fields.string("updated_at")
        guard let updatedAt = CapabilityTimestamp(parsing: stamp) else {
            throw ClusterRecordError(key: key, problem: "updated_at is not a timestamp: \(stamp)")
        }
        return ServiceRecord(
            host: try fields.string("host"), binary: try fields.string("binary"), zone: try fields.string("zone"),
            apiURL: try fields.string("api_url"), updatedAt: updatedAt)
    }
}

/// An operator's standing decisions about one service (os-services disable/enable, freeze/thaw),
/// kept without a lease so they outlive the host. A service without a record has the defaults.
package struct DecisionRecord: Sendable, Equatable {
    package var disabled: Bool
    /// `disable-log-reason`'s reason; nil when none was given.
    package var disabledReason: String?
    package var frozen: Bool
    /// When the last decision was taken.
    package var updatedAt: CapabilityTimestamp

    package init(disabled: Bool, disabledReason: String?, frozen: Bool, updatedAt: CapabilityTimestamp) {
        self.disabled = disabled
        self.disabledReason = disabledReason
        self.frozen = frozen
        self.updatedAt = updatedAt
    }

    /// `{"disabled","disabled_reason","frozen","updated_at"}` (`disabled_reason` null when none).
    package func encoded() -> [UInt8] {
        var json = JSONWriter(style: .compact, reservingCapacity: 128)
        json.beginObject()
        json.member("disabled", disabled)
        json.member("disabled_reason", disabledReason)
        json.member("frozen", frozen)
        json.member("updated_at", updatedAt.description)
        json.endObject()
        return json.bytes
    }

    package static func decode(_ bytes: [UInt8], key: String) throws(ClusterRecordError) -> DecisionRecord {
        let value = try RecordFields.object(bytes, key: key)
        let fields = RecordFields(value: value, key: key)
        let stamp = try fields.string("updated_at")
        guard let updatedAt = CapabilityTimestamp(parsing: stamp) else {
            throw ClusterRecordError(key: key, problem: "updated_at is not a timestamp: \(stamp)")
        }
        let reason: String?
        switch value["disabled_reason"] {
        case nil, .null?: reason = nil
        case .string(let text)?: reason = text
        default: throw ClusterRecordError(key: key, problem: "disabled_reason is not a string or null")
        }
        return DecisionRecord(
            disabled: try fields.bool("disabled"), disabledReason: reason, frozen: try fields.bool("frozen"),
            updatedAt: updatedAt)
    }
}

/// A capability report as stored under `reports/<host@backend>`: the same object a host posts to
/// `POST /v3/scheduler/capabilities`, read with the scheduler's own parser so both paths accept
/// exactly the same reports.
package enum StoredReport {
    package static func decode(_ bytes: [UInt8], key: String) throws(ClusterRecordError) -> CapabilityReport {
        let batch: ReportBatch
        do throws(CapabilityReportError) {
            batch = try CapabilityReportParser.parse(bytes, maxReports: 1)
        } catch {
            throw ClusterRecordError(key: key, problem: error.description)
        }
        guard !batch.isBatch, let report = batch.valid.first else {
            throw ClusterRecordError(key: key, problem: "expected one report object, not a batch")
        }
        return report
    }
}

/// Typed reads of a record's members, naming the key and member in every error.
private struct RecordFields {
    let value: JSONValue
    let key: String

    static func object(_ bytes: [UInt8], key: String) throws(ClusterRecordError) -> JSONValue {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw ClusterRecordError(key: key, problem: error.description)
        }
        guard case .object = value else { throw ClusterRecordError(key: key, problem: "expected a JSON object") }
        return value
    }

    func string(_ name: String) throws(ClusterRecordError) -> String {
        guard let text = value[name]?.stringValue else {
            throw ClusterRecordError(key: key, problem: "\(name) is missing or not a string")
        }
        return text
    }

    func bool(_ name: String) throws(ClusterRecordError) -> Bool {
        guard let flag = value[name]?.boolValue else {
            throw ClusterRecordError(key: key, problem: "\(name) is missing or not true/false")
        }
        return flag
    }
}
