import Foundation
import JSON
import Scheduler
import SharedTestSupport
import Synchronization
import Testing

/// A clock the test moves by hand, starting at the time the reports below are dated around.
func schedulerClock() -> ManualClock {
    ManualClock(Date(timeIntervalSince1970: 1_795_542_000))
}

func text(_ view: PoolsView) -> String {
    String(decoding: view.json, as: UTF8.self)
}

func poolNames(_ view: PoolsView) throws -> [String] {
    let document = try JSONParser.parse(view.json)
    guard case .array(let pools) = document["pools"] else { return [] }
    return pools.compactMap { $0["name"]?.stringValue }
}

let poolCapabilities =
    #""backend_state": "up", "volume_backend_name": "lvm", "vendor_name": "Open Source", "driver_version": "3.0", "storage_protocol": "iSCSI", "thin_provisioning_support": true, "reserved_percentage": 0, "pools": [{"pool_name": "fast", "total_capacity_gb": 100, "free_capacity_gb": 40, "reserved_percentage": 10}, {"pool_name": "slow", "total_capacity_gb": "infinite", "free_capacity_gb": "unknown", "custom": "kept"}]"#

@Suite("Capability store")
struct CapabilityStoreTests {
    @Test func listsPoolsByHostWithCinderNames() throws {
        let clock = schedulerClock()
        let store = CapabilityStore(clock: clock)
        try store.receive(bytes(reportText(host: "node2@nfs-gold")))
        try store.receive(bytes(reportText(host: "node1@lvm", capabilities: poolCapabilities)))
        #expect(
            text(store.pools(detail: false))
                == #"{"pools":[{"name":"node1@lvm#fast"},{"name":"node1@lvm#slow"},{"name":"node2@nfs-gold#gold"}]}"#)
    }

    @Test func detailMergesBackendAndPoolKeys() throws {
        let clock = schedulerClock()
        let store = CapabilityStore(clock: clock)
        try store.receive(
            bytes(
                reportText(
                    host: "node1@lvm", timestamp: "2026-11-24T17:39:59.5", capabilities: poolCapabilities)))
        let expected =
            #"{"pools":[{"name":"node1@lvm#fast","capabilities":{"backend_state":"up","volume_backend_name":"lvm","vendor_name":"Open Source","driver_version":"3.0","storage_protocol":"iSCSI","thin_provisioning_support":true,"reserved_percentage":10,"pool_name":"fast","total_capacity_gb":100,"free_capacity_gb":40,"timestamp":"2026-11-24T17:39:59.500000","updated":"2026-11-24T17:40:00.000000"}},{"name":"node1@lvm#slow","capabilities":{"backend_state":"up","volume_backend_name":"lvm","vendor_name":"Open Source","driver_version":"3.0","storage_protocol":"iSCSI","thin_provisioning_support":true,"reserved_percentage":0,"pool_name":"slow","total_capacity_gb":"infinite","free_capacity_gb":"unknown","custom":"kept","timestamp":"2026-11-24T17:39:59.500000","updated":"2026-11-24T17:40:00.000000"}}]}"#
        #expect(text(store.pools(detail: true)) == expected)
    }

