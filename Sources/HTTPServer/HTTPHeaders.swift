// Header fields kept as byte ranges over one buffer.

/// An ordered list of header fields with case-insensitive lookup.
///
/// Fields live as ranges over a single byte buffer: a parsed request keeps a copy of its head and
/// never makes a `String` per header unless a handler asks for one, and a response appends its fields
/// to the buffer the encoder copies from. Order and repeated names are preserved.
package struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    struct Field: Sendable {
        var nameStart: Int32
        var nameEnd: Int32
        var valueStart: Int32
        var valueEnd: Int32
    }

    private(set) var storage: [UInt8]
    private(set) var fields: [Field]

    package init() {
        storage = []
        fields = []
    }

    package init(_ pairs: [(name: String, value: String)]) {
        self.init()
        for pair in pairs { add(name: pair.name, value: pair.value) }
    }

    package init(dictionaryLiteral elements: (String, String)...) {
        self.init()
        for (name, value) in elements { add(name: name, value: value) }
    }

    /// Wraps fields the parser already validated, sharing its copy of the head.
    init(parsedHead: [UInt8], fields: [Field]) {
        storage = parsedHead
        self.fields = fields
    }

    package var count: Int { fields.count }
    package var isEmpty: Bool { fields.isEmpty }

    /// Appends a field. CR, LF and NUL in either part are replaced by spaces so a handler can never
    /// split a response (header injection); a name is otherwise written as given.
    package mutating func add(name: String, value: String) {
        let nameStart = storage.count
        appendSanitized(name)
        let nameEnd = storage.count
        appendSanitized(value)
        fields.append(
            Field(
                nameStart: Int32(nameStart), nameEnd: Int32(nameEnd),
                valueStart: Int32(nameEnd), valueEnd: Int32(storage.count)))
    }

    /// Removes every field called `name`, then adds one.
    package mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    /// Removes every field called `name` (case-insensitive).
    package mutating func remove(name: String) {
        let key = Array(name.utf8)
        let kept = fields.filter { !nameEquals($0, key) }
        fields = kept
    }

    /// The first value of the field called `name` (case-insensitive), if any.
    package subscript(name: String) -> String? {
        let key = Array(name.utf8)
        guard let field = fields.first(where: { nameEquals($0, key) }) else { return nil }
        return value(of: field)
    }

    /// Every value of the fields called `name`, in order.
    package func values(forName name: String) -> [String] {
        let key = Array(name.utf8)
        return fields.filter { nameEquals($0, key) }.map(value(of:))
    }

    package func contains(name: String) -> Bool {
        let key = Array(name.utf8)
        return fields.contains { nameEquals($0, key) }
    }

    package func makeIterator() -> AnyIterator<(name: String, value: String)> {
        var index = 0
        return AnyIterator {
            guard index < fields.count else { return nil }
            defer { index += 1 }
            let field = fields[index]
            return (self.name(of: field), self.value(of: field))
        }
    }

    package var description: String {
        map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }

    // MARK: byte-level access for the engine

    /// The value bytes of the first field whose name equals `lowercasedName`, without making a String.
    package func firstValue(lowercasedName: [UInt8]) -> ArraySlice<UInt8>? {
        for field in fields where nameEquals(field, lowercasedName) {
            return storage[Int(field.valueStart)..<Int(field.valueEnd)]
        }
        return nil
    }

    /// Calls `body` with each value whose name equals `lowercasedName` (no allocation when none does).
    package func forEachValue(lowercasedName: [UInt8], _ body: (ArraySlice<UInt8>) -> Void) {
        for field in fields where nameEquals(field, lowercasedName) {
            body(storage[Int(field.valueStart)..<Int(field.valueEnd)])
        }
    }

    /// Writes `name: value\r\n` for every field.
    func encode(into buffer: inout [UInt8]) {
        for field in fields {
            buffer.append(contentsOf: storage[Int(field.nameStart)..<Int(field.nameEnd)])
            buffer.append(UInt8(ascii: ":"))
            buffer.append(UInt8(ascii: " "))
            buffer.append(contentsOf: storage[Int(field.valueStart)..<Int(field.valueEnd)])
            buffer.append(13)
            buffer.append(10)
        }
    }

    private func name(of field: Field) -> String {
        String(decoding: storage[Int(field.nameStart)..<Int(field.nameEnd)], as: UTF8.self)
    }

    private func value(of field: Field) -> String {
        String(decoding: storage[Int(field.valueStart)..<Int(field.valueEnd)], as: UTF8.self)
    }

    /// ASCII case-insensitive comparison of a field's name with `key`.
    private func nameEquals(_ field: Field, _ key: [UInt8]) -> Bool {
        let start = Int(field.nameStart)
        let length = Int(field.nameEnd) - start
        guard length == key.count else { return false }
        return storage.withUnsafeBufferPointer { bytes in
            key.withUnsafeBufferPointer { keyBytes in
                for index in 0..<length where asciiLower(bytes[start + index]) != asciiLower(keyBytes[index]) {
                    return false
                }
                return true
            }
        }
    }

    private mutating func appendSanitized(_ text: String) {
        for byte in text.utf8 {
            storage.append(byte == 13 || byte == 10 || byte == 0 ? UInt8(ascii: " ") : byte)
        }
    }
}

@inline(__always)
func asciiLower(_ byte: UInt8) -> UInt8 {
    byte &- 65 < 26 ? byte | 0x20 : byte
}
