import Testing

@testable import Drivers

/// The array's documents go through the one JSON parser (module JSON, tested there); what this
/// driver adds is where a body broke, as line and column, for the operator reading the last error.
@Suite(.offCooperativePool) struct ArrayDocumentSyntaxTests {
    @Test(arguments: [
        (#"{"a": 1,}"#, "line 1, column 9: expected a string key"),
        ("", "line 1, column 1: unexpected end of data"),
        ("{\n  \"a\": 1\n  \"b\": 2}", "line 3, column 3: expected ',' or '}' in an object"),
        (#"{"a": 1, "a": 2}"#, #"line 1, column 10: duplicate key "a""#),
        (#"{"\#u{e9}\#u{e9}": x}"#, "line 1, column 8: unexpected character 'x'"),
    ])
    func saysWhereItBroke(_ text: String, _ message: String) {
        let error = #expect(throws: ArrayDocumentError.self) {
            try ArrayDocuments.health(Array(text.utf8))
        }
        #expect(error?.message == "not valid JSON: " + message)
    }

    /// The driver's former parser of its own replaced invalid UTF-8 with U+FFFD and read `\u+fff`
    /// as U+0FFF (it parsed hex with `UInt32(_:radix:)`, which takes a sign); both are refused now.
    @Test func refusesWhatTheFormerParserLetThrough() {
        let error = #expect(throws: ArrayDocumentError.self) {
            try ArrayDocuments.health(
                Array(#"{"status": "ok", "message": ""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8))
        }
        #expect(error?.message == "not valid JSON: line 1, column 33: string is not valid UTF-8")
        let error2 = #expect(throws: ArrayDocumentError.self) {
            try ArrayDocuments.health(Array(#"{"status": "ok\u+fff"}"#.utf8))
        }
        #expect(error2?.message == #"not valid JSON: line 1, column 17: invalid hex digit in \u escape"#)
    }
}

@Suite(.offCooperativePool) struct ArrayDocumentsTests {
    @Test func readsHealth() throws {
        #expect(
            try ArrayDocuments.health(
                Array(#"{"status": "degraded", "message": "rebuilding", "vendor": "Acme", "x": 1}"#.utf8))
                == ArrayHealth(
                    status: .degraded, message: "rebuilding", vendor: "Acme", model: nil, firmwareVersion: nil,
                    storageProtocol: nil))
        let error = #expect(throws: ArrayDocumentError.self) {
            try ArrayDocuments.health(Array(#"{"status": "fine"}"#.utf8))
        }
        #expect(error?.message == #"status: expected one of ok, degraded, down, got "fine""#)
        let error2 = #expect(throws: ArrayDocumentError.self) {
            try ArrayDocuments.health(Array("{}".utf8))
        }
        #expect(error2?.message == "status: expected a string, got nothing")
        let error3 = #expect(throws: ArrayDocumentError.self) {
            try ArrayDocuments.health(Array("<html>".utf8))
        }
        #expect(error3?.message == "not valid JSON: line 1, column 1: unexpected character '<'")
    }

    @Test func readsCapacity() throws {
        let capacity = try ArrayDocuments.capacity(
            Array(
                """
                {"pools": [{"name": "gold", "total_capacity_gb": 100, "free_capacity_gb": 25.5,
                            "thin_provisioning_support": true, "max_over_subscription_ratio": 10},
                           {"name": "silver", "total_capacity_gb": 50, "free_capacity_gb": 50}]}
                """.utf8))
        #expect(
            capacity
                == ArrayCapacity(pools: [
                    .init(
                        name: "gold", totalCapacityGB: 100, freeCapacityGB: 25.5, thinProvisioningSupport: true,
                        maxOverSubscriptionRatio: 10),
                    .init(
                        name: "silver", totalCapacityGB: 50, freeCapacityGB: 50, thinProvisioningSupport: false,
                        maxOverSubscriptionRatio: nil),
                ]))
    }

    @Test(arguments: [
        (#"[]"#, "the document: expected an object, got an array"),
        (#"{"pools": []}"#, "pools: expected at least one pool, got none"),
        (
            #"{"pools": [{"name": "a", "total_capacity_gb": "lots", "free_capacity_gb": 1}]}"#,
            #"pools[0].total_capacity_gb: expected a number of GiB >= 0, got a string "lots""#
        ),
        (
            #"{"pools": [{"name": "a", "total_capacity_gb": 1, "free_capacity_gb": 2}]}"#,
            "pools[0].free_capacity_gb: 2.0 is more than total_capacity_gb 1.0"
        ),
        (
            #"{"pools": [{"name": "a", "total_capacity_gb": 1, "free_capacity_gb": 1}, {"name": "a", "total_capacity_gb": 1, "free_capacity_gb": 1}]}"#,
            #"pools[1].name: "a" repeats pools[0]"#
        ),
        (
            #"{"pools": [{"name": "a", "total_capacity_gb": 1, "free_capacity_gb": 1, "thin_provisioning_support": "yes"}]}"#,
            #"pools[0].thin_provisioning_support: expected true or false, got a string "yes""#
        ),
    ])
    func rejectsDocumentsOffContract(_ text: String, _ message: String) {
        let error = #expect(throws: ArrayDocumentError.self) { try ArrayDocuments.capacity(Array(text.utf8)) }
        #expect(error?.message == message)
    }
}

@Suite struct ArrayDocumentErrorTests {
    @Test("a refused document names the member at fault and a problem callers can switch on")
    func problemsAreCases() {
        let repeated = #expect(throws: ArrayDocumentError.self) {
            try ArrayDocuments.capacity(
                Array(
                    #"{"pools": [{"name": "a", "total_capacity_gb": 1, "free_capacity_gb": 1}, {"name": "a", "total_capacity_gb": 1, "free_capacity_gb": 1}]}"#
                        .utf8))
        }
        #expect(repeated?.member == "pools[1].name")
        #expect(repeated?.problem == .repeatedName("a", firstIndex: 0))

        let overfull = #expect(throws: ArrayDocumentError.self) {
            try ArrayDocuments.capacity(
                Array(#"{"pools": [{"name": "a", "total_capacity_gb": 1, "free_capacity_gb": 2}]}"#.utf8))
        }
        guard case .freeExceedsTotal(let free, let total)? = overfull?.problem else {
            Issue.record("expected freeExceedsTotal, got \(String(describing: overfull))")
            return
        }
        #expect(free == 2 && total == 1)

        let notJSON = #expect(throws: ArrayDocumentError.self) { try ArrayDocuments.health(Array("<html>".utf8)) }
        #expect(notJSON?.member == nil)
        #expect(notJSON?.problem == .notJSON(line: 1, column: 1, reason: "unexpected character '<'"))

        let status = #expect(throws: ArrayDocumentError.self) {
            try ArrayDocuments.health(Array(#"{"status": "fine"}"#.utf8))
        }
        #expect(status?.problem == .unknownStatus("fine"))
        let missing = #expect(throws: ArrayDocumentError.self) { try ArrayDocuments.health(Array("{}".utf8)) }
        #expect(missing?.problem == .expected("a string", got: "nothing"))
        #expect(ArrayDocumentError("pools", .noPools).description == "pools: expected at least one pool, got none")
        #expect(ArrayDocumentError("pools[0].name", .emptyName).message == "pools[0].name: must not be empty")
    }
}
