import Testing
@testable import Drivers

@Suite struct JSONDocumentTests {
    func parse(_ text: String) throws(JSONParseError) -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    @Test func readsValues() throws {
        #expect(try parse(#" {"a": [1, -2.5e2, true, false, null, "x\n\u00e9\ud83d\ude00"], "b": {}} "#) == .object([
            "a": .array([.number(1), .number(-250), .bool(true), .bool(false), .null, .string("x\né😀")]),
            "b": .object([:]),
        ]))
    }

    @Test(arguments: [
        (#"{"a": 1,}"#, "line 1, column 9: expected a member name in double quotes, found '}'"),
        (#"{"a": tru}"#, "line 1, column 7: expected true, found 't'"),
        ("", "line 1, column 1: expected a value, found the end of the document"),
        ("[1", "line 1, column 3: expected ',' or ']', found the end of the document"),
        ("{\n  \"a\": 1\n  \"b\": 2}", "line 3, column 3: expected ',' or '}', found '\"'"),
        (#"{"a": 1, "a": 2}"#, #"line 1, column 10: member "a" appears twice"#),
        ("01", "line 1, column 1: numbers must not have leading zeros"),
        ("1e999", "line 1, column 1: number out of range"),
        (#""\x""#, #"line 1, column 2: invalid escape \x"#),
        ("{} x", "line 1, column 4: unexpected text after the document"),
        (String(repeating: "[", count: 100), "line 1, column 65: nested deeper than 64 levels"),
    ])
    func reportsWhereItBroke(_ text: String, _ message: String) {
        #expect(throws: JSONParseError.self) { try parse(text) }
        do {
            _ = try parse(text)
        } catch {
            #expect(error.description == message)
        }
    }
}

@Suite struct ArrayDocumentsTests {
    @Test func readsHealth() throws {
        #expect(try ArrayDocuments.health(Array(#"{"status": "degraded", "message": "rebuilding", "vendor": "Acme", "x": 1}"#.utf8))
            == ArrayHealth(status: .degraded, message: "rebuilding", vendor: "Acme", model: nil, firmwareVersion: nil,
                           storageProtocol: nil))
        #expect(throws: ArrayDocumentError(message: #"status: expected one of ok, degraded, down, got "fine""#)) {
            try ArrayDocuments.health(Array(#"{"status": "fine"}"#.utf8))
        }
        #expect(throws: ArrayDocumentError(message: "status: expected a string, got nothing")) {
            try ArrayDocuments.health(Array("{}".utf8))
        }
        #expect(throws: ArrayDocumentError(message: "not valid JSON: line 1, column 1: expected a value, found '<'")) {
            try ArrayDocuments.health(Array("<html>".utf8))
        }
    }

    @Test func readsCapacity() throws {
        let capacity = try ArrayDocuments.capacity(Array("""
            {"pools": [{"name": "gold", "total_capacity_gb": 100, "free_capacity_gb": 25.5,
                        "thin_provisioning_support": true, "max_over_subscription_ratio": 10},
                       {"name": "silver", "total_capacity_gb": 50, "free_capacity_gb": 50}]}
            """.utf8))
        #expect(capacity == ArrayCapacity(pools: [
            .init(name: "gold", totalCapacityGB: 100, freeCapacityGB: 25.5, thinProvisioningSupport: true, maxOverSubscriptionRatio: 10),
            .init(name: "silver", totalCapacityGB: 50, freeCapacityGB: 50, thinProvisioningSupport: false, maxOverSubscriptionRatio: nil),
        ]))
    }

    @Test(arguments: [
        (#"[]"#, "the document: expected an object, got an array"),
        (#"{"pools": []}"#, "pools: expected at least one pool, got none"),
        (#"{"pools": [{"name": "a", "total_capacity_gb": "lots", "free_capacity_gb": 1}]}"#,
         #"pools[0].total_capacity_gb: expected a number of GiB >= 0, got a string "lots""#),
        (#"{"pools": [{"name": "a", "total_capacity_gb": 1, "free_capacity_gb": 2}]}"#,
         "pools[0].free_capacity_gb: 2.0 is more than total_capacity_gb 1.0"),
        (#"{"pools": [{"name": "a", "total_capacity_gb": 1, "free_capacity_gb": 1}, {"name": "a", "total_capacity_gb": 1, "free_capacity_gb": 1}]}"#,
         #"pools[1].name: "a" repeats pools[0]"#),
        (#"{"pools": [{"name": "a", "total_capacity_gb": 1, "free_capacity_gb": 1, "thin_provisioning_support": "yes"}]}"#,
         #"pools[0].thin_provisioning_support: expected true or false, got a string "yes""#),
    ])
    func rejectsDocumentsOffContract(_ text: String, _ message: String) {
        #expect(throws: ArrayDocumentError(message: message)) { try ArrayDocuments.capacity(Array(text.utf8)) }
    }
}
