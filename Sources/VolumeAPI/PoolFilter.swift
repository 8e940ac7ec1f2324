// get_pools filters (microversion 3.28): `?name=` and capability keys, as Cinder's host manager applies them.

import Foundation
import HTTPServer
import JSON
import Scheduler

/// The filters of a `get_pools` request. Below 3.28 Cinder ignores every query parameter but
/// `detail`, and so does volumed. From 3.28 `name` must equal the pool's full name
/// (`host@backend#pool`) and every other parameter must equal the pool's capability of that name,
/// compared as Cinder's `_equal_after_convert` does: strings as they are, booleans through oslo's
/// `bool_from_string`, numbers by their text. From 3.35 `volume_type` names a volume type, and since
/// volumed has none, any value is a 404, as Cinder answers an unknown type.
struct PoolFilter: Sendable, Equatable {
    var name: String?
    var capabilities: [(key: String, value: String)]

    static func == (lhs: PoolFilter, rhs: PoolFilter) -> Bool {
        lhs.name == rhs.name && lhs.capabilities.elementsEqual(rhs.capabilities) { $0 == $1 }
    }

    /// The request's filters, or nil when it has none (or is below 3.28).
    init?(_ request: HTTPRequest) throws(OpenStackFault) {
        let version = request.apiVersion
        guard version >= .poolFilter else { return nil }
        var name: String?
        var capabilities: [(key: String, value: String)] = []
        for (key, value) in request.query where key != "detail" {
            if key == "name" {
                name = value
            } else if key == "volume_type" && version >= .poolTypeFilter {
                throw .itemNotFound("Volume type with name \(value) could not be found: volumed has no volume types.")
            } else {
                capabilities.append((key, value))
            }
        }
        guard name != nil || !capabilities.isEmpty else { return nil }
        self.name = name
        self.capabilities = capabilities
    }

    init(name: String?, capabilities: [(key: String, value: String)]) {
        self.name = name
        self.capabilities = capabilities
    }

    /// Whether a pool of the detailed view passes.
    func admits(_ pool: JSONValue) -> Bool {
        if let name, pool["name"]?.stringValue != name { return false }
        let capabilities = pool["capabilities"]
        for (key, value) in self.capabilities where !Self.equal(capabilities?[key], value) { return false }
        return true
    }

    static func equal(_ capability: JSONValue?, _ value: String) -> Bool {
        switch capability {
        case .string(let text): return text == value
        case .bool(let flag): return flag == boolFromString(value)
        case .number(let number): return number.text == value
        case .null, .none, .array, .object: return false
        }
    }

    /// oslo's `bool_from_string` without `strict`: true for its true words, false for anything else.
    static func boolFromString(_ text: String) -> Bool {
        ["1", "t", "true", "on", "y", "yes"].contains(text.trimmingCharacters(in: .whitespaces).lowercased())
    }

    /// The filtered view, from the store's detailed view (`{"pools": [...]}`).
    func encode(detailedView: [UInt8], detail: Bool) -> [UInt8] {
        guard case .array(let pools)? = (try? JSONParser.parse(detailedView))?["pools"] else { return detailedView }
        var out: [UInt8] = Array(#"{"pools":["#.utf8)
        var first = true
        for pool in pools where admits(pool) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            if detail {
                JSONWriter.append(pool, to: &out)
            } else {
                JSONWriter.appendObject([JSONMember("name", pool["name"] ?? .null)], to: &out)
            }
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }
}