    @Test func detailOfADriverWithoutPoolsKeepsUnknownKeys() throws {
        let store = CapabilityStore(clock: schedulerClock())
        try store.receive(
            bytes(
                reportText(
                    capabilities: upCapabilities
                        + #", "status": "enabled", "QoS_support": false, "extra": {"a": [1, 2.50]}"#)))
        let expected =
            #"{"pools":[{"name":"node1@nfs-gold#gold","capabilities":{"backend_state":"up","volume_backend_name":"gold","vendor_name":"Open Source","driver_version":"1.4.0","storage_protocol":"nfs","total_capacity_gb":1024,"free_capacity_gb":512.5,"reserved_percentage":5,"QoS_support":false,"extra":{"a":[1,2.50]},"timestamp":"2026-11-24T17:40:00.000000","updated":"2026-11-24T17:40:00.000000"}}]}"#
        #expect(text(store.pools(detail: true)) == expected)
    }

    @Test func newestReportWinsAndOlderOnesAreIgnored() throws {
        let store = CapabilityStore(clock: schedulerClock())
        let newer = reportText(
            timestamp: "2026-11-24T17:40:10",
            capabilities: upCapabilities.replacingOccurrences(of: "512.5", with: "100"))
        let older = reportText(
            timestamp: "2026-11-24T17:40:05", capabilities: upCapabilities.replacingOccurrences(of: "512.5", with: "7"))
        #expect(try store.receive(bytes(newer)) == ReceiveSummary(accepted: 1))
        let version = store.version
        let ignored = try store.receive(bytes(older))
        #expect(ignored.accepted == 0 && ignored.ignoredAsOlder == 1)
        #expect(ignored.refused.first?.host == "node1@nfs-gold")
        #expect(store.version == version)
        #expect(store.report(for: "node1@nfs-gold")?.capability("free_capacity_gb") == .number(JSONNumber("100")!))

        // The same timestamp again replaces (Cinder only skips strictly older reports).
        let same = reportText(
            timestamp: "2026-11-24T17:40:10", capabilities: upCapabilities.replacingOccurrences(of: "512.5", with: "99")
        )
        #expect(try store.receive(bytes(same)) == ReceiveSummary(accepted: 1))
        #expect(store.report(for: "node1@nfs-gold")?.capability("free_capacity_gb") == .number(JSONNumber("99")!))
        #expect(store.version == version + 1)
    }

    @Test func batchAppliesInOrderPerHost() throws {
        let store = CapabilityStore(clock: schedulerClock())
        let body =
            #"{"reports": [\#(reportText(host: "a@x", timestamp: "2026-11-24T17:40:02")), \#(reportText(host: "a@x", timestamp: "2026-11-24T17:40:01")), \#(reportText(host: "b@x"))]}"#
        let summary = try store.receive(bytes(body))
        #expect(summary.accepted == 2 && summary.ignoredAsOlder == 1)
        #expect(summary.refused.map(\.index) == [1])
        #expect(store.report(for: "a@x")?.timestamp.description == "2026-11-24T17:40:02.000000")
        #expect(try poolNames(store.pools(detail: false)) == ["a@x#gold", "b@x#gold"])
    }

    @Test func downReportRemovesTheBackendAtOnce() throws {
        let store = CapabilityStore(clock: schedulerClock())
        try store.receive(bytes(reportText(host: "a@x", timestamp: "2026-11-24T17:40:00")))
        try store.receive(bytes(reportText(host: "b@x", timestamp: "2026-11-24T17:40:00")))
        try store.receive(
            bytes(reportText(host: "a@x", timestamp: "2026-11-24T17:40:01", capabilities: #""backend_state": "down""#)))
        #expect(try poolNames(store.pools(detail: false)) == ["b@x#gold"])
        let backends = store.backends()
        #expect(backends.map(\.host) == ["a@x", "b@x"])
        #expect(backends[0].backendState == .down)
        #expect(backends[0].isListed == false)
        #expect(backends[0].poolNames == ["a@x#_pool0"])
        #expect(backends[1].isListed == true)

        try store.receive(bytes(reportText(host: "a@x", timestamp: "2026-11-24T17:40:02")))
        #expect(try poolNames(store.pools(detail: false)) == ["a@x#gold", "b@x#gold"])
    }

    @Test func staleBackendsDropOutWithoutANewReport() throws {
        let clock = schedulerClock()
        let store = CapabilityStore(serviceDownTime: 60, clock: clock)
        try store.receive(bytes(reportText(host: "a@x")))
        clock.advance(by: 30)
        try store.receive(bytes(reportText(host: "b@x")))
        let fresh = store.pools(detail: false)
        #expect(try poolNames(fresh) == ["a@x#gold", "b@x#gold"])

        clock.advance(by: 30)  // a@x exactly 60 s old: still up, as in Cinder.
        #expect(store.version == fresh.version)
        #expect(store.pools(detail: false) == fresh)

        clock.advance(by: 0.001)
        let afterA = store.pools(detail: false)
        #expect(afterA.version == fresh.version + 1)
        #expect(try poolNames(afterA) == ["b@x#gold"])
        #expect(store.backends().map(\.isStale) == [true, false])

        clock.advance(by: 30)
        #expect(try poolNames(store.pools(detail: true)).isEmpty)
        #expect(store.backends().map(\.isStale) == [true, true])

        try store.receive(bytes(reportText(host: "a@x", timestamp: "2026-11-24T17:42:00")))
        #expect(try poolNames(store.pools(detail: false)) == ["a@x#gold"])
        #expect(store.backends().map(\.receivedAt) == [clock.wall, Date(timeIntervalSince1970: 1_795_542_030)])
    }

    @Test func staleAfterServiceDownTimeOfMonotonicTimeWhateverTheWallClockDoes() throws {
        let clock = schedulerClock()
        let store = CapabilityStore(serviceDownTime: 60, clock: clock)
        try store.receive(bytes(reportText(host: "a@x")))
        clock.stepWall(by: 3600)  // the scheduler's clock jumps ahead: the report did not age an hour
        #expect(try poolNames(store.pools(detail: false)) == ["a@x#gold"])
        clock.stepWall(by: -7200)  // and back: the report does not stay fresh for an hour more
        clock.advance(by: 60.001)
        #expect(try poolNames(store.pools(detail: false)).isEmpty)
        #expect(store.backends().map(\.isStale) == [true])
    }

    @Test func disabledServicesAreNotListed() throws {
        let store = CapabilityStore(clock: schedulerClock())
        try store.receive(
            bytes(
                reportText(
                    host: "a@x", capabilities: upCapabilities + #", "status": "disabled", "disabled_reason": "frozen""#)
            ))
        try store.receive(bytes(reportText(host: "b@x")))
        #expect(try poolNames(store.pools(detail: true)) == ["b@x#gold"])
        let disabled = try #require(store.backends().first)
        #expect(disabled.status == .disabled)
        #expect(disabled.disabledReason == "frozen")
        #expect(disabled.backendState == .up)
        #expect(disabled.isListed == false)
    }

    @Test("a frozen backend (os-services freeze) is kept but not listed, even if a report said enabled")
    func frozenServicesAreNotListed() throws {
        let store = CapabilityStore(clock: schedulerClock())
        try store.receive(bytes(reportText(host: "a@x", capabilities: upCapabilities + #", "frozen": true"#)))
        try store.receive(bytes(reportText(host: "b@x", capabilities: upCapabilities + #", "frozen": false"#)))
        #expect(try poolNames(store.pools(detail: true)) == ["b@x#gold"])
        let frozen = try #require(store.backends().first)
        #expect(frozen.frozen && !frozen.isListed)
        #expect(!text(store.pools(detail: true)).contains("frozen"))
        #expect(throws: CapabilityReportError(field: "capabilities.frozen", problem: "expected true or false")) {
            try CapabilityReportParser.parse(
                bytes(reportText(host: "c@x", capabilities: upCapabilities + #", "frozen": "yes""#)))
        }
    }

    @Test func versionBumpsOnChangeAndViewsAreCachedPerVersion() throws {
        let store = CapabilityStore(clock: schedulerClock())
        let empty = store.pools(detail: true)
        #expect(text(empty) == #"{"pools":[]}"#)
        #expect(empty.version == store.version)

        try store.receive(bytes(reportText(host: "a@x")))
        let first = store.pools(detail: true)
        #expect(first.version == empty.version + 1)
        #expect(store.pools(detail: true) == first)
        #expect(store.pools(detail: false).version == first.version)

        let bad = #expect(throws: CapabilityReportError.self) { try store.receive(bytes(#"{"reports": 5}"#)) }
        #expect(bad?.description == "reports: expected a non-empty array of reports")
        #expect(store.version == first.version)

        // A batch with one bad report: the good one is stored, the bad one refused by position.
        let partial = try store.receive(bytes(#"{"reports": [\#(reportText(host: "c@x")), {"host": 1}]}"#))
        #expect(
            partial
                == ReceiveSummary(
                    accepted: 1,
                    refused: [
                        ReportRefusal(
                            index: 1, host: nil, reason: .invalid, message: "reports[1].host: expected a string")
                    ]))
        #expect(store.version == first.version + 1)
        #expect(store.report(for: "c@x") != nil)

        try store.receive(bytes(reportText(host: "a@x", timestamp: "2026-11-24T17:40:01")))
        #expect(store.version == first.version + 2)
        #expect(store.pools(detail: true).version == first.version + 2)
    }

    /// Issue 11, point 4: one report dated 9999-12-31 used to take a healthy backend out of
    /// get_pools until restart, every later real report being "older". It is refused now, and
    /// the backend's real reports keep coming in.
    @Test func aReportFromTheFarFutureCannotPoisonTheStore() throws {
        let clock = schedulerClock()
        let store = CapabilityStore(serviceDownTime: 60, clock: clock)
        try store.receive(bytes(reportText(host: "a@x", timestamp: "2026-11-24T17:40:00")))
        let poisoned = #expect(throws: CapabilityReportError.self) {
            try store.receive(
                bytes(
                    reportText(host: "a@x", timestamp: "9999-12-31T23:59:59", capabilities: #""backend_state": "down""#)
                ))
        }
        #expect(poisoned?.field == "timestamp")
        let inBatch = try store.receive(
            bytes(
                #"{"reports": [\#(reportText(host: "a@x", timestamp: "9999-12-31T23:59:59", capabilities: #""backend_state": "down""#))]}"#
            ))
        #expect(inBatch.accepted == 0 && inBatch.refusedAsInvalid == 1)
        #expect(try poolNames(store.pools(detail: false)) == ["a@x#gold"])
        for minute in 1...3 {
            clock.advance(by: 60)
            let summary = try store.receive(bytes(reportText(host: "a@x", timestamp: "2026-11-24T17:4\(minute):00")))
            #expect(summary == ReceiveSummary(accepted: 1))
            #expect(try poolNames(store.pools(detail: false)) == ["a@x#gold"])
        }
        // Within the allowed skew (60 s) a report is taken as it is.
        #expect(
            try store.receive(bytes(reportText(host: "b@x", timestamp: "2026-11-24T17:44:00")))
                == ReceiveSummary(accepted: 1))
    }

    /// A report dated ahead within the skew, or a sender whose clock stepped back, holds the
    /// backend's later reports off for half a service_down_time at most, never for good.
    @Test func olderReportsReplaceAStoredOneOnceItIsNoLongerALateDelivery() throws {
        let clock = schedulerClock()
        let store = CapabilityStore(serviceDownTime: 60, clock: clock)
        try store.receive(bytes(reportText(host: "a@x", timestamp: "2026-11-24T17:40:59")))
        clock.advance(by: 10)
        let late = try store.receive(bytes(reportText(host: "a@x", timestamp: "2026-11-24T17:40:10")))
        #expect(late.ignoredAsOlder == 1)
        #expect(
            late.refused.first?.message
                == "the stored report for a@x is dated 2026-11-24T17:40:59.000000, later than this one")
        clock.advance(by: 20)  // the stored report arrived 30 s ago: half of service_down_time
        let next = try store.receive(bytes(reportText(host: "a@x", timestamp: "2026-11-24T17:40:30")))
        #expect(next == ReceiveSummary(accepted: 1))
        #expect(store.report(for: "a@x")?.timestamp.description == "2026-11-24T17:40:30.000000")
    }

    /// Issue 11, point 7: hosts that stopped reporting were kept for ever. They are forgotten
    /// after `forgetAfterDownTimes` service_down_times, and the store holds at most
    /// `maxBackends` backends and `maxPools` pools: a new one beyond is refused as store_full.
    @Test func forgetsSilentBackendsAndStaysWithinItsLimits() throws {
        let clock = schedulerClock()
        let store = CapabilityStore(
            serviceDownTime: 60, limits: CapabilityStoreLimits(maxBackends: 2, maxPools: 3, forgetAfterDownTimes: 10),
            clock: clock)
        try store.receive(bytes(reportText(host: "a@x")))
        clock.advance(by: 1)
        try store.receive(bytes(reportText(host: "b@x")))
        let full = try store.receive(bytes(reportText(host: "c@x")))
        #expect(full.accepted == 0 && full.refusedAsFull == 1)
        #expect(full.refused.first?.message == "the scheduler holds the most backends it may (2); c@x is not stored")
        #expect(store.counts == (2, 2))
        // A known backend still reports, and may not grow past the pool limit.
        clock.advance(by: 1)
        let grown = try store.receive(
            bytes(reportText(host: "b@x", timestamp: "2026-11-24T17:40:02", capabilities: poolCapabilities)))
        #expect(grown == ReceiveSummary(accepted: 1))
        #expect(store.counts == (2, 3))
        let tooMany =
            #""backend_state": "up", "volume_backend_name": "lvm", "vendor_name": "v", "driver_version": "1", "storage_protocol": "iSCSI", "pools": [{"pool_name": "p1", "total_capacity_gb": 1, "free_capacity_gb": 1}, {"pool_name": "p2", "total_capacity_gb": 1, "free_capacity_gb": 1}]"#
        #expect(
            try store.receive(bytes(reportText(host: "a@x", timestamp: "2026-11-24T17:40:03", capabilities: tooMany)))
                .refusedAsFull == 1)

        // a@x stays silent: stale after 60 s, forgotten after 600 s; b@x keeps reporting.
        for minute in 1...9 {
            clock.advance(by: 60)
            try store.receive(bytes(reportText(host: "b@x", timestamp: "2026-11-24T17:\(40 + minute):02")))
        }
        clock.advance(by: 58)  // a@x is 600 s old
        #expect(store.backends().map(\.host) == ["a@x", "b@x"])
        #expect(store.backends().first?.isStale == true)
        clock.advance(by: 0.5)
        try store.receive(bytes(reportText(host: "b@x", timestamp: "2026-11-24T17:50:02")))
        #expect(store.backends().map(\.host) == ["b@x"])
        #expect(store.counts == (1, 1))
        #expect(
            try store.receive(bytes(reportText(host: "c@x", timestamp: "2026-11-24T17:50:03")))
                == ReceiveSummary(accepted: 1))
        #expect(try poolNames(store.pools(detail: false)) == ["b@x#gold", "c@x#gold"])
    }

    /// A host reporting far more often than hosts expire leaves superseded arrivals behind; they
    /// are compacted, and staleness still follows each host's latest report.
    @Test func frequentReportsOfOneHostKeepStalenessExact() throws {
        let clock = schedulerClock()
        let store = CapabilityStore(serviceDownTime: 60, clock: clock)
        try store.receive(bytes(reportText(host: "quiet@x")))
        for index in 0..<5000 {
            clock.advance(by: 0.01)
            let micros = String(index).leftPadded(to: 6)
            try store.receive(bytes(reportText(host: "busy@x", timestamp: "2026-11-24T17:40:00.\(micros)")))
        }
        #expect(try poolNames(store.pools(detail: false)) == ["busy@x#gold", "quiet@x#gold"])
        clock.advance(by: 15)  // quiet@x is now 65 s old, busy@x 15 s
        #expect(try poolNames(store.pools(detail: false)) == ["busy@x#gold"])
        clock.advance(by: 50)
        #expect(try poolNames(store.pools(detail: false)) == [])
        #expect(store.backends().map(\.isStale) == [true, true])
    }

    @Test func thousandBackendsFromSeveralThreads() throws {
        let clock = schedulerClock()
        let store = CapabilityStore(clock: clock)
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for index in 0..<250 {
                let host = String(format: "node%04d@lvm", thread * 250 + index)
                do {
                    try store.receive(Array(reportText(host: host, capabilities: poolCapabilities).utf8))
                } catch {
                    failures.withLock { $0 += 1 }
                }
                if index % 50 == 0 { _ = store.pools(detail: index % 100 == 0) }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        let detail = store.pools(detail: true)
        let names = try poolNames(detail)
        #expect(names.count == 2000)
        #expect(names.first == "node0000@lvm#fast")
        #expect(names.last == "node0999@lvm#slow")
        #expect(store.backends().count == 1000)
        #expect(store.pools(detail: true).json == detail.json)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
