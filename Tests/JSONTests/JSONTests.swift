import JSON
import Testing

@Suite("JSON parser and writer")
struct JSONTests {
    func roundTrip(_ text: String) throws -> String {
        String(decoding: JSONWriter.encode(try JSONParser.parse(Array(text.utf8))), as: UTF8.self)
    }

    @Test func keepsKeyOrderAndNumberLiterals() throws {
        let text = #"{"z":1,"a":[1.50,-0,2e10,1E-3],"m":{"t":true,"f":false,"n":null},"s":"x"}"#
        #expect(try roundTrip(text) == text)
    }

    @Test func dropsWhitespaceAndNormalizesEscapes() throws {
        let text = " { \"k\" : \"a\\/b\\u00e9\\ud83d\\ude00\\n\\u0001\" } \n"
        #expect(try roundTrip(text) == "{\"k\":\"a/b\u{e9}\u{1F600}\\n\\u0001\"}")
    }

    @Test func readsValues() throws {
        let value = try JSONParser.parse(Array(#"{"n": 12.5, "s": "t", "b": true, "a": []}"#.utf8))
        #expect(value["n"]?.numberValue == 12.5)
        #expect(value["s"]?.stringValue == "t")
        #expect(value["b"]?.boolValue == true)
        #expect(value["a"] == .array([]))
        #expect(value["missing"] == nil)
    }

    @Test(arguments: [
        ("", "invalid JSON at byte 0: unexpected end of data"),
        ("{", "invalid JSON at byte 1: expected a string key"),
        (#"{"a":1,}"#, "invalid JSON at byte 7: expected a string key"),
        (#"{"a":1 "b":2}"#, "invalid JSON at byte 7: expected ',' or '}' in an object"),
        (#"{"a":1,"a":2}"#, #"invalid JSON at byte 7: duplicate key "a""#),
        ("[1,2", "invalid JSON at byte 4: expected ',' or ']' in an array"),
        ("01", "invalid JSON at byte 0: invalid number 01"),
        ("1.", "invalid JSON at byte 0: invalid number 1."),
        ("-", "invalid JSON at byte 0: invalid number -"),
        ("1e999", "invalid JSON at byte 0: invalid number 1e999"),
        ("tru", "invalid JSON at byte 0: invalid literal, expected true"),
        ("NaN", "invalid JSON at byte 0: unexpected character 'N'"),
        (#""abc"#, "invalid JSON at byte 4: unterminated string"),
        ("\"a\tb\"", "invalid JSON at byte 2: unescaped control character in a string"),
        (#""\x""#, #"invalid JSON at byte 3: invalid escape \'x'"#),
        (#""\ud800""#, #"invalid JSON at byte 7: unpaired surrogate in \u escape"#),
        (#""\u12G4""#, #"invalid JSON at byte 5: invalid hex digit in \u escape"#),
        ("{} {}", "invalid JSON at byte 3: unexpected data after the document"),
    ])
    func refusesMalformedDocuments(text: String, message: String) {
        let error = #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(text.utf8)) }
        #expect(error?.description == message)
    }

    @Test func refusesInvalidUTF8() {
        let bytes: [UInt8] = [0x22, 0xC3, 0x28, 0x22]
        let error = #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(bytes) }
        #expect(error?.description == "invalid JSON at byte 4: string is not valid UTF-8")
    }

    /// `UInt32("+fff", radix: 16)` is 4095: a parser that reads hex that way accepts a sign.
    @Test func refusesASignInAUnicodeEscape() {
        let error = #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(#""\u+fff""#.utf8)) }
        #expect(error?.description == #"invalid JSON at byte 3: invalid hex digit in \u escape"#)
    }

    /// Keys are code points, as JSON defines them: "\u00e9" and "e\u0301" are canonically
    /// equivalent (`String ==` calls them equal) but two different keys, neither a duplicate.
    @Test func comparesKeysByCodePoints() throws {
        let value = try JSONParser.parse(Array(#"{"\u00e9": 1, "e\u0301": 2}"#.utf8))
        #expect(value["\u{e9}"]?.numberValue == 1)
        #expect(value["e\u{301}"]?.numberValue == 2)
        // Past 32 members the duplicate check switches to a set: code points there too.
        let large = "{" + (0..<40).map { #""k\#($0)": 0, "# }.joined() + #""\u00e9": 1, "e\u0301": 2}"#
        let members = try JSONParser.parse(Array(large.utf8))
        #expect(members["e\u{301}"]?.numberValue == 2)
        let duplicate = #expect(throws: JSONSyntaxError.self) {
            try JSONParser.parse(Array(#"{"e\u0301": 1, "e\u0301": 2}"#.utf8))
        }
        #expect(duplicate?.reason.hasPrefix("duplicate key") == true)
    }

    @Test func boundsNesting() throws {
        let deepest =
            String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        #expect(try roundTrip(deepest) == deepest)
        let tooDeep = String(repeating: "[", count: 100_000)
        let error = #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(tooDeep.utf8)) }
        #expect(error?.description == "invalid JSON at byte 64: nested deeper than 64 levels")
    }

    /// Backspace and form feed take their two-character escapes, as Python's `json.dumps` writes
    /// them (and as the API's faults always did).
    @Test func writesShortEscapesForBackspaceAndFormFeed() {
        #expect(
            String(decoding: JSONWriter.encode(.string("a\u{8}b\u{c}c\u{1}")), as: UTF8.self) == #""a\bb\fc\u0001""#)
    }

    #if DEBUG
        /// Debug builds stop a writer whose containers do not nest (a close that does not match its
        /// open, a value in an object without a key) before it writes a document that does not parse.
        @Test func debugBuildsCheckNesting() async {
            await #expect(processExitsWith: .failure) {
                var json = JSONWriter(style: .compact)
                json.beginObject()
                json.endArray()
            }
            await #expect(processExitsWith: .failure) {
                var json = JSONWriter(style: .compact)
                json.beginObject()
                json.int(1)
            }
            await #expect(processExitsWith: .failure) {
                var json = JSONWriter(style: .compact)
                json.beginArray()
                json.key("a")
            }
        }
    #endif

    @Test func writesEscapes() {
        let value = JSONValue.string("q\"b\\c\r\t\u{7F}é")
        #expect(String(decoding: JSONWriter.encode(value), as: UTF8.self) == #""q\"b\\c\r\t\u007fé""#)
    }

    @Test func numbersFromDoubles() {
        #expect(JSONNumber(3.0)?.text == "3")
        #expect(JSONNumber(2.5)?.text == "2.5")
        #expect(JSONNumber(Double.nan) == nil)
        #expect(JSONNumber("1.0e5")?.value == 100_000)
        #expect(JSONNumber("+1") == nil)
    }
}
