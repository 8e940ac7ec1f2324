import Foundation
import JSON
import Scheduler

// The JSON shapes of etcd's gRPC gateway (3.4, `/v3/*`): bytes travel as base64, 64-bit integers as
// JSON strings, and a field at its zero value (0, false, empty) is left out of answers. Written with
// the project's one JSONWriter and read with its one JSONParser (both in Scheduler, until issue 13
// moves them into a leaf module).

enum GatewayJSON {
    // MARK: requests

    static func put(key: String, value: [UInt8], lease: Int64) -> [UInt8] {
        var writer = JSONWriter(style: .compact)
        writer.beginObject()
        writePut(key: key, value: value, lease: lease, to: &writer)
        writer.endObject()
        return writer.bytes
    }

    static func range(
        _ keys: EtcdKeys, revision: Int64 = 0, limit: Int64 = 0, serializable: Bool = false
    ) -> [UInt8] {
        var writer = JSONWriter(style: .compact)
        writer.beginObject()
        writeRange(keys, revision: revision, limit: limit, serializable: serializable, to: &writer)
        writer.endObject()
        return writer.bytes
    }

    static func deleteRange(_ keys: EtcdKeys) -> [UInt8] {
        var writer = JSONWriter(style: .compact)
        writer.beginObject()
        writeKeys(keys, to: &writer)
        writer.endObject()
        return writer.bytes
    }

    static func transaction(
        compare: [EtcdCompare], success: [EtcdOperation], failure: [EtcdOperation]
    ) -> [UInt8] {
        var writer = JSONWriter(style: .compact)
        writer.beginObject()
        writer.key("compare")
        writer.beginArray()
        for condition in compare {
            writer.beginObject()
            writer.member("key", base64(Array(condition.key.utf8)))
            writer.member("result", condition.relation.rawValue)
            switch condition.target {
            case .version(let version):
                writer.member("target", "VERSION")
                writer.member("version", String(version))
            case .createRevision(let revision):
                writer.member("target", "CREATE")
                writer.member("create_revision", String(revision))
            case .modRevision(let revision):
                writer.member("target", "MOD")
                writer.member("mod_revision", String(revision))
            case .value(let value):
                writer.member("target", "VALUE")
                writer.member("value", base64(value))
            case .lease(let lease):
                writer.member("target", "LEASE")
                writer.member("lease", String(lease))
            }
            writer.endObject()
        }
        writer.endArray()
        for (name, operations) in [("success", success), ("failure", failure)] {
            writer.key(name)
            writer.beginArray()
            for operation in operations {
                writer.beginObject()
                switch operation {
                case .put(let key, let value, let lease):
                    writer.key("request_put")
                    writer.beginObject()
                    writePut(key: key, value: value, lease: lease, to: &writer)
                    writer.endObject()
                case .delete(let keys):
                    writer.key("request_delete_range")
                    writer.beginObject()
                    writeKeys(keys, to: &writer)
                    writer.endObject()
                case .range(let keys):
                    writer.key("request_range")
                    writer.beginObject()
                    writeRange(keys, revision: 0, limit: 0, serializable: false, to: &writer)
                    writer.endObject()
                }
                writer.endObject()
            }
            writer.endArray()
        }
        writer.endObject()
        return writer.bytes
    }

    static func leaseGrant(ttl: Int64) -> [UInt8] {
        var writer = JSONWriter(style: .compact)
        writer.beginObject()
        writer.member("TTL", String(ttl))
        writer.endObject()
        return writer.bytes
    }

    /// The body of keepalive and revoke: `{"ID": "..."}`.
    static func leaseID(_ id: Int64) -> [UInt8] {
        var writer = JSONWriter(style: .compact)
        writer.beginObject()
        writer.member("ID", String(id))
        writer.endObject()
        return writer.bytes
    }

    static func compaction(revision: Int64) -> [UInt8] {
        var writer = JSONWriter(style: .compact)
        writer.beginObject()
        writer.member("revision", String(revision))
        writer.member("physical", true)
        writer.endObject()
        return writer.bytes
    }

    /// Opens a watch on `keys` from `startRevision` (0: from now), with events and progress only.
    static func watchCreate(_ keys: EtcdKeys, startRevision: Int64) -> [UInt8] {
        var writer = JSONWriter(style: .compact)
        writer.beginObject()
        writer.key("create_request")
        writer.beginObject()
        writeKeys(keys, to: &writer)
        if startRevision > 0 { writer.member("start_revision", String(startRevision)) }
        writer.member("progress_notify", true)
        writer.endObject()
        writer.endObject()
        return writer.bytes
    }

    private static func writePut(key: String, value: [UInt8], lease: Int64, to writer: inout JSONWriter) {
        writer.member("key", base64(Array(key.utf8)))
        writer.member("value", base64(value))
        if lease != 0 { writer.member("lease", String(lease)) }
    }

