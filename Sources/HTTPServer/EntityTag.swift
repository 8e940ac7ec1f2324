// If-None-Match evaluation (RFC 9110 13.1.2), on bytes.

/// Entity-tag helpers. If-None-Match uses the weak comparison: `W/"a"` matches `"a"`.
package enum EntityTag {
    /// A strong entity-tag for `opaque` (quotes added; quotes and control bytes inside are dropped).
    package static func strong(_ opaque: String) -> String { "\"\(sanitize(opaque))\"" }

    /// A weak entity-tag for `opaque`: `W/"opaque"`.
    package static func weak(_ opaque: String) -> String { "W/\"\(sanitize(opaque))\"" }

    /// Whether the If-None-Match field value `list` (`*`, or a comma-separated list of entity-tags)
    /// matches `etag` under the weak comparison. A malformed member ends the scan as a non-match.
    package static func ifNoneMatch(_ list: String, matches etag: String) -> Bool {
        Self.list(Array(list.utf8)[...], matches: Array(etag.utf8))
    }

    static func list(_ list: ArraySlice<UInt8>, matches etag: [UInt8]) -> Bool {
        guard let wanted = opaqueTag(etag[...]) else { return false }
        var index = list.startIndex
        let end = list.endIndex
        func skipSpaceAndCommas() {
            while index < end, list[index] == 32 || list[index] == 9 || list[index] == 44 { index += 1 }
        }
        skipSpaceAndCommas()
        if index < end, list[index] == UInt8(ascii: "*") {
            var rest = index + 1
            while rest < end, list[rest] == 32 || list[rest] == 9 { rest += 1 }
            return rest == end
        }
        while index < end {
            var start = index
            if end - start >= 2, list[start] == UInt8(ascii: "W"), list[start + 1] == UInt8(ascii: "/") {
                start += 2
            }
            guard start < end, list[start] == 34 else { return false }
            var close = start + 1
            while close < end, list[close] != 34 { close += 1 }
            guard close < end else { return false }
            if list[(start + 1)..<close].elementsEqual(wanted) { return true }
            index = close + 1
            skipSpaceAndCommas()
        }
        return false
    }

    /// The bytes between the quotes of `tag`, ignoring a `W/` prefix.
    private static func opaqueTag(_ tag: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        var start = tag.startIndex
        if tag.count >= 2, tag[start] == UInt8(ascii: "W"), tag[start + 1] == UInt8(ascii: "/") { start += 2 }
        guard tag.endIndex - start >= 2, tag[start] == 34, tag[tag.endIndex - 1] == 34 else { return nil }
        return tag[(start + 1)..<(tag.endIndex - 1)]
    }

    private static func sanitize(_ opaque: String) -> String {
        String(decoding: opaque.utf8.filter { $0 != 34 && $0 > 0x20 && $0 != 0x7f }, as: UTF8.self)
    }
}

/// Lower-case header names the engine looks up, as bytes.
enum HeaderName {
    static let host = Array("host".utf8)
    static let contentLength = Array("content-length".utf8)
    static let transferEncoding = Array("transfer-encoding".utf8)
    static let connection = Array("connection".utf8)
    static let expect = Array("expect".utf8)
    static let ifNoneMatch = Array("if-none-match".utf8)
}
