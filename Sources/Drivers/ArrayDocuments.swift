import JSON

/// The health document of the array API (`GET /health`, see `openapi/array-api.yaml`).
struct ArrayHealth: Sendable, Equatable {
    enum Status: String, Sendable, CaseIterable {
        case ok
        /// Serving, with reduced redundancy or performance: still usable.
        case degraded
        /// Not serving I/O.
        case down
    }

    var status: Status
    var message: String?
    var vendor: String?
    var model: String?
    var firmwareVersion: String?
    /// How hosts attach volumes (Cinder's `storage_protocol`: iSCSI, FC, NVMe-oF...).
    var storageProtocol: String?
}

/// The capacity document of the array API (`GET /capacity`).
struct ArrayCapacity: Sendable, Equatable {
    struct Pool: Sendable, Equatable {
        var name: String
        var totalCapacityGB: Double
        var freeCapacityGB: Double
        var thinProvisioningSupport: Bool
        var maxOverSubscriptionRatio: Double?
    }

    var pools: [Pool]
}

/// A document that does not match the contract, with the member at fault.
struct ArrayDocumentError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Problem: Sendable, Equatable {
        /// The body is not JSON; where it broke.
        case notJSON(line: Int, column: Int, reason: String)
        /// The member is missing or of another kind: what the contract wants, and what came
        /// (`nothing`, `a string "x"`, ...).
        case expected(String, got: String)
        /// A health status outside the contract's list.
        case unknownStatus(String)
        /// A capacity document with an empty `pools` list.
        case noPools
        /// A pool with an empty name.
        case emptyName
        /// A pool name given twice; `firstIndex` is the pool that had it first.
        case repeatedName(String, firstIndex: Int)
        /// A pool with more free than total capacity.
        case freeExceedsTotal(free: Double, total: Double)
    }

    /// Where in the document, e.g. `pools[0].name` or `the document`; nil when the body is not JSON.
    var member: String?
    var problem: Problem

    init(_ member: String?, _ problem: Problem) {
        self.member = member
        self.problem = problem
    }

    /// `member: problem`, e.g. `pools[1].name: "a" repeats pools[0]`.
    var message: String {
        let text: String
        switch problem {
        case .notJSON(let line, let column, let reason):
            text = "not valid JSON: line \(line), column \(column): \(reason)"
        case .expected(let wanted, let got): text = "expected \(wanted), got \(got)"
        case .unknownStatus(let status):
            let choices = ArrayHealth.Status.allCases.map(\.rawValue).joined(separator: ", ")
            text = "expected one of \(choices), got \"\(status)\""
        case .noPools: text = "expected at least one pool, got none"
        case .emptyName: text = "must not be empty"
        case .repeatedName(let name, let first): text = "\"\(name)\" repeats pools[\(first)]"
        case .freeExceedsTotal(let free, let total): text = "\(free) is more than total_capacity_gb \(total)"
        }
        return member.map { "\($0): \(text)" } ?? text
    }

    var description: String { message }
}

/// Reads the array's documents strictly against `openapi/array-api.yaml`; unknown members are
/// ignored so an array may add fields without breaking the driver.
enum ArrayDocuments {
    static func health(_ body: [UInt8]) throws(ArrayDocumentError) -> ArrayHealth {
        let root = try object(parse(body), at: "the document")
        let statusText = try string(root["status"], at: "status")
        guard let status = ArrayHealth.Status(rawValue: statusText) else {
            throw ArrayDocumentError("status", .unknownStatus(statusText))
        }
        return ArrayHealth(
            status: status, message: try optionalString(root["message"], at: "message"),
            vendor: try optionalString(root["vendor"], at: "vendor"),
            model: try optionalString(root["model"], at: "model"),
            firmwareVersion: try optionalString(root["firmware_version"], at: "firmware_version"),
            storageProtocol: try optionalString(root["storage_protocol"], at: "storage_protocol"))
    }

