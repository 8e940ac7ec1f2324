/// The one rule for the names that make up a pool's address, `host@backend#pool`, shared by the
/// configuration check (`check-config`, start-up, reload), the NFS shares file and the scheduler's
/// intake, so a name the configuration accepts is never one the scheduler refuses.
///
/// Lengths count Unicode code points, as Cinder's `len()` on a Python string does; Cinder keeps a
/// service's `host` in a 255-character column.
package enum ServiceName {
    /// The longest `host@backend` (Cinder's `services.host` column).
    package static let maxHostLength = 255

    /// Why a name cannot be part of `host@backend#pool`; callers switch on it or print it.
    package enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case empty
        /// Longer than `limit` code points.
        case tooLong(length: Int, limit: Int)
        /// A character that would split or hide part of the address: '#', '@' where not the
        /// separator, whitespace, a control character (C0, DEL, C1), a format character (Cf).
        case forbiddenCharacter(Unicode.Scalar)
        /// Not exactly one '@' between a non-empty node name and backend name.
        case notHostAtBackend

        package var description: String {
            switch self {
            case .empty: return "must not be empty"
            case .tooLong(let length, let limit): return "is \(length) characters long, more than \(limit)"
            case .forbiddenCharacter(let scalar): return "must not contain \(Self.name(of: scalar))"
            case .notHostAtBackend: return #"expected "host@backend""#
            }
        }

        static func name(of scalar: Unicode.Scalar) -> String {
            switch scalar {
            case "#", "@": return "'\(scalar)'"
            case " ": return "a space"
            case "\t": return "a tab"
            default:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
                if scalar.properties.isWhitespace { return "whitespace (\(code))" }
                if scalar.properties.generalCategory == .format { return "an invisible format character (\(code))" }
                return "a control character (\(code))"
            }
        }
    }

    /// A backend's full host, `node@backend`, as reports carry it and the scheduler stores it.
    package static func checkHost(_ host: String) throws(Problem) {
        let parts = host.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw .notHostAtBackend }
        let length = host.unicodeScalars.count
        guard length <= maxHostLength else { throw .tooLong(length: length, limit: maxHostLength) }
        try checkNode(String(parts[0]))
        try checkBackend(String(parts[1]))
    }

    /// The node part (Cinder's `host` option).
    package static func checkNode(_ node: String) throws(Problem) {
        try checkPart(node, alsoForbidden: "@")
        let length = node.unicodeScalars.count
        guard length < maxHostLength - 1 else { throw .tooLong(length: length, limit: maxHostLength - 2) }
    }

    /// The backend part (a name in `enabled_backends`).
    package static func checkBackend(_ backend: String) throws(Problem) {
        try checkPart(backend, alsoForbidden: "@")
    }

    /// A pool name (`pool_name`, an NFS share, a volume group): anything but the separators' '#',
    /// whitespace and control characters.
    package static func checkPool(_ pool: String) throws(Problem) {
        try checkPart(pool, alsoForbidden: nil)
    }

    /// `text` in double quotes for a message or log line: control characters and whitespace other
    /// than a space written as `\u{7F}`, a double quote or backslash escaped, and a long name cut to
    /// its first 64 characters with its length, so a hostile name never garbles a terminal.
    package static func quoted(_ text: String) -> String {
        var out = "\""
        var count = 0
        for scalar in text.unicodeScalars {
            count += 1
            guard count <= 64 else { continue }
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case " ": out += " "
            default:
                if isForbidden(scalar) && scalar != "#" {
                    out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
        if count > 64 { out += "... (\(count) characters)" }
        return out
    }

    private static func checkPart(_ text: String, alsoForbidden: Unicode.Scalar?) throws(Problem) {
        guard !text.isEmpty else { throw .empty }
        for scalar in text.unicodeScalars where isForbidden(scalar) || scalar == alsoForbidden {
            throw .forbiddenCharacter(scalar)
        }
    }

    /// '#' separates the pool; whitespace and control characters (C0, DEL, C1) hide or split a
    /// name wherever it is shown or parsed; format characters (Unicode category Cf: zero-width
    /// spaces, bidirectional overrides such as U+202E) make two different names look the same or
    /// one name read backwards in a listing.
    static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 { return scalar.value <= 0x20 || scalar.value == 0x7F || scalar == "#" }
        return (0x80...0x9F).contains(scalar.value) || scalar.properties.isWhitespace
            || scalar.properties.generalCategory == .format
    }
}
