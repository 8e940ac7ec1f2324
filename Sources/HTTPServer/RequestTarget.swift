// Splitting and percent-decoding a request-target.

/// Turns a request-target into a decoded path and query parameters. Pure functions on bytes so the
/// parser, the router and `HTTPRequest.init` share one definition.
enum RequestTarget {
    struct Split {
        var path: String
        var query: Parameters
        /// The raw (still encoded) path bytes, which the router splits on `/` before decoding so an
        /// encoded `%2F` stays inside its segment.
        var rawPath: ArraySlice<UInt8>
    }

    /// Accepts origin-form (`/a/b?x=1`) and absolute-form (`http://host/a/b?x=1`); `*` becomes the path `*`.
    static func split(_ target: ArraySlice<UInt8>) throws(HTTPError) -> Split {
        let slash = UInt8(ascii: "/")
        let question = UInt8(ascii: "?")
        var pathStart = target.startIndex
        if target.first != slash {
            if target.count == 1 && target.first == UInt8(ascii: "*") {
                return Split(path: "*", query: Parameters(), rawPath: target)
            }
            guard let afterScheme = schemeEnd(target) else {
                throw .badRequest("The request-target must start with '/'.")
            }
            var index = afterScheme
            while index < target.endIndex, target[index] != slash, target[index] != question { index += 1 }
            pathStart = index
        }
        var queryStart = pathStart
        while queryStart < target.endIndex, target[queryStart] != question { queryStart += 1 }
        var fragmentStart = queryStart
        while fragmentStart < target.endIndex, target[fragmentStart] != UInt8(ascii: "#") { fragmentStart += 1 }
        let rawPath = pathStart < queryStart ? target[pathStart..<queryStart] : rootPath
        let path = try decodeComponent(rawPath, plusIsSpace: false)
        let query =
            queryStart + 1 < fragmentStart
            ? try parseQuery(target[(queryStart + 1)..<fragmentStart]) : Parameters()
        return Split(path: path, query: query, rawPath: rawPath)
    }

    private static let rootPath: ArraySlice<UInt8> = [UInt8(ascii: "/")]

    /// `name=value&...`; `+` is a space; an item without `=` has the empty value; empty items skipped.
    static func parseQuery(_ query: ArraySlice<UInt8>) throws(HTTPError) -> Parameters {
        var result = Parameters()
        var itemStart = query.startIndex
        while itemStart <= query.endIndex {
            var itemEnd = itemStart
            while itemEnd < query.endIndex, query[itemEnd] != UInt8(ascii: "&") { itemEnd += 1 }
            if itemEnd > itemStart {
                let item = query[itemStart..<itemEnd]
                if let equals = item.firstIndex(of: UInt8(ascii: "=")) {
                    result.append(
                        name: try decodeComponent(item[itemStart..<equals], plusIsSpace: true),
                        value: try decodeComponent(item[(equals + 1)..<itemEnd], plusIsSpace: true))
                } else {
                    result.append(name: try decodeComponent(item, plusIsSpace: true), value: "")
                }
            }
            itemStart = itemEnd + 1
        }
        return result
    }

    /// Percent-decodes `bytes`; the result must be valid UTF-8 without NUL.
    static func decodeComponent(_ bytes: ArraySlice<UInt8>, plusIsSpace: Bool) throws(HTTPError) -> String {
        if !bytes.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex,
                    let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
                else { throw .badRequest("Invalid percent-encoding in the request-target.") }
                let value = high << 4 | low
                guard value != 0 else { throw .badRequest("Percent-encoded NUL in the request-target.") }
                decoded.append(value)
                index += 3
            } else {
                decoded.append(plusIsSpace && byte == UInt8(ascii: "+") ? 32 : byte)
                index += 1
            }
        }
        guard let text = String(validating: decoded, as: UTF8.self) else {
            throw .badRequest("The request-target does not decode to UTF-8.")
        }
        return text
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The index just past `scheme://`, for absolute-form targets.
    private static func schemeEnd(_ target: ArraySlice<UInt8>) -> Int? {
        guard let colon = target.firstIndex(of: UInt8(ascii: ":")), colon > target.startIndex,
            target[target.startIndex..<colon].allSatisfy({
                asciiLower($0) >= UInt8(ascii: "a") && asciiLower($0) <= UInt8(ascii: "z")
            }),
            target.endIndex >= colon + 3, target[colon + 1] == UInt8(ascii: "/"), target[colon + 2] == UInt8(ascii: "/")
        else { return nil }
        return colon + 3
    }
}
