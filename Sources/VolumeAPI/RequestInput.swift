// Turning request bodies and query parameters into typed values, or into 400 faults that say why.

import Foundation
import HTTPServer
import JSON

/// Parses what clients send. Every failure is an `OpenStackFault` 400 `badRequest` naming the problem
/// (the field, the parameter, or where the JSON broke), never a crash or a 500.
enum RequestInput {
    /// The body as a JSON object (`.object`), read by the one JSON parser: booleans stay apart
    /// from numbers, and a key given twice is refused as the scheduler refuses it.
    static func jsonObject(_ request: HTTPRequest) throws(OpenStackFault) -> JSONValue {
        guard !request.body.isEmpty else {
            throw .badRequest("The request body is empty; a JSON object is required.")
        }
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(request.body)
        } catch {
            throw .badRequest("Malformed request body: not valid JSON (\(error)).")
        }
        guard case .object = parsed else {
            throw .badRequest("Malformed request body: a JSON object is required, got \(jsonTypeName(parsed)).")
        }
        return parsed
    }

    /// 415 `badMediaType` (Cinder's fault) for a body that is not labelled `application/json`
    /// (parameters such as `charset` allowed). A browser sends `text/plain` and form bodies across
    /// origins without asking first, but never `application/json`; an empty body needs no label,
    /// so `curl -X POST .../reinit` keeps working.
    static func requireJSONBody(_ request: HTTPRequest) throws(OpenStackFault) {
        guard !request.body.isEmpty else { return }
        let labels = request.headers.values(forName: "Content-Type")
        let label = labels.first
        let mediaType = label?.split(separator: ";", maxSplits: 1).first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard labels.count == 1, mediaType == "application/json" else {
            throw .badMediaType(
                label.map {
                    "Unsupported Content-Type \($0.prefix(100)): the request body must be application/json."
                }
                    ?? "The request body has no Content-Type: it must be application/json.")
        }
    }

    /// A string member that must be present.
    static func requiredString(_ object: JSONValue, _ name: String) throws(OpenStackFault) -> String {
        guard let value = object[name], value != .null else {
            throw .badRequest("Missing required element '\(name)' in request body.")
        }
        guard case .string(let text) = value else {
            throw .badRequest("Invalid element '\(name)': a string is required, got \(jsonTypeName(value)).")
        }
        return text
    }

    /// A string member that may be absent or null (nil then).
    static func optionalString(_ object: JSONValue, _ name: String) throws(OpenStackFault) -> String? {
        guard let value = object[name], value != .null else { return nil }
        guard case .string(let text) = value else {
            throw .badRequest("Invalid element '\(name)': a string is required, got \(jsonTypeName(value)).")
        }
        return text
    }

    /// `?name=` as a number of seconds in `0...maximum`; nil when absent. Only plain decimal text
    /// (`5`, `2.5`): `Double(_:)` alone would also read `0x10` as 16, `1e3`, `inf` or ` 5`.
    static func seconds(_ request: HTTPRequest, _ name: String, maximum: Double) throws(OpenStackFault) -> Double? {
        let values = request.query.values(forName: name)
        guard let text = values.first else { return nil }
        guard values.count == 1 else {
            throw .badRequest("Invalid query parameter '\(name)': give it once, not \(values.count) times.")
        }
        guard isPlainDecimal(text), let value = Double(text), value.isFinite, value >= 0, value <= maximum
        else {
            throw .badRequest(
                "Invalid query parameter '\(name)': expected a number of seconds from 0 to \(Int(maximum)), got '\(text)'."
            )
        }
        return value
    }

    /// Digits, optionally a point and more digits: the only number syntax the API documents.
    static func isPlainDecimal(_ text: String) -> Bool {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        return parts.count <= 2 && text.utf8.count <= 32
            && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }
    }

    /// `?name=true|false` (also 1/0, yes/no, on/off as oslo's `bool_from_string` accepts); false when absent.
    static func flag(_ request: HTTPRequest, _ name: String) throws(OpenStackFault) -> Bool {
        guard let text = request.query[name] else { return false }
        switch text.lowercased() {
        case "true", "1", "yes", "y", "on", "t": return true
        case "false", "0", "no", "n", "off", "f", "": return false
        default:
            throw .badRequest("Invalid query parameter '\(name)': expected true or false, got '\(text)'.")
        }
    }

    static func jsonTypeName(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        case .bool: return "a boolean"
        case .number: return "a number"
        }
    }
}