    static func capacity(_ body: [UInt8]) throws(ArrayDocumentError) -> ArrayCapacity {
        let root = try object(parse(body), at: "the document")
        guard case .array(let entries)? = root["pools"] else {
            throw ArrayDocumentError("pools", .expected("an array", got: root["pools"]?.kindDescription ?? "nothing"))
        }
        guard !entries.isEmpty else { throw ArrayDocumentError("pools", .noPools) }
        var pools: [ArrayCapacity.Pool] = []
        for (index, entry) in entries.enumerated() {
            let path = "pools[\(index)]"
            let pool = try object(entry, at: path)
            let name = try string(pool["name"], at: path + ".name")
            guard !name.isEmpty else { throw ArrayDocumentError(path + ".name", .emptyName) }
            if let first = pools.firstIndex(where: { $0.name == name }) {
                throw ArrayDocumentError(path + ".name", .repeatedName(name, firstIndex: first))
            }
            let total = try capacity(pool["total_capacity_gb"], at: path + ".total_capacity_gb")
            let free = try capacity(pool["free_capacity_gb"], at: path + ".free_capacity_gb")
            guard free <= total else {
                throw ArrayDocumentError(path + ".free_capacity_gb", .freeExceedsTotal(free: free, total: total))
            }
            var thin = false
            switch pool["thin_provisioning_support"] {
            case nil: break
            case .bool(let value)?: thin = value
            case let other?:
                throw ArrayDocumentError(
                    path + ".thin_provisioning_support", .expected("true or false", got: other.kindDescription))
            }
            var ratio: Double?
            if let value = pool["max_over_subscription_ratio"] {
                guard let number = value.numberValue, number >= 1 else {
                    throw ArrayDocumentError(
                        path + ".max_over_subscription_ratio", .expected("a number >= 1", got: value.kindDescription))
                }
                ratio = number
            }
            pools.append(
                .init(
                    name: name, totalCapacityGB: total, freeCapacityGB: free,
                    thinProvisioningSupport: thin, maxOverSubscriptionRatio: ratio))
        }
        return ArrayCapacity(pools: pools)
    }

    /// The body by the one JSON parser; where it broke as `line, column` for the operator reading a
    /// backend's last error.
    private static func parse(_ body: [UInt8]) throws(ArrayDocumentError) -> JSONValue {
        do {
            return try JSONParser.parse(body)
        } catch {
            let (line, column) = error.lineAndColumn(in: body)
            throw ArrayDocumentError(nil, .notJSON(line: line, column: column, reason: error.reason))
        }
    }

    private static func object(_ value: JSONValue?, at path: String) throws(ArrayDocumentError) -> JSONValue {
        guard let value, case .object = value else {
            throw ArrayDocumentError(path, .expected("an object", got: value?.kindDescription ?? "nothing"))
        }
        return value
    }

    private static func string(_ value: JSONValue?, at path: String) throws(ArrayDocumentError) -> String {
        guard case .string(let text)? = value else {
            throw ArrayDocumentError(path, .expected("a string", got: value?.kindDescription ?? "nothing"))
        }
        return text
    }

    private static func optionalString(_ value: JSONValue?, at path: String) throws(ArrayDocumentError) -> String? {
        if value == nil || value == .null { return nil }
        return try string(value, at: path)
    }

    private static func capacity(_ value: JSONValue?, at path: String) throws(ArrayDocumentError) -> Double {
        guard let number = value?.numberValue, number >= 0 else {
            throw ArrayDocumentError(path, .expected("a number of GiB >= 0", got: value?.kindDescription ?? "nothing"))
        }
        return number
    }
}

extension JSONValue {
    /// What the value is, for messages: `a string "x"`, `the number 2.0`, `null`.
    var kindDescription: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string(let text): return "a string \"\(text.prefix(40))\""
        case .number(let number): return "the number \(number.value)"
        case .bool(let value): return "\(value)"
        case .null: return "null"
        }
    }
}
