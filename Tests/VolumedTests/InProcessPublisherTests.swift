import Foundation
import Scheduler
import Supervision
import Testing
import VolumeService

/// The in-process publisher goes through the store's own intake, so it is refused exactly as an
/// HTTP publisher would be, report by report, and says so in its outcome.
@Suite(.offCooperativePool) struct InProcessPublisherTests {
    static func report(_ host: String, at date: Date) -> BackendReport {
        BackendReport(
            backendID: String(host.split(separator: "@").last ?? ""), host: host, timestamp: date,
            backendState: .down, adminState: AdminState(), capabilities: nil)
    }

    @Test func refusalsReachTheOutcomeOneByOne() throws {
        let store = CapabilityStore(serviceDownTime: 60)
        let publisher = InProcessCapabilityPublisher(store: store)
        let now = Date()
        // A report of node1@gold dated a little ahead is stored; the backend's real ones are older.
        #expect(
            try publisher.publishServiceCapabilities([Self.report("node1@gold", at: now.addingTimeInterval(30))])
                == .allAccepted)
        let outcome = try publisher.publishServiceCapabilities([
            Self.report("node1@gold", at: now),
            Self.report("node1@silver", at: now),
            Self.report("node1@bad\u{7F}", at: now),
            Self.report("node1@future", at: now.addingTimeInterval(3600)),
        ])
        #expect(outcome.rejected.isEmpty)
        #expect(Set(outcome.refused.keys) == ["node1@gold", "node1@bad\u{7F}", "node1@future"])
        #expect(
            outcome.refused["node1@gold"]?.hasPrefix("the scheduler refused the report (older_than_stored): ") == true)
        #expect(outcome.refused["node1@bad\u{7F}"]?.contains("(invalid): reports[2].host:") == true)
        #expect(outcome.refused["node1@future"]?.contains("(invalid): reports[3].timestamp:") == true)
        #expect(store.report(for: "node1@silver") != nil)
    }

    @Test func aFullStoreRefusesNewBackendsOnly() throws {
        let store = CapabilityStore(serviceDownTime: 60, limits: CapabilityStoreLimits(maxBackends: 1))
        let publisher = InProcessCapabilityPublisher(store: store)
        let now = Date()
        #expect(try publisher.publishServiceCapabilities([Self.report("node1@a", at: now)]) == .allAccepted)
        let outcome = try publisher.publishServiceCapabilities([
            Self.report("node1@a", at: now), Self.report("node1@b", at: now),
        ])
        #expect(outcome.refused.keys.sorted() == ["node1@b"])
        #expect(outcome.refused["node1@b"]?.contains("(store_full)") == true)
    }
}
