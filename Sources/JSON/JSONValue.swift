/// A JSON document as parsed, keeping object key order and each number's literal text, so the
/// capabilities a driver reports (including keys volumed does not know) come back out exactly as sent.
package enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// The member `key` of an object (nil for other values or a missing key). Keys match by code
    /// points, as JSON defines them, not by `String ==` (canonical equivalence would make "\u00e9"
    /// and "e\u0301" one key).
    package subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { JSONMember.sameKey($0.key, key) }?.value
    }

    package var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    package var numberValue: Double? {
        if case .number(let number) = self { return number.value }
        return nil
    }

    package var boolValue: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }
}

/// A JSON number: the literal as written, plus its value as a `Double` for checks.
package struct JSONNumber: Sendable, Equatable, CustomStringConvertible {
    /// Valid JSON number syntax, written back unchanged when encoding.
    package let text: String
    package let value: Double

    /// Nil when `text` is not JSON number syntax.
    package init?(_ text: String) {
        guard JSONNumber.isValidSyntax(Array(text.utf8)), let value = Double(text) else { return nil }
        self.text = text
        self.value = value
    }

    /// A number from a finite `Double` (an integral value is written without a fraction).
    package init?(_ value: Double) {
        guard value.isFinite else { return nil }
        if Self.isWrittenAsInteger(value) {
            text = String(Int64(value))
        } else {
            text = String(value)
        }
        self.value = value
    }

    /// Whether `init(_: Double)` writes `value` as an integer literal (no fraction, no exponent).
    static func isWrittenAsInteger(_ value: Double) -> Bool {
        value == value.rounded() && abs(value) < 1e15
    }

    init(validatedText: String, value: Double) {
        text = validatedText
        self.value = value
    }

    package var description: String { text }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    static func isValidSyntax(_ bytes: [UInt8]) -> Bool {
        var index = 0
        func digits() -> Int {
            let start = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            return index - start
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { return false }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            return false
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return false }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard digits() > 0 else { return false }
        }
        return index == bytes.count
    }
}

/// One key and value of a JSON object.
package struct JSONMember: Sendable, Equatable {
    package var key: String
    package var value: JSONValue

    package init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }

    /// Whether two keys are the same code points (JSON's rule), which `String ==` is not.
    package static func sameKey(_ first: String, _ second: String) -> Bool {
        first.utf8.elementsEqual(second.utf8)
    }
}
