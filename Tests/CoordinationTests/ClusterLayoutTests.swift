import Scheduler
import Testing

@testable import Coordination

@Suite("Cluster key layout and records", .offCooperativePool)
struct ClusterLayoutTests {
    let layout = ClusterLayout()!
    let stamp = CapabilityTimestamp(parsing: "2026-12-02T06:10:00.250000")!

    @Test func keysAreWhereTheLayoutSaysAndReadBack() {
        let entries: [(ClusterLayout.Entry, String)] = [
            (.service(host: "node1@gold", binary: "cinder-volume"), "/volumed/services/node1@gold/cinder-volume"),
            (.lastSeen(host: "node1@gold", binary: "cinder-volume"), "/volumed/last-seen/node1@gold/cinder-volume"),
            (.report(host: "node1@gold"), "/volumed/reports/node1@gold"),
            (.decision(host: "node1@gold", binary: "cinder-volume"), "/volumed/decisions/node1@gold/cinder-volume"),
        ]
        for (entry, key) in entries {
            #expect(layout.key(entry) == key)
            #expect(layout.entry(of: key) == entry)
        }
        #expect(layout.everything == .prefix("/volumed/"))
        #expect(layout.reports == .prefix("/volumed/reports/"))
    }

    @Test func hostNamesCannotReachIntoAnotherKey() {
        let tricky = "evil/../decisions/x@y%2F é"
        let key = layout.key(.report(host: tricky))
        #expect(key == "/volumed/reports/evil%2F..%2Fdecisions%2Fx@y%252F%20%C3%A9")
        #expect(layout.entry(of: key) == .report(host: tricky))
    }

    @Test func foreignAndMalformedKeysAreNotEntries() {
        for key in [
            "/other/reports/a@b", "/volumed/reports/a@b/extra", "/volumed/unknown/a@b", "/volumed/reports/",
            "/volumed/reports/a%2", "/volumed/reports/a%41", "/volumed/reports/a b", "/volumedx/reports/a@b",
            "/volumed/services/a@b",
        ] {
            #expect(layout.entry(of: key) == nil, "\(key)")
        }
    }

    @Test func rootsMustBeAbsoluteWithoutTrailingSlash() {
        #expect(ClusterLayout(root: "/test/run1")?.key(.report(host: "h@b")) == "/test/run1/reports/h@b")
        #expect(ClusterLayout(root: "volumed") == nil)
        #expect(ClusterLayout(root: "/volumed/") == nil)
        #expect(ClusterLayout(root: "/a\nb") == nil)
    }

    @Test func serviceRecordRoundTrips() throws {
        let record = ServiceRecord(
            host: "node1@gold", binary: "cinder-volume", zone: "nova", apiURL: "http://10.0.0.1:8776", updatedAt: stamp)
        let text = String(decoding: record.encoded(), as: UTF8.self)
        #expect(
            text
                == #"{"host":"node1@gold","binary":"cinder-volume","zone":"nova","api_url":"http://10.0.0.1:8776","updated_at":"2026-12-02T06:10:00.250000"}"#
        )
        #expect(try ServiceRecord.decode(record.encoded(), key: "k") == record)
        let newer = Array(
            #"{"host":"h@b","binary":"cinder-volume","zone":"z","api_url":"u","updated_at":"2026-12-02T06:10:00","extra":[1]}"#
                .utf8)
        #expect(try ServiceRecord.decode(newer, key: "k").host == "h@b")
    }

    @Test func decisionRecordRoundTripsWithAndWithoutReason() throws {
        let disabled = DecisionRecord(disabled: true, disabledReason: "disk \"swap\"", frozen: false, updatedAt: stamp)
        #expect(
            String(decoding: disabled.encoded(), as: UTF8.self)
                == #"{"disabled":true,"disabled_reason":"disk \"swap\"","frozen":false,"updated_at":"2026-12-02T06:10:00.250000"}"#
        )
        #expect(try DecisionRecord.decode(disabled.encoded(), key: "k") == disabled)
        let frozen = DecisionRecord(disabled: false, disabledReason: nil, frozen: true, updatedAt: stamp)
        #expect(try DecisionRecord.decode(frozen.encoded(), key: "k") == frozen)
    }

    @Test func damagedRecordsNameTheKeyAndTheField() {
        #expect(throws: ClusterRecordError(key: "/k", problem: "zone is missing or not a string")) {
            try ServiceRecord.decode(
                Array(#"{"host":"h","binary":"b","api_url":"u","updated_at":"2026-12-02T06:10:00"}"#.utf8), key: "/k")
        }
        #expect(throws: ClusterRecordError(key: "/k", problem: "updated_at is not a timestamp: yesterday")) {
            try DecisionRecord.decode(
                Array(#"{"disabled":true,"frozen":false,"updated_at":"yesterday"}"#.utf8), key: "/k")
        }
        #expect(throws: ClusterRecordError(key: "/k", problem: "disabled_reason is not a string or null")) {
            try DecisionRecord.decode(
                Array(#"{"disabled":true,"disabled_reason":5,"frozen":false,"updated_at":"2026-12-02T06:10:00"}"#.utf8),
                key: "/k")
        }
        #expect(throws: ClusterRecordError.self) { try ServiceRecord.decode(Array("[1]".utf8), key: "/k") }
        #expect(throws: ClusterRecordError.self) { try ServiceRecord.decode(Array("{".utf8), key: "/k") }
    }

    @Test func storedReportsAreReadByTheSchedulersParser() throws {
        let body = Array(
            #"{"host":"node1@gold","service":"cinder-volume","timestamp":"2026-12-02T06:10:00.000000","capabilities":{"backend_state":"up","volume_backend_name":"gold","vendor_name":"Open Source","driver_version":"1.0","storage_protocol":"nfs","total_capacity_gb":10,"free_capacity_gb":5}}"#
                .utf8)
        let report = try StoredReport.decode(body, key: "/volumed/reports/node1@gold")
        #expect(report.host == "node1@gold")
        #expect(report.backendState == .up)
        #expect(throws: ClusterRecordError.self) {
            try StoredReport.decode(Array(#"{"reports":[]}"#.utf8), key: "/volumed/reports/x")
        }
    }
}
