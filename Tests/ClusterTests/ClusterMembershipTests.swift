import Coordination
import Foundation
import Scheduler
import SharedTestSupport
import Supervision
import Synchronization
import Testing

@testable import VolumeService

func etcdClient(_ cluster: EtcdCluster) throws -> EtcdClient {
    try EtcdClient(configuration: .init(endpoints: cluster.clientURLs, requestTimeout: 2))
}

/// A report of an up backend with one pool named after the backend, as the tick makes it.
func upReport(_ host: String) -> BackendReport {
    let backend = String(host.split(separator: "@").last ?? "b")
    let stats = VolumeStats(
        volumeBackendName: backend, vendorName: "Open Source", driverVersion: "1.0", storageProtocol: "nfs",
        totalCapacityGB: .gib(100), freeCapacityGB: .gib(50),
        pools: [PoolStats(poolName: backend, totalCapacityGB: .gib(100), freeCapacityGB: .gib(50))])
    return BackendReport(
        backendID: "b", host: host, timestamp: Date(), backendState: .up,
        adminState: AdminState(), capabilities: stats)
}

@Suite("LeaseKeeper and ClusterMembership against a real three-member etcd", .offCooperativePool, .serialized)
struct ClusterMembershipTests {
    let layout = ClusterLayout(root: "/test")!

    @Test func keeperHoldsItsLeasePastTheTTLAndRegrantsWhenItIsRevoked() throws {
        let cluster = try EtcdCluster()
        let etcd = try etcdClient(cluster)
        let grants = Mutex<[Int64]>([])
        let keeper = LeaseKeeper(client: etcd, ttl: 2, onGranted: { id in grants.withLock { $0.append(id) } })
        defer { keeper.stop(revoke: true) }
        #expect(waitUntil(seconds: 10) { keeper.leaseID != nil })
        let first = try #require(keeper.leaseID)
        try etcd.put("/held", value: [1], lease: first)
        // Three TTLs later the key is still there: the keeper's thread renewed the lease.
        let end = Date().addingTimeInterval(6)
        while Date() < end {
            #expect(try etcd.get("/held") != nil)
            usleep(250_000)  // the scenario: time passes (three TTLs) while the keeper renews
        }
        try etcd.revokeLease(first)
        #expect(waitUntil(seconds: 10) { keeper.leaseID != nil && keeper.leaseID != first })
        #expect(grants.withLock { $0.count } == 2)
    }

    @Test func keeperStoppedWithoutRevokeLetsTheKeysLapseWithinTheTTL() throws {
        let cluster = try EtcdCluster()
        let etcd = try etcdClient(cluster)
        let keeper = LeaseKeeper(client: etcd, ttl: 2)
        #expect(waitUntil(seconds: 10) { keeper.leaseID != nil })
        try etcd.put("/crash", value: [1], lease: try #require(keeper.leaseID))
        keeper.stop(revoke: false)
        #expect(try etcd.get("/crash") != nil)
        let stopped = Date()
        #expect(waitUntil(seconds: 15) { (try? etcd.get("/crash")) == .some(nil) })
        // etcd expires a lease within its TTL plus its own check interval (500 ms) and slack.
        #expect(Date().timeIntervalSince(stopped) < 2 + 3)
    }

    @Test func publishedReportsAndServiceRecordsLiveUnderTheLease() throws {
        let cluster = try EtcdCluster()
        let etcd = try etcdClient(cluster)
        let membership = ClusterMembership(
            client: etcd, layout: layout, serviceDownTime: 3, zone: "zone-a", apiURL: { "http://10.0.0.1:8776" })
        #expect(waitUntil(seconds: 10) { if case .held = membership.status { true } else { false } })
        let outcome = try membership.publishServiceCapabilities([upReport("node1@gold"), upReport("node1@silver")])
        #expect(outcome == .allAccepted)

        let reports = try etcd.range(layout.reports).keyValues
        #expect(reports.map(\.key) == ["/test/reports/node1@gold", "/test/reports/node1@silver"])
        guard case .held(let lease) = membership.status else {
            Issue.record("lease lost")
            return
        }
        #expect(reports.allSatisfy { $0.lease == lease })
        // The stored value is what the scheduler's own parser takes.
        let report = try StoredReport.decode(reports[0].value, key: reports[0].key)
        #expect(report.host == "node1@gold")
        #expect(report.backendState == .up)

        let services = try etcd.range(layout.services).keyValues
        #expect(
            services.map(\.key) == [
                "/test/services/node1@gold/cinder-volume", "/test/services/node1@silver/cinder-volume",
            ])
        let record = try ServiceRecord.decode(services[0].value, key: services[0].key)
        #expect(record.zone == "zone-a")
        #expect(record.apiURL == "http://10.0.0.1:8776")
        #expect(services.allSatisfy { $0.lease == lease })
        let lastSeen = try etcd.range(layout.lastSeen).keyValues
        #expect(lastSeen.count == 2)
        #expect(lastSeen.allSatisfy { $0.lease == 0 })

        // A second tick rewrites the reports only: the records are fresh (a third of the TTL not passed).
        let servicesRevision = services[0].modRevision
        _ = try membership.publishServiceCapabilities([upReport("node1@gold"), upReport("node1@silver")])
        #expect(try etcd.get(services[0].key)?.modRevision == servicesRevision)
        #expect(try etcd.get(reports[0].key)!.modRevision > reports[0].modRevision)

        // An orderly stop: services and reports leave at once, last-seen stays.
        membership.leave()
        #expect(try etcd.range(layout.services).keyValues.isEmpty)
        #expect(try etcd.range(layout.reports).keyValues.isEmpty)
        #expect(try etcd.range(layout.lastSeen).keyValues.count == 2)
    }

