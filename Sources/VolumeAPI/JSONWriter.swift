// A streaming JSON writer that appends straight to response bytes.

import HTTPServer

/// Writes JSON into a byte buffer in the order the caller emits it. The API's shapes are fixed
/// (Cinder's key order, explicit nulls), and the views are encoded once per snapshot version, so a
/// writer that never builds an intermediate tree keeps the encode of 1,000 backends cheap and the
/// output byte-for-byte predictable.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// One entry per open container: whether it already holds a member.
    private var hasMember: [Bool] = []
    /// Set after a key was written, so the next value does not get a comma.
    private var afterKey = false

    init(reservingCapacity capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    // MARK: containers

    mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        hasMember.append(false)
    }

    mutating func endObject() {
        hasMember.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        hasMember.append(false)
    }

    mutating func endArray() {
        hasMember.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes `"name": ` inside an object; the next value call completes the member.
    mutating func key(_ name: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        appendJSONEscaped(name, to: &bytes)
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":"), UInt8(ascii: " ")])
        afterKey = true
    }

    // MARK: scalars

    mutating func string(_ value: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        appendJSONEscaped(value, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func string(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    mutating func int(_ value: Int) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A finite double in its shortest round-trip form (`1.5`, `100.0`, `1e-05`); JSON has no
    /// infinities or NaN, so those are written as null.
    mutating func double(_ value: Double) {
        guard value.isFinite else {
            null()
            return
        }
        separate()
        if value == value.rounded(), abs(value) < 1e15 {
            bytes.append(contentsOf: String(Int64(value)).utf8)
            bytes.append(contentsOf: ".0".utf8)
        } else {
            bytes.append(contentsOf: String(value).utf8)
        }
    }

    mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    /// Appends bytes that already hold one complete JSON value (a fragment encoded earlier).
    mutating func raw(_ json: [UInt8]) {
        separate()
        bytes.append(contentsOf: json)
    }

    // MARK: key + value shorthands

    mutating func member(_ name: String, _ value: String) { key(name); string(value) }
    mutating func member(_ name: String, _ value: String?) { key(name); string(value) }
    mutating func member(_ name: String, _ value: Int) { key(name); int(value) }
    mutating func member(_ name: String, _ value: Bool) { key(name); bool(value) }
    mutating func member(_ name: String, _ value: Double) { key(name); double(value) }
    mutating func nullMember(_ name: String) { key(name); null() }

    /// A comma before every member but the first of its container (not after a key).
    private mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        guard let last = hasMember.indices.last else { return }
        if hasMember[last] {
            bytes.append(contentsOf: [UInt8(ascii: ","), UInt8(ascii: " ")])
        } else {
            hasMember[last] = true
        }
    }
}
