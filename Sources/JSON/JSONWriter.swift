/// The one JSON writer of volumed: the API's views, the tick's capability reports and the scheduler's
/// pools all come out of it, so every body escapes strings and formats numbers the same way. It
/// appends UTF-8 straight to a byte buffer, never building a tree or intermediate strings: the tick
/// encodes the reports of 1,000 backends every second, and the views are encoded once per snapshot
/// version (see BENCHMARKS.md, "Profile").
///
/// Two ways in: the static calls write a parsed `JSONValue` (keeping its key order and number
/// literals); an instance writes a document member by member in the order the caller emits them,
/// placing the commas itself.
package struct JSONWriter {
    /// How a document looks; the values are the same either way.
    package enum Style: Sendable {
        /// `{"a":1,"b":[2.5,100]}`: no spaces, and integral numbers without a fraction, as
        /// `JSONNumber` writes them. For bodies that machines exchange (capability reports).
        case compact
        /// `{"a": 1, "b": [2.5, 100.0]}`: Python's `json.dumps` defaults, which is how Cinder's API
        /// answers look; a `Double` always keeps a fraction or an exponent.
        case pythonDumps
    }

    package private(set) var bytes: [UInt8] = []
    private let style: Style
    /// One entry per open object or array: whether it already holds a member.
    private var hasMember: [Bool] = []
    /// A key was just written: the next value completes its member and takes no comma.
    private var afterKey = false
    #if DEBUG
        /// One entry per open container, true for an object: debug builds check that keys go only
        /// into objects, every member of an object has a key, and each close matches its open.
        private var isObject: [Bool] = []
    #endif

    package init(style: Style, reservingCapacity capacity: Int = 256) {
        self.style = style
        bytes.reserveCapacity(capacity)
    }

    // MARK: containers

    package mutating func beginObject() { open(UInt8(ascii: "{")) }
    package mutating func endObject() { close(UInt8(ascii: "}")) }
    package mutating func beginArray() { open(UInt8(ascii: "[")) }
    package mutating func endArray() { close(UInt8(ascii: "]")) }

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        hasMember.append(false)
        #if DEBUG
            isObject.append(bracket == UInt8(ascii: "{"))
        #endif
    }

    private mutating func close(_ bracket: UInt8) {
        #if DEBUG
            precondition(!afterKey, "JSONWriter: a key without a value before \(Character(Unicode.Scalar(bracket)))")
            precondition(
                isObject.popLast() == (bracket == UInt8(ascii: "}")),
                "JSONWriter: \(Character(Unicode.Scalar(bracket))) does not close the open container")
        #endif
        hasMember.removeLast()
        bytes.append(bracket)
    }

    /// Writes `"name":` inside an object; the next value call completes the member.
    package mutating func key(_ name: String) {
        #if DEBUG
            precondition(isObject.last == true && !afterKey, "JSONWriter: key \(name) outside an object or after a key")
        #endif
        separate(isKey: true)
        Self.appendString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        if style == .pythonDumps { bytes.append(UInt8(ascii: " ")) }
        afterKey = true
    }

    // MARK: scalars

    package mutating func string(_ value: String) {
        separate()
        Self.appendString(value, to: &bytes)
    }

    package mutating func string(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    /// A string whose UTF-8 `appendText` appends itself: for text the caller formats straight into
    /// bytes (a cached timestamp) that holds nothing JSON would escape.
    package mutating func preformattedString(_ appendText: (inout [UInt8]) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        appendText(&bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    package mutating func int(_ value: Int) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A finite double in its shortest round-trip form (`1.5`, `1e-05`); an integral one as the
    /// style says (`100` or `100.0`). JSON has no infinities or NaN: those are written as null.
    package mutating func double(_ value: Double) {
        guard let number = JSONNumber(value) else {
            null()
            return
        }
        separate()
        bytes.append(contentsOf: number.text.utf8)
        if style == .pythonDumps, JSONNumber.isWrittenAsInteger(value) {
            bytes.append(contentsOf: ".0".utf8)
        }
    }

    package mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    package mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    // MARK: key + value shorthands

    package mutating func member(_ name: String, _ value: String) {
        key(name)
        string(value)
    }
    package mutating func member(_ name: String, _ value: String?) {
        key(name)
        string(value)
    }
    package mutating func member(_ name: String, _ value: Int) {
        key(name)
        int(value)
    }
    package mutating func member(_ name: String, _ value: Bool) {
        key(name)
        bool(value)
    }
    package mutating func member(_ name: String, _ value: Double) {
        key(name)
        double(value)
    }
    package mutating func nullMember(_ name: String) {
        key(name)
        null()
    }

    /// A comma before every member but the first of its container (not after a key).
    private mutating func separate(isKey: Bool = false) {
        if afterKey {
            afterKey = false
            return
        }
        #if DEBUG
            // `key` asserts its own place; any other write inside an object is a value without a key.
            precondition(isObject.last != true || isKey, "JSONWriter: a value in an object without a key")
        #endif
        guard let last = hasMember.indices.last else { return }
        if hasMember[last] {
            bytes.append(UInt8(ascii: ","))
            if style == .pythonDumps { bytes.append(UInt8(ascii: " ")) }
        } else {
            hasMember[last] = true
        }
    }
}

// MARK: whole values, compact

extension JSONWriter {
    package static func encode(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        append(value, to: &out)
        return out
    }

    package static func append(_ value: JSONValue, to out: inout [UInt8]) {
        switch value {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .bool(let flag):
            out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let number):
            out.append(contentsOf: number.text.utf8)
        case .string(let text):
            appendString(text, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                append(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            appendObject(members, to: &out)
        }
    }

    package static func appendObject(_ members: [JSONMember], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (position, member) in members.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            appendString(member.key, to: &out)
            out.append(UInt8(ascii: ":"))
            append(member.value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `text` as a quoted JSON string: quotes, backslashes and control characters escaped (RFC 8259,
    /// the two-character forms where there is one, as Python's `json.dumps` writes them), everything
    /// else as UTF-8. The one escaper of volumed: API faults come out of it too.
    package static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            // Copy runs of bytes that need no escape in one go.
            var runStart = 0
            for (position, byte) in utf8.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C || byte == 0x7F
            {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<position]))
                appendEscape(byte, to: &out)
                runStart = position + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendEscape(_ byte: UInt8, to out: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
        case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
        case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
        case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
        case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
        case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
        default:
            out.append(contentsOf: [
                0x5C, UInt8(ascii: "u"), 0x30, 0x30, hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)],
            ])
        }
    }
}
