import JSON
import ServiceNames
import ServiceVocabulary

/// Turns a `POST /v3/scheduler/capabilities` body into validated reports: either one report object or a
/// batch `{"reports": [...]}`. Everything the scheduler later relies on is checked here, so the store
/// never holds a report it cannot list. In a batch each report stands alone: a bad one is refused
/// with its reason and the others are kept, so one misconfigured backend never takes its
/// neighbours out of `get_pools`.
package enum CapabilityReportParser {
    package static let defaultMaxReports = 10_000
    package static let expectedService = "cinder-volume"
    static let capacityKeys = ["total_capacity_gb", "free_capacity_gb"]
    static let optionalAmountKeys = ["allocated_capacity_gb", "provisioned_capacity_gb"]
    /// Lengths count Unicode code points, as Cinder's `len()` on a Python string and JSON Schema's
    /// `maxLength` do (not grapheme clusters, not UTF-8 bytes).
    static let maxReasonLength = 255

    /// - Parameter notAfter: the latest timestamp a report may carry (the scheduler's clock plus the
    ///   allowed skew); nil accepts any. A report from further in the future would make every later,
    ///   real report look older and be ignored.
    /// - Throws: when the body is not a report or a batch of reports at all, or is a single report
    ///   that is invalid (nothing to keep).
    package static func parse(
        _ body: [UInt8], maxReports: Int = defaultMaxReports, notAfter: CapabilityTimestamp? = nil
    ) throws(CapabilityReportError) -> ReportBatch {
        let document: JSONValue
        do {
            document = try JSONParser.parse(body)
        } catch {
            throw CapabilityReportError(field: "body", problem: error.description)
        }
        return try validate(document, maxReports: maxReports, notAfter: notAfter)
    }

    package static func validate(
        _ document: JSONValue, maxReports: Int = defaultMaxReports, notAfter: CapabilityTimestamp? = nil
    ) throws(CapabilityReportError) -> ReportBatch {
        guard case .object = document else {
            throw CapabilityReportError(field: "body", problem: "expected a JSON object")
        }
        guard let batch = document["reports"] else {
            let single = try report(document, path: "", notAfter: notAfter)
            return ReportBatch(
                isBatch: false, count: 1, reports: [IndexedReport(index: 0, report: single)], refused: [])
        }
        guard case .array(let elements) = batch, !elements.isEmpty else {
            throw CapabilityReportError(field: "reports", problem: "expected a non-empty array of reports")
        }
        guard elements.count <= maxReports else {
            throw CapabilityReportError(field: "reports", problem: "more than \(maxReports) reports in one body")
        }
        var result = ReportBatch(isBatch: true, count: elements.count, reports: [], refused: [])
        result.reports.reserveCapacity(elements.count)
        for (position, element) in elements.enumerated() {
            do {
                let valid = try report(element, path: "reports[\(position)]", notAfter: notAfter)
                result.reports.append(IndexedReport(index: position, report: valid))
            } catch {
                let host = element["host"]?.stringValue
                result.refused.append(
                    ReportRefusal(index: position, host: host, reason: .invalid, message: error.description))
            }
        }
        return result
    }

    static func report(
        _ value: JSONValue, path: String, notAfter: CapabilityTimestamp?
    ) throws(CapabilityReportError) -> CapabilityReport {
        guard case .object = value else {
            throw CapabilityReportError(field: path.isEmpty ? "body" : path, problem: "expected an object")
        }
        let host = try requiredString(value, "host", path)
        do {
            try ServiceName.checkHost(host)
        } catch {
            throw CapabilityReportError(field: join(path, "host"), problem: "\(ServiceName.quoted(host)) \(error)")
        }
        let service = try requiredString(value, "service", path)
        guard service == expectedService else {
            throw CapabilityReportError(field: join(path, "service"), problem: #"expected "\#(expectedService)""#)
        }
        let timestampText = try requiredString(value, "timestamp", path)
        guard let timestamp = CapabilityTimestamp(parsing: timestampText) else {
            throw CapabilityReportError(
                field: join(path, "timestamp"), problem: #"expected a UTC time like "2026-11-24T17:40:00.000000""#)
        }
        if let notAfter, timestamp > notAfter {
            throw CapabilityReportError(
                field: join(path, "timestamp"),
                problem:
                    "\(timestamp) is further ahead of the scheduler's clock than the allowed skew; check the sender's clock"
            )
        }
        let capabilitiesPath = join(path, "capabilities")
        guard let capabilities = value["capabilities"] else {
            throw CapabilityReportError(field: capabilitiesPath, problem: "required")
        }
        guard case .object(let members) = capabilities else {
            throw CapabilityReportError(field: capabilitiesPath, problem: "expected an object")
        }
        return try backendReport(
            members, host: host, service: service, timestamp: timestamp, path: capabilitiesPath)
    }

    private static func backendReport(
        _ members: [JSONMember], host: String, service: String, timestamp: CapabilityTimestamp, path: String
    ) throws(CapabilityReportError) -> CapabilityReport {
        let object = JSONValue.object(members)
        let state: BackendState
        switch object["backend_state"] {
        case .string("up"): state = .up
        case .string("down"): state = .down
        case nil: throw CapabilityReportError(field: join(path, "backend_state"), problem: "required")
        default: throw CapabilityReportError(field: join(path, "backend_state"), problem: #"expected "up" or "down""#)
        }
        let status: ServiceStatus
        switch object["status"] {
        case nil, .string("enabled"): status = .enabled
        case .string("disabled"): status = .disabled
        default: throw CapabilityReportError(field: join(path, "status"), problem: #"expected "enabled" or "disabled""#)
        }
        var reason: String?
        switch object["disabled_reason"] {
        case nil, .null: reason = nil
        case .string(let text) where text.unicodeScalars.count <= maxReasonLength: reason = text
        default:
            throw CapabilityReportError(
                field: join(path, "disabled_reason"),
                problem: "expected null or a string of at most \(maxReasonLength) characters")
        }
        let frozen: Bool
        switch object["frozen"] {
        case nil, .bool(false): frozen = false
        case .bool(true): frozen = true
        default: throw CapabilityReportError(field: join(path, "frozen"), problem: "expected true or false")
        }

        let up = state == .up
        // A backend that is up must describe itself; a down one may send whatever it still knows.
        func reported(_ key: String) throws(CapabilityReportError) -> JSONValue? {
            if let value = object[key] { return value }
            if up {
                throw CapabilityReportError(field: join(path, key), problem: #"required when backend_state is "up""#)
            }
            return nil
        }
        if let name = try reported("volume_backend_name") {
            guard case .string(let text) = name, !text.isEmpty else {
                throw CapabilityReportError(
                    field: join(path, "volume_backend_name"), problem: "expected a non-empty string")
            }
            // Without pools it names the backend's one pool.
            if object["pools"] == nil {
                do {
                    try ServiceName.checkPool(text)
                } catch {
                    throw CapabilityReportError(
                        field: join(path, "volume_backend_name"),
                        problem: "\(ServiceName.quoted(text)) cannot name a pool: it \(error)")
                }
            }
        }
        if let vendor = try reported("vendor_name"), vendor.stringValue == nil {
            throw CapabilityReportError(field: join(path, "vendor_name"), problem: "expected a string")
        }
        if let version = try reported("driver_version") {
            switch version {
            case .string, .number: break
            default:
                throw CapabilityReportError(
                    field: join(path, "driver_version"), problem: "expected a string or a number")
            }
        }
        if let proto = try reported("storage_protocol"), !isStringOrStringArray(proto) {
            throw CapabilityReportError(
                field: join(path, "storage_protocol"), problem: "expected a string or an array of strings")
        }

        let pools = try poolReports(object["pools"], up: up, path: join(path, "pools"))
        // Without pools, the backend itself is the pool and must say its capacity.
        try checkAmounts(object, requireCapacity: up && pools == nil, path: path)

        return CapabilityReport(
            host: host, service: service, timestamp: timestamp, backendState: state, status: status,
            disabledReason: reason, capabilities: members.filter { $0.key != "pools" }, pools: pools, frozen: frozen)
    }

    private static func poolReports(
        _ value: JSONValue?, up: Bool, path: String
    ) throws(CapabilityReportError) -> [PoolReport]? {
        guard let value else { return nil }
        guard case .array(let elements) = value else {
            throw CapabilityReportError(field: path, problem: "expected an array of pool objects")
        }
        var pools: [PoolReport] = []
        var names = Set<String>()
        for (position, element) in elements.enumerated() {
            let poolPath = "\(path)[\(position)]"
            guard case .object(let members) = element else {
                throw CapabilityReportError(field: poolPath, problem: "expected an object")
            }
            guard case .string(let name) = element["pool_name"] else {
                throw CapabilityReportError(field: join(poolPath, "pool_name"), problem: "expected a string")
            }
            do {
                try ServiceName.checkPool(name)
            } catch {
                throw CapabilityReportError(
                    field: join(poolPath, "pool_name"), problem: "\(ServiceName.quoted(name)) \(error)")
            }
            guard names.insert(name).inserted else {
                throw CapabilityReportError(
                    field: join(poolPath, "pool_name"), problem: "duplicate pool name \(JSONParser.quote(name))")
            }
            try checkAmounts(element, requireCapacity: up, path: poolPath)
            pools.append(PoolReport(name: name, capabilities: members))
        }
        return pools
    }

    /// Capacities are a non-negative number, "unknown" or "infinite"; other amounts non-negative
    /// numbers; `reserved_percentage` a number from 0 to 100.
    private static func checkAmounts(
        _ object: JSONValue, requireCapacity: Bool, path: String
    ) throws(CapabilityReportError) {
        for key in capacityKeys {
            switch object[key] {
            case nil:
                if requireCapacity {
                    throw CapabilityReportError(
                        field: join(path, key), problem: #"required when backend_state is "up""#)
                }
            case .number(let number):
                if number.value < 0 {
                    throw CapabilityReportError(field: join(path, key), problem: "must not be negative")
                }
            case .string("unknown"), .string("infinite"):
                break
            default:
                throw CapabilityReportError(
                    field: join(path, key), problem: #"expected a number, "unknown" or "infinite""#)
            }
        }
        for key in optionalAmountKeys {
            guard let value = object[key] else { continue }
            guard let number = value.numberValue, number >= 0 else {
                throw CapabilityReportError(field: join(path, key), problem: "expected a non-negative number")
            }
        }
        if let reserved = object["reserved_percentage"] {
            guard let number = reserved.numberValue, (0...100).contains(number) else {
                throw CapabilityReportError(
                    field: join(path, "reserved_percentage"), problem: "expected a number from 0 to 100")
            }
        }
    }

    private static func requiredString(
        _ object: JSONValue, _ key: String, _ path: String
    ) throws(CapabilityReportError) -> String {
        switch object[key] {
        case .string(let text): return text
        case nil: throw CapabilityReportError(field: join(path, key), problem: "required")
        default: throw CapabilityReportError(field: join(path, key), problem: "expected a string")
        }
    }

    private static func isStringOrStringArray(_ value: JSONValue) -> Bool {
        switch value {
        case .string: return true
        case .array(let elements): return elements.allSatisfy { $0.stringValue != nil }
        default: return false
        }
    }

    static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : path + "." + key
    }
}
