import Foundation
import JSON
import Testing

@Suite("JSON writer, member by member")
struct JSONWriterTests {
    /// One document covering every call, written in `style`.
    func sample(_ style: JSONWriter.Style) -> String {
        var json = JSONWriter(style: style)
        json.beginObject()
        json.member("a", "x\"y\\z\n\u{1}é")
        json.member("b", 3)
        json.member("c", 1.5)
        json.member("d", 100.0)
        json.member("e", Double.nan)
        json.member("f", true)
        json.member("g", nil as String?)
        json.key("h")
        json.beginArray()
        json.int(1)
        json.beginObject()
        json.endObject()
        json.beginArray()
        json.endArray()
        json.double(-0.0)
        json.double(1e-05)
        json.double(Double.infinity)
        json.endArray()
        json.key("j")
        json.preformattedString { $0.append(contentsOf: "2026-11-26T17:40:00.250000".utf8) }
        json.nullMember("k")
        json.endObject()
        return String(decoding: json.bytes, as: UTF8.self)
    }

    @Test("python style: spaced separators, floats keep a fraction, explicit nulls")
    func pythonDumps() throws {
        let text = sample(.pythonDumps)
        #expect(
            text == #"{"a": "x\"y\\z\n\u0001é", "b": 3, "c": 1.5, "d": 100.0, "e": null, "f": true, "g": null, "#
                + #""h": [1, {}, [], 0.0, 1e-05, null], "j": "2026-11-26T17:40:00.250000", "#
                + #""k": null}"#)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(parsed["a"] as? String == "x\"y\\z\n\u{1}é")
    }

    @Test("compact style: no spaces, integral numbers without a fraction")
    func compact() throws {
        let text = sample(.compact)
        #expect(
            text == #"{"a":"x\"y\\z\n\u0001é","b":3,"c":1.5,"d":100,"e":null,"f":true,"g":null,"#
                + #""h":[1,{},[],0,1e-05,null],"j":"2026-11-26T17:40:00.250000","k":null}"#)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(parsed["d"] as? Int == 100)
    }
}