    @Test func aLostLeaseIsReplacedAndTheNextTickRegistersAgain() throws {
        let cluster = try EtcdCluster()
        let etcd = try etcdClient(cluster)
        let membership = ClusterMembership(
            client: etcd, layout: layout, serviceDownTime: 30, zone: "nova", apiURL: { "http://h:8776" })
        defer { membership.abandon() }
        #expect(waitUntil(seconds: 10) { if case .held = membership.status { true } else { false } })
        _ = try membership.publishServiceCapabilities([upReport("node1@gold")])
        guard case .held(let first) = membership.status else {
            Issue.record("no lease")
            return
        }
        // Revoked behind its back (as after a partition longer than the TTL): records are gone.
        try etcd.revokeLease(first)
        #expect(try etcd.range(layout.services).keyValues.isEmpty)
        // The next tick either finds the new lease already or fails naming the lost one, then works.
        var published = false
        #expect(
            waitUntil(seconds: 15) {
                published = (try? membership.publishServiceCapabilities([upReport("node1@gold")])) == .allAccepted
                return published
            })
        let services = try etcd.range(layout.services).keyValues
        #expect(
            services.map(\.key) == ["/test/services/node1@gold/cinder-volume"], "registered again under the new lease")
        #expect(services.first?.lease != first)
    }

    @Test func withoutQuorumAPublishFailsClearlyAndWorksOnceQuorumReturns() throws {
        let cluster = try EtcdCluster()
        let etcd = try etcdClient(cluster)
        let membership = ClusterMembership(
            client: etcd, layout: layout, serviceDownTime: 30, zone: "nova", apiURL: { "http://h:8776" })
        defer { membership.abandon() }
        #expect(waitUntil(seconds: 10) { if case .held = membership.status { true } else { false } })
        cluster.kill(1)
        cluster.kill(2)
        var message = ""
        #expect(
            waitUntil(seconds: 30) {
                do {
                    _ = try membership.publishServiceCapabilities([upReport("node1@gold")])
                    return false
                } catch {
                    message = "\(error)"
                    return message.contains("no quorum")
                }
            })
        #expect(message.contains("etcd has no quorum"))
        try cluster.restart(1)
        #expect(
            waitUntil(seconds: 30) {
                (try? membership.publishServiceCapabilities([upReport("node1@gold")])) == .allAccepted
            })
        #expect(try etcd.range(layout.reports).keyValues.count == 1)
    }
}
