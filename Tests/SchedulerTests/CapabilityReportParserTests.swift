import Foundation
import JSON
import Scheduler
import Testing

/// A valid report as the publisher sends it, with `capabilities` given as JSON members text.
func reportText(
    host: String = "node1@nfs-gold",
    timestamp: String = "2026-11-24T17:40:00.000000",
    capabilities: String = upCapabilities
) -> String {
    #"{"host": "\#(host)", "service": "cinder-volume", "timestamp": "\#(timestamp)", "capabilities": {\#(capabilities)}}"#
}

let upCapabilities =
    #""backend_state": "up", "volume_backend_name": "gold", "vendor_name": "Open Source", "driver_version": "1.4.0", "storage_protocol": "nfs", "total_capacity_gb": 1024, "free_capacity_gb": 512.5, "reserved_percentage": 5"#

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite("Capability report validation")
struct CapabilityReportParserTests {
    @Test func acceptsOneReport() throws {
        let reports = try CapabilityReportParser.parse(
            bytes(reportText(capabilities: upCapabilities + #", "fancy": {"x": [1]}"#))
        ).valid
        #expect(reports.count == 1)
        let report = try #require(reports.first)
        #expect(report.host == "node1@nfs-gold")
        #expect(report.service == "cinder-volume")
        #expect(report.timestamp.description == "2026-11-24T17:40:00.000000")
        #expect(report.backendState == .up)
        #expect(report.status == .enabled)
        #expect(report.disabledReason == nil)
        #expect(report.pools == nil)
        #expect(
            report.capabilities.map(\.key) == [
                "backend_state", "volume_backend_name", "vendor_name", "driver_version", "storage_protocol",
                "total_capacity_gb", "free_capacity_gb", "reserved_percentage", "fancy",
            ])
        #expect(report.capability("fancy") == .object([JSONMember("x", .array([.number(JSONNumber("1")!)]))]))
    }

    @Test func acceptsABatchWithPoolsDownAndDisabledReports() throws {
        let pools =
            #""backend_state": "up", "volume_backend_name": "lvm", "vendor_name": "Open Source", "driver_version": 3, "storage_protocol": ["iSCSI", "FC"], "pools": [{"pool_name": "fast", "total_capacity_gb": "infinite", "free_capacity_gb": "unknown"}, {"pool_name": "slow", "total_capacity_gb": 10, "free_capacity_gb": 0}]"#
        let body =
            #"{"reports": [\#(reportText(host: "a@lvm", capabilities: pools)), \#(reportText(host: "b@nfs", capabilities: #""backend_state": "down""#)), \#(reportText(host: "c@nfs", capabilities: upCapabilities + #", "status": "disabled", "disabled_reason": "maintenance""#))]}"#
        let reports = try CapabilityReportParser.parse(bytes(body)).valid
        #expect(reports.map(\.host) == ["a@lvm", "b@nfs", "c@nfs"])
        #expect(reports[0].pools?.map(\.name) == ["fast", "slow"])
        #expect(reports[0].capability("pools") == nil)
        #expect(reports[1].backendState == .down)
        #expect(reports[2].status == .disabled)
        #expect(reports[2].disabledReason == "maintenance")
    }

    @Test(arguments: [
        // (body, exact message)
        ("[1]", "body: expected a JSON object"),
        ("{", "body: invalid JSON at byte 1: expected a string key"),
        (#"{"reports": []}"#, "reports: expected a non-empty array of reports"),
        (#"{"reports": {}}"#, "reports: expected a non-empty array of reports"),
        (#"{"service": "cinder-volume"}"#, "host: required"),
        (reportText(host: "node1"), #"host: "node1" expected "host@backend""#),
        (reportText(host: "node1@nfs#gold"), #"host: "node1@nfs#gold" must not contain '#'"#),
        (reportText(host: "@nfs"), #"host: "@nfs" expected "host@backend""#),
        (reportText(host: "a b@nfs"), #"host: "a b@nfs" must not contain a space"#),
        (reportText(host: "a@b@c"), #"host: "a@b@c" must not contain '@'"#),
        (reportText(host: "node\\u007f@nfs"), #"host: "node\u{7F}@nfs" must not contain a control character (U+007F)"#),
        (reportText(host: "node1@nfs\\t"), #"host: "node1@nfs\u{9}" must not contain a tab"#),
        (
            reportText(host: "node1@\\u202ecba"),
            #"host: "node1@\u{202E}cba" must not contain an invisible format character (U+202E)"#
        ),
        (
            reportText(host: "node\\u200b1@b"),
            #"host: "node\u{200B}1@b" must not contain an invisible format character (U+200B)"#
        ),
        (
            reportText().replacingOccurrences(of: "cinder-volume", with: "cinder-backup"),
            #"service: expected "cinder-volume""#
        ),
        (reportText(timestamp: "yesterday"), #"timestamp: expected a UTC time like "2026-11-24T17:40:00.000000""#),
        (#"{"host": "a@b", "service": "cinder-volume", "timestamp": 5}"#, "timestamp: expected a string"),
        (#"{"host": "a@b", "service": "cinder-volume", "timestamp": "2026-11-24T17:40:00"}"#, "capabilities: required"),
        (
            #"{"host": "a@b", "service": "cinder-volume", "timestamp": "2026-11-24T17:40:00", "capabilities": []}"#,
            "capabilities: expected an object"
        ),
        (reportText(capabilities: #""volume_backend_name": "x""#), "capabilities.backend_state: required"),
        (
            reportText(capabilities: #""backend_state": "sideways""#),
            #"capabilities.backend_state: expected "up" or "down""#
        ),
        (
            reportText(capabilities: #""backend_state": "up""#),
            #"capabilities.volume_backend_name: required when backend_state is "up""#
        ),
        (
            reportText(capabilities: upCapabilities.replacingOccurrences(of: #""gold""#, with: #""""#)),
            "capabilities.volume_backend_name: expected a non-empty string"
        ),
        (
            reportText(capabilities: upCapabilities.replacingOccurrences(of: #""Open Source""#, with: "7")),
            "capabilities.vendor_name: expected a string"
        ),
        (
            reportText(capabilities: upCapabilities.replacingOccurrences(of: #""1.4.0""#, with: "null")),
            "capabilities.driver_version: expected a string or a number"
        ),
        (
            reportText(capabilities: upCapabilities.replacingOccurrences(of: #""nfs""#, with: "[1]")),
            "capabilities.storage_protocol: expected a string or an array of strings"
        ),
        (
            reportText(capabilities: upCapabilities.replacingOccurrences(of: "512.5", with: #""lots""#)),
            #"capabilities.free_capacity_gb: expected a number, "unknown" or "infinite""#
        ),
        (
            reportText(capabilities: upCapabilities.replacingOccurrences(of: "1024", with: "-1")),
            "capabilities.total_capacity_gb: must not be negative"
        ),
        (
            reportText(
                capabilities: upCapabilities.replacingOccurrences(of: #", "total_capacity_gb": 1024"#, with: "")),
            #"capabilities.total_capacity_gb: required when backend_state is "up""#
        ),
        (
            reportText(
                capabilities: upCapabilities.replacingOccurrences(
                    of: #""reserved_percentage": 5"#, with: #""reserved_percentage": 101"#)),
            "capabilities.reserved_percentage: expected a number from 0 to 100"
        ),
        (
            reportText(capabilities: upCapabilities + #", "allocated_capacity_gb": "1""#),
            "capabilities.allocated_capacity_gb: expected a non-negative number"
        ),
        (
            reportText(capabilities: upCapabilities + #", "status": "off""#),
            #"capabilities.status: expected "enabled" or "disabled""#
        ),
        (
            reportText(capabilities: upCapabilities + #", "disabled_reason": 3"#),
            "capabilities.disabled_reason: expected null or a string of at most 255 characters"
        ),
        (
            reportText(capabilities: upCapabilities + #", "pools": {}"#),
            "capabilities.pools: expected an array of pool objects"
        ),
        (reportText(capabilities: upCapabilities + #", "pools": ["p"]"#), "capabilities.pools[0]: expected an object"),
        (
            reportText(capabilities: upCapabilities + #", "pools": [{"total_capacity_gb": 1, "free_capacity_gb": 1}]"#),
            "capabilities.pools[0].pool_name: expected a string"
        ),
        (
            reportText(
                capabilities: upCapabilities
                    + #", "pools": [{"pool_name": "", "total_capacity_gb": 1, "free_capacity_gb": 1}]"#),
            #"capabilities.pools[0].pool_name: "" must not be empty"#
        ),
        (
            reportText(
                capabilities: upCapabilities
                    + #", "pools": [{"pool_name": "a#b", "total_capacity_gb": 1, "free_capacity_gb": 1}]"#),
            #"capabilities.pools[0].pool_name: "a#b" must not contain '#'"#
        ),
        (
            reportText(capabilities: upCapabilities.replacingOccurrences(of: #""gold""#, with: #""go#ld""#)),
            #"capabilities.volume_backend_name: "go#ld" cannot name a pool: it must not contain '#'"#
        ),
        (
            reportText(
                capabilities: upCapabilities
                    + #", "pools": [{"pool_name": "a", "total_capacity_gb": 1, "free_capacity_gb": 1}, {"pool_name": "a", "total_capacity_gb": 1, "free_capacity_gb": 1}]"#
            ), #"capabilities.pools[1].pool_name: duplicate pool name "a""#
        ),
        (
            reportText(capabilities: upCapabilities + #", "pools": [{"pool_name": "a", "total_capacity_gb": 1}]"#),
            #"capabilities.pools[0].free_capacity_gb: required when backend_state is "up""#
        ),
        (
            reportText(capabilities: #""backend_state": "down", "free_capacity_gb": true"#),
            #"capabilities.free_capacity_gb: expected a number, "unknown" or "infinite""#
        ),
    ])
    func namesTheBadField(body: String, message: String) {
        let error = #expect(throws: CapabilityReportError.self) { try CapabilityReportParser.parse(bytes(body)) }
        #expect(error?.description == message)
    }

    /// One bad report of a batch is refused alone, by position and reason; its neighbours stand.
    @Test func refusesTheBadReportsOfABatchOneByOne() throws {
        var reports = (0..<3).map { reportText(host: "node\($0)@nfs") }
        reports.append(
            reportText(
                host: "node3@nfs", capabilities: upCapabilities.replacingOccurrences(of: "512.5", with: "[]")))
        reports.append("1")
        reports.append(reportText(host: String(repeating: "h", count: 256) + "@nfs"))
        let body = #"{"reports": [\#(reports.joined(separator: ","))]}"#
        let batch = try CapabilityReportParser.parse(bytes(body))
        #expect(batch.isBatch && batch.count == 6)
        #expect(batch.valid.map(\.host) == ["node0@nfs", "node1@nfs", "node2@nfs"])
        #expect(batch.refused.map(\.index) == [3, 4, 5])
        #expect(batch.refused.allSatisfy { $0.reason == .invalid })
        #expect(batch.refused[0].host == "node3@nfs")
        #expect(
            batch.refused[0].message
                == #"reports[3].capabilities.free_capacity_gb: expected a number, "unknown" or "infinite""#)
        #expect(batch.refused[1].host == nil)
        #expect(batch.refused[1].message == "reports[4]: expected an object")
        #expect(batch.refused[2].message.hasSuffix("is 260 characters long, more than 255"))
    }

    /// A report dated beyond the scheduler's clock plus the allowed skew would make every later,
    /// real report look older: it is refused, naming the timestamp.
    @Test func refusesAReportFromTheFuture() throws {
        let notAfter = try #require(CapabilityTimestamp(parsing: "2026-11-24T17:41:00"))
        let body =
            #"{"reports": [\#(reportText(host: "a@x", timestamp: "9999-12-31T23:59:59")), \#(reportText(host: "b@x", timestamp: "2026-11-24T17:41:00"))]}"#
        let batch = try CapabilityReportParser.parse(bytes(body), notAfter: notAfter)
        #expect(batch.valid.map(\.host) == ["b@x"])
        #expect(batch.refused.map(\.host) == ["a@x"])
        #expect(
            batch.refused.first?.message.hasPrefix(
                "reports[0].timestamp: 9999-12-31T23:59:59.000000 is further ahead of the scheduler's clock than the allowed skew"
            ) == true)
        let single = #expect(throws: CapabilityReportError.self) {
            try CapabilityReportParser.parse(bytes(reportText(timestamp: "9999-12-31T23:59:59")), notAfter: notAfter)
        }
        #expect(single?.field == "timestamp")
    }

    @Test func capsTheBatchSize() {
        let body = #"{"reports": [\#(reportText()), \#(reportText())]}"#
        let error = #expect(throws: CapabilityReportError.self) {
            try CapabilityReportParser.parse(bytes(body), maxReports: 1)
        }
        #expect(error?.description == "reports: more than 1 reports in one body")
    }

    /// Lengths are code points, as Cinder's `len()` and the spec's `maxLength` count them: 128 accented
    /// letters written as letter + combining mark are 128 characters but 256 code points.
    @Test func lengthsCountCodePoints() throws {
        let decomposed = String(repeating: "e\u{301}", count: 128)
        #expect(decomposed.count == 128)
        let longReason = reportText(capabilities: upCapabilities + #", "disabled_reason": "\#(decomposed)""#)
        let error = #expect(throws: CapabilityReportError.self) { try CapabilityReportParser.parse(bytes(longReason)) }
        #expect(
            error?.description == "capabilities.disabled_reason: expected null or a string of at most 255 characters")
        let fitting = String(decomposed.unicodeScalars.dropLast())
        let accepted = try CapabilityReportParser.parse(
            bytes(reportText(capabilities: upCapabilities + #", "disabled_reason": "\#(fitting)""#))
        ).valid
        #expect(accepted.first?.disabledReason == fitting)

        // 255 code points of two UTF-8 bytes each: within the limit (510 bytes).
        let wideHost = String(repeating: "\u{E9}", count: 253) + "@b"
        #expect(try CapabilityReportParser.parse(bytes(reportText(host: wideHost))).valid.first?.host == wideHost)
        let tooLong = String(repeating: "a", count: 254) + "@b"
        let hostError = #expect(throws: CapabilityReportError.self) {
            try CapabilityReportParser.parse(bytes(reportText(host: tooLong)))
        }
        #expect(hostError?.field == "host")
    }

    @Test func downReportNeedsNoCapacity() throws {
        let report = try #require(
            try CapabilityReportParser.parse(bytes(reportText(capabilities: #""backend_state": "down""#))).valid.first)
        #expect(report.backendState == .down)
        #expect(report.capabilities == [JSONMember("backend_state", .string("down"))])
    }
}
