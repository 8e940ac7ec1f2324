import CurlClient
import Foundation
import JSON

/// `volumed services`: what `cinder service-list` shows, plus each driver's supervision state, read
/// from a running service's own API (`GET /v3/services` and `GET /drivers`).
package enum ServiceTable {
    /// Why the tables could not be made.
    package enum Failure: Error, Equatable, CustomStringConvertible {
        /// No connection to `url` (refused, or timed out): the service is not running there.
        case unreachable(url: String, reason: String)
        /// The GET failed otherwise.
        case requestFailed(url: String, reason: String)
        /// The service answered with a status other than 200; `excerpt` is the start of its body.
        case answered(url: String, status: Int, excerpt: String)
        /// The named document (`services`, `drivers`) is not valid JSON.
        case notJSON(document: String, error: JSONSyntaxError)
        /// The named document is not a JSON object.
        case notAnObject(document: String)
        /// The named document has no list under its own name.
        case missingList(document: String)

        package var description: String {
            switch self {
            case .unreachable(let url, let reason):
                "cannot reach \(url): \(reason); is `volumed serve` running there? (give its address with --url)"
            case .requestFailed(let url, let reason): "GET \(url) failed: \(reason)"
            case .answered(let url, let status, let excerpt): "GET \(url) answered \(status): \(excerpt)"
            case .notJSON(let document, let error): "the \(document) document is not valid JSON: \(error)"
            case .notAnObject(let document): "the \(document) document is not a JSON object"
            case .missingList(let document): "the \(document) document has no \"\(document)\" list"
            }
        }
    }

    package static func fetchAndRender(baseURL: String) throws -> String {
        let client = try CurlClient(configuration: .init(connectTimeout: 3, totalTimeout: 10))
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        // 3.49: the microversion that lists each volume service's backend_state.
        let services = try fetch(
            client, base + "/v3/services", headers: [CurlHeader("OpenStack-API-Version", "volume 3.49")])
        let drivers = try fetch(client, base + "/drivers")
        return try render(servicesJSON: services, driversJSON: drivers)
    }

    private static func fetch(_ client: CurlClient, _ url: String, headers: [CurlHeader] = []) throws -> [UInt8] {
        let response: CurlResponse
        do {
            response = try client.get(url, headers: headers)
        } catch {
            // libcurl's text repeats itself ("Couldn't connect to server: ... Couldn't connect to
            // server"); say once what failed and where to look.
            let reason = error.detail.isEmpty ? error.message : error.detail
            if error.isConnectFailure || error.isTimeout { throw Failure.unreachable(url: url, reason: reason) }
            throw Failure.requestFailed(url: url, reason: reason)
        }
        guard response.status == 200 else {
            throw Failure.answered(
                url: url, status: response.status, excerpt: visible(String(response.bodyText.prefix(200))))
        }
        return response.body
    }

    /// Two tables from the two documents (kept apart from fetching so it is testable on bytes).
    package static func render(servicesJSON: [UInt8], driversJSON: [UInt8]) throws -> String {
        guard case .array(let services)? = try document(servicesJSON, "services")["services"] else {
            throw Failure.missingList(document: "services")
        }
        guard case .array(let drivers)? = try document(driversJSON, "drivers")["drivers"] else {
            throw Failure.missingList(document: "drivers")
        }
        let serviceRows = services.map { service in
            ["binary", "host", "zone", "status", "state", "updated_at", "backend_state", "disabled_reason"]
                .map { cell(text(service[$0]), limit: 60) }
        }
        let driverRows = drivers.map { driver -> [String] in
            let error = driver["last_error"].flatMap { error -> JSONValue? in
                if case .object = error { return error }
                return nil
            }
            let lastError = error.map { "\(text($0["kind"])): \(text($0["message"]))" } ?? "-"
            let limit = driver["reinit_limit"]?.numberValue == 0 ? "unlimited" : text(driver["reinit_limit"])
            return [
                text(driver["id"]), text(driver["volume_driver"]), text(driver["state"]),
                "\(text(driver["reinit_attempts"]))/\(limit)", text(driver["next_reinit_at"]),
                cell(lastError, limit: 80),
            ]
        }
        return table(
            ["Binary", "Host", "Zone", "Status", "State", "Updated At", "Backend State", "Disabled Reason"], serviceRows
        )
            + "\n"
            + table(
                ["Driver", "Volume Driver", "State", "Reinit Attempts", "Next Reinit At", "Last Error"], driverRows)
    }

    /// A table cell: one line (line breaks in a driver's message would break the frame), cut at
    /// `limit` characters with "..." so a cut is visible (`GET /drivers/{id}` has the whole text).
    static func cell(_ value: String, limit: Int) -> String {
        let line = value.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .joined(separator: " ").replacingOccurrences(of: "\t", with: " ")
        return line.count <= limit ? line : String(line.prefix(limit - 3)) + "..."
    }

    /// A value from the server as a cell's text, with control characters made visible.
    private static func text(_ value: JSONValue?) -> String {
        switch value {
        case nil, .null?: return "-"
        case .string(let string)?: return visible(string)
        case .number(let number)?: return number.text
        case .bool(let flag)?: return flag ? "true" : "false"
        case let other?: return visible(String(decoding: JSONWriter.encode(other), as: UTF8.self))
        }
    }

    /// One of the service's documents, which must be a JSON object.
    private static func document(_ bytes: [UInt8], _ name: String) throws -> JSONValue {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw Failure.notJSON(document: name, error: error)
        }
        guard case .object = document else { throw Failure.notAnObject(document: name) }
        return document
    }

    /// `text` safe to print on a terminal: a string from the server (a `disabled_reason` anyone
    /// with write access set, a driver's error) could otherwise carry escape sequences that recolour,
    /// retitle or rewrite the operator's terminal, or bidirectional overrides that reorder what is
    /// shown. C0 and C1 controls, DEL and Unicode bidi controls are written as escapes (`\e`, `\x7f`,
    /// `\u{202e}`); line breaks and tabs stay, for `cell` to fold.
    static func visible(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                out.append(scalar)
                continue
            }
            let escaped: String
            switch scalar.value {
            case 0x1B: escaped = "\\e"
            case 0x00...0xFF: escaped = "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: escaped = "\\u{" + String(scalar.value, radix: 16) + "}"
            }
            out.append(contentsOf: escaped.unicodeScalars)
        }
        return String(out)
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A, 0x0D, 0x09: return false  // folded by `cell`
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0x061C: return true  // bidi marks and overrides
        default: return false
        }
    }

    /// A table framed like the OpenStack client's.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        let rule = "+" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "+\n"
        func line(_ cells: [String]) -> String {
            "|"
                + cells.enumerated().map { " " + $1 + String(repeating: " ", count: widths[$0] - $1.count) + " " }
                .joined(separator: "|") + "|\n"
        }
        return rule + line(header) + rule + rows.map(line).joined() + rule
    }
}