    private static func writeRange(
        _ keys: EtcdKeys, revision: Int64, limit: Int64, serializable: Bool, to writer: inout JSONWriter
    ) {
        writeKeys(keys, to: &writer)
        if revision > 0 { writer.member("revision", String(revision)) }
        if limit > 0 { writer.member("limit", String(limit)) }
        if serializable { writer.member("serializable", true) }
    }

    private static func writeKeys(_ keys: EtcdKeys, to writer: inout JSONWriter) {
        let bounds = keys.bounds
        writer.member("key", base64(bounds.key))
        if let end = bounds.rangeEnd { writer.member("range_end", base64(end)) }
    }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    // MARK: answers

    /// A gateway answer's fields could not be read; the caller adds the endpoint.
    struct Malformed: Error {
        let reason: String
    }

    static func parse(_ body: [UInt8]) throws(Malformed) -> JSONValue {
        do {
            return try JSONParser.parse(body)
        } catch {
            throw Malformed(reason: error.description)
        }
    }

    /// The store revision in an answer's `header`.
    static func revision(of answer: JSONValue) throws(Malformed) -> Int64 {
        guard let header = answer["header"] else { throw Malformed(reason: "no header") }
        return try int64(header["revision"], "header.revision")
    }

    static func rangeResult(_ answer: JSONValue, revision: Int64) throws(Malformed) -> EtcdRange {
        var keyValues: [EtcdKeyValue] = []
        if let kvs = answer["kvs"] {
            guard case .array(let items) = kvs else { throw Malformed(reason: "kvs is not an array") }
            keyValues.reserveCapacity(items.count)
            for item in items { keyValues.append(try keyValue(item)) }
        }
        return EtcdRange(
            revision: revision,
            keyValues: keyValues,
            count: try int64(answer["count"], "count"),
            more: answer["more"]?.boolValue ?? false)
    }

    static func keyValue(_ item: JSONValue) throws(Malformed) -> EtcdKeyValue {
        let keyBytes = try bytes(item["key"], "kv.key")
        guard let key = String(validating: keyBytes, as: UTF8.self) else {
            throw Malformed(reason: "a key is not UTF-8")
        }
        return EtcdKeyValue(
            key: key,
            value: try bytes(item["value"], "kv.value"),
            createRevision: try int64(item["create_revision"], "kv.create_revision"),
            modRevision: try int64(item["mod_revision"], "kv.mod_revision"),
            version: try int64(item["version"], "kv.version"),
            lease: try int64(item["lease"], "kv.lease"))
    }

    static func event(_ item: JSONValue) throws(Malformed) -> EtcdEvent {
        guard let kv = item["kv"] else { throw Malformed(reason: "an event has no kv") }
        let keyValue = try keyValue(kv)
        switch item["type"]?.stringValue ?? "PUT" {
        case "PUT": return .put(keyValue)
        case "DELETE": return .delete(key: keyValue.key, modRevision: keyValue.modRevision)
        case let other: throw Malformed(reason: "unknown event type \(other)")
        }
    }

    /// A 64-bit integer field: a JSON string of digits (the gateway's form) or a plain number; an
    /// absent field is 0, as protobuf leaves zero values out.
    static func int64(_ value: JSONValue?, _ name: String) throws(Malformed) -> Int64 {
        switch value {
        case nil, .null?:
            return 0
        case .string(let text)?:
            guard let number = Int64(text) else { throw Malformed(reason: "\(name) is not an integer: \(text)") }
            return number
        case .number(let number)?:
            guard let integer = Int64(number.text) else {
                throw Malformed(reason: "\(name) is not an integer: \(number.text)")
            }
            return integer
        default:
            throw Malformed(reason: "\(name) is not an integer")
        }
    }

    /// A base64 bytes field; absent means empty.
    static func bytes(_ value: JSONValue?, _ name: String) throws(Malformed) -> [UInt8] {
        switch value {
        case nil, .null?:
            return []
        case .string(let text)?:
            guard let data = Data(base64Encoded: text) else { throw Malformed(reason: "\(name) is not base64") }
            return Array(data)
        default:
            throw Malformed(reason: "\(name) is not a base64 string")
        }
    }

    /// An error answer: `{"error": "...", "message": "...", "code": N}` for calls, or
    /// `{"error": {"grpc_code": N, "message": "..."}}` inside a stream.
    static func errorStatus(_ answer: JSONValue) -> (code: Int, message: String)? {
        guard let error = answer["error"] else { return nil }
        if case .object = error {
            let code = error["grpc_code"]?.numberValue.map { Int($0) } ?? 2
            return (code, error["message"]?.stringValue ?? "unknown error")
        }
        let code = answer["code"]?.numberValue.map { Int($0) } ?? 2
        return (code, answer["message"]?.stringValue ?? error.stringValue ?? "unknown error")
    }
}
