import Foundation
import Supervision
import Testing
import VolumeService

/// The publisher's wire form, written by hand for speed: it must stay valid JSON with Cinder's
/// capability names and the exact values, escapes included.
@Suite(.offCooperativePool) struct CapabilityReportEncodingTests {
    static let timestamp = Date(timeIntervalSince1970: 1_795_714_800.25)  // 2026-11-26T17:40:00.250000

    @Test func downReportIsExact() throws {
        let report = BackendReport(
            backendID: "b", host: "node1@b", timestamp: Self.timestamp, backendState: .down,
            adminState: AdminState(disabled: true, disabledReason: "say \"no\"\n\\"),
            capabilities: nil)
        let body = try CapabilityReportEncoding.batchBody([report])
        #expect(
            String(decoding: body, as: UTF8.self) == #"{"reports":[{"host":"node1@b","service":"cinder-volume","#
                + #""timestamp":"2026-11-26T17:40:00.250000","capabilities":{"backend_state":"down","status":"disabled","#
                + #""disabled_reason":"say \"no\"\n\\"}}]}"#)
    }

    @Test("a frozen backend's report says so, so the scheduler skips it")
    func frozenReportSaysSo() throws {
        let report = BackendReport(
            backendID: "b", host: "node1@b", timestamp: Self.timestamp, backendState: .down,
            adminState: AdminState(disabled: true, disabledReason: "frozen", frozen: true),
            capabilities: nil)
        let body = try CapabilityReportEncoding.batchBody([report])
        #expect(
            String(decoding: body, as: UTF8.self) == #"{"reports":[{"host":"node1@b","service":"cinder-volume","#
                + #""timestamp":"2026-11-26T17:40:00.250000","capabilities":{"backend_state":"down","status":"disabled","#
                + #""disabled_reason":"frozen","frozen":true}}]}"#)
    }

    @Test func upReportsCarryCinderCapabilities() throws {
        let stats = VolumeStats(
            volumeBackendName: "gold", vendorName: "Open Source", driverVersion: "1.0.0", storageProtocol: "nfs",
            totalCapacityGB: .gib(251.97), freeCapacityGB: .unknown, reservedPercentage: 5,
            pools: [
                PoolStats(
                    poolName: "/srv/a", totalCapacityGB: .gib(100), freeCapacityGB: .gib(12.5), reservedPercentage: 5,
                    thinProvisioningSupport: true, thickProvisioningSupport: false, maxOverSubscriptionRatio: 20,
                    qosSupport: false, multiattach: true),
                PoolStats(poolName: "host:/export", totalCapacityGB: .infinite, freeCapacityGB: .gib(0.01)),
            ])
        let reports = [
            BackendReport(
                backendID: "gold", host: "node1@gold", timestamp: Self.timestamp, backendState: .up,
                adminState: AdminState(), capabilities: stats),
            BackendReport(
                backendID: "silver", host: "node1@silver", timestamp: Self.timestamp, backendState: .down,
                adminState: AdminState(), capabilities: nil),
        ]
        let body = try CapabilityReportEncoding.batchBody(reports)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let sent = try #require(document["reports"] as? [[String: Any]])
        #expect(sent.count == 2)
        #expect(sent[0]["host"] as? String == "node1@gold")
        #expect(sent[0]["service"] as? String == "cinder-volume")
        #expect(sent[0]["timestamp"] as? String == "2026-11-26T17:40:00.250000")
        let capabilities = try #require(sent[0]["capabilities"] as? [String: Any])
        #expect(capabilities["backend_state"] as? String == "up")
        #expect(capabilities["status"] as? String == "enabled")
        #expect(capabilities["disabled_reason"] == nil)
        #expect(capabilities["volume_backend_name"] as? String == "gold")
        #expect(capabilities["vendor_name"] as? String == "Open Source")
        #expect(capabilities["driver_version"] as? String == "1.0.0")
        #expect(capabilities["storage_protocol"] as? String == "nfs")
        #expect(capabilities["total_capacity_gb"] as? Double == 251.97)
        #expect(capabilities["free_capacity_gb"] as? String == "unknown")
        #expect(capabilities["reserved_percentage"] as? Int == 5)
        let pools = try #require(capabilities["pools"] as? [[String: Any]])
        #expect(pools.count == 2)
        #expect(pools[0]["pool_name"] as? String == "/srv/a")
        #expect(pools[0]["total_capacity_gb"] as? Double == 100)
        #expect(pools[0]["free_capacity_gb"] as? Double == 12.5)
        #expect(pools[0]["thin_provisioning_support"] as? Bool == true)
        #expect(pools[0]["thick_provisioning_support"] as? Bool == false)
        #expect(pools[0]["max_over_subscription_ratio"] as? Double == 20)
        #expect(pools[0]["QoS_support"] as? Bool == false)
        #expect(pools[0]["multiattach"] as? Bool == true)
        #expect(pools[1]["total_capacity_gb"] as? String == "infinite")
        #expect(pools[1]["free_capacity_gb"] as? Double == 0.01)
        #expect((sent[1]["capabilities"] as? [String: Any])?.keys.sorted() == ["backend_state", "status"])
        // Integral numbers are written without a fraction, as the scheduler hands them on.
        #expect(String(decoding: body, as: UTF8.self).contains(#""max_over_subscription_ratio":20,"#))
    }

    @Test func timestampsAreCindersFormatAcrossSeconds() throws {
        #expect(
            CapabilityReportEncoding.cinderTimestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000000")
        #expect(
            CapabilityReportEncoding.cinderTimestamp(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500000")
        #expect(
            CapabilityReportEncoding.cinderTimestamp(Date(timeIntervalSince1970: 1_795_714_799.999999))
                == "2026-11-26T17:39:59.999999")
        // One batch whose reports fall in three different seconds (the formatter caches a second).
        let dates = [1_795_714_800.25, 1_795_714_800.75, 1_795_714_801.0, 1_795_714_800.5]
        let reports = dates.enumerated().map { index, seconds in
            BackendReport(
                backendID: "b\(index)", host: "n@b\(index)", timestamp: Date(timeIntervalSince1970: seconds),
                backendState: .down, adminState: AdminState(), capabilities: nil)
        }
        let body = try CapabilityReportEncoding.batchBody(reports)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let sent = try #require(document["reports"] as? [[String: Any]])
        #expect(
            sent.map { $0["timestamp"] as? String } == [
                "2026-11-26T17:40:00.250000", "2026-11-26T17:40:00.750000", "2026-11-26T17:40:01.000000",
                "2026-11-26T17:40:00.500000",
            ])
    }

    @Test func nonFiniteCapacityIsATypedError() {
        let stats = VolumeStats(
            volumeBackendName: "x", vendorName: "v", driverVersion: "1", storageProtocol: "nfs",
            totalCapacityGB: .gib(.nan), freeCapacityGB: .gib(1))
        let report = BackendReport(
            backendID: "x", host: "n@x", timestamp: Self.timestamp, backendState: .up,
            adminState: AdminState(), capabilities: stats)
        let failure = #expect(throws: CapabilityReportEncoding.Failure.self) {
            try CapabilityReportEncoding.batchBody([report])
        }
        guard case .notFinite(let name, let value)? = failure else {
            Issue.record("expected notFinite, got \(String(describing: failure))")
            return
        }
        #expect(name == "total_capacity_gb")
        #expect(value.isNaN)
        #expect(failure?.description == "total_capacity_gb is not a finite number: nan")
    }
}
