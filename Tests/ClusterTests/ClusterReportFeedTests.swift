import Coordination
import Foundation
import JSON
import Scheduler
import SharedTestSupport
import Testing

@testable import VolumeService

func poolNames(_ store: CapabilityStore) -> [String] {
    guard let document = try? JSONParser.parse(store.pools(detail: false).json),
        case .array(let pools)? = document["pools"]
    else { return [] }
    return pools.compactMap { $0["name"]?.stringValue }
}

@Suite("ClusterReportFeed: hosts publish to etcd, schedulers' stores follow", .offCooperativePool, .serialized)
struct ClusterReportFeedTests {
    let layout = ClusterLayout(root: "/feed")!

    @Test func twoSchedulersSeeTheSamePoolsAndADeadHostLeavesBoth() throws {
        let cluster = try EtcdCluster()
        let etcd = try etcdClient(cluster)
        // A host already publishing before the schedulers start: they begin with a snapshot.
        let hostA = ClusterMembership(
            client: etcd, layout: layout, serviceDownTime: 2, zone: "nova", apiURL: { "http://a:8776" })
        defer { hostA.abandon() }
        #expect(waitUntil(seconds: 10) { if case .held = hostA.status { true } else { false } })
        _ = try hostA.publishServiceCapabilities([upReport("a@gold")])

        let stores = [CapabilityStore(serviceDownTime: 60), CapabilityStore(serviceDownTime: 60)]
        let feeds = try stores.map { ClusterReportFeed(client: try etcdClient(cluster), layout: layout, store: $0) }
        defer { for feed in feeds { feed.stop() } }
        #expect(waitUntil(seconds: 10) { stores.allSatisfy { poolNames($0) == ["a@gold#gold"] } })

        // A second host joins: both schedulers list it, from the watch.
        let hostB = ClusterMembership(
            client: etcd, layout: layout, serviceDownTime: 2, zone: "nova", apiURL: { "http://b:8776" })
        #expect(waitUntil(seconds: 10) { if case .held = hostB.status { true } else { false } })
        _ = try hostB.publishServiceCapabilities([upReport("b@silver")])
        #expect(
            waitUntil(seconds: 10) {
                stores.allSatisfy { poolNames($0) == ["a@gold#gold", "b@silver#silver"] }
            })

        // Host B dies (its lease is no longer renewed): within its TTL its pools leave both schedulers,
        // although the stores' own service_down_time (60 s) would have kept them far longer.
        hostB.abandon()
        let died = Date()
        #expect(waitUntil(seconds: 15) { stores.allSatisfy { poolNames($0) == ["a@gold#gold"] } })
        #expect(Date().timeIntervalSince(died) < 2 + 3)
        #expect(feeds.allSatisfy { $0.status.revision > 0 && $0.status.skipped == 0 })
    }

    @Test func aRestartedSchedulerCatchesUpFromEtcdAlone() throws {
        let cluster = try EtcdCluster()
        let etcd = try etcdClient(cluster)
        let host = ClusterMembership(
            client: etcd, layout: layout, serviceDownTime: 30, zone: "nova", apiURL: { "http://a:8776" })
        defer { host.abandon() }
        #expect(waitUntil(seconds: 10) { if case .held = host.status { true } else { false } })
        _ = try host.publishServiceCapabilities([upReport("a@gold"), upReport("a@silver")])
        let first = CapabilityStore()
        let feed = ClusterReportFeed(client: etcd, layout: layout, store: first)
        #expect(waitUntil(seconds: 10) { poolNames(first).count == 2 })
        feed.stop()
        // While no scheduler watches, a backend goes away and another reports.
        try etcd.delete(.key(layout.key(.report(host: "a@silver"))))
        _ = try host.publishServiceCapabilities([upReport("a@bronze")])
        let restarted = CapabilityStore()
        let again = ClusterReportFeed(client: etcd, layout: layout, store: restarted)
        defer { again.stop() }
        #expect(waitUntil(seconds: 10) { poolNames(restarted) == ["a@bronze#bronze", "a@gold#gold"] })
    }

    @Test func valuesThatAreNotReportsAreSkippedAndCounted() throws {
        let cluster = try EtcdCluster()
        let etcd = try etcdClient(cluster)
        let store = CapabilityStore()
        let feed = ClusterReportFeed(client: etcd, layout: layout, store: store)
        defer { feed.stop() }
        #expect(waitUntil(seconds: 10) { feed.status.revision > 0 })
        try etcd.put(layout.key(.report(host: "x@y")), value: Array("not json".utf8))
        let body = try CapabilityReportEncoding.reportBody(upReport("other@b"))
        try etcd.put(layout.key(.report(host: "x@y")), value: body)
        #expect(waitUntil(seconds: 10) { feed.status.skipped == 2 })
        #expect(feed.status.lastSkipped?.problem == "holds the report of other@b")
        #expect(store.counts.backends == 0)
    }

    @Test func aLostQuorumIsReportedAndTheStoreKeepsWhatItSaw() throws {
        let cluster = try EtcdCluster()
        let etcd = try etcdClient(cluster)
        let host = ClusterMembership(
            client: etcd, layout: layout, serviceDownTime: 30, zone: "nova", apiURL: { "http://a:8776" })
        defer { host.abandon() }
        #expect(waitUntil(seconds: 10) { if case .held = host.status { true } else { false } })
        _ = try host.publishServiceCapabilities([upReport("a@gold")])
        let store = CapabilityStore()
        let feed = ClusterReportFeed(client: try etcdClient(cluster), layout: layout, store: store)
        defer { feed.stop() }
        #expect(waitUntil(seconds: 10) { poolNames(store) == ["a@gold#gold"] })
        cluster.kill(1)
        cluster.kill(2)
        #expect(waitUntil(seconds: 30) { feed.status.interruption != nil })
        #expect(poolNames(store) == ["a@gold#gold"], "the last view stays until service_down_time says otherwise")
        try cluster.restart(1)
        #expect(
            waitUntil(seconds: 30) {
                (try? host.publishServiceCapabilities([upReport("a@gold"), upReport("a@silver")])) == .allAccepted
            })
        #expect(waitUntil(seconds: 15) { poolNames(store) == ["a@gold#gold", "a@silver#silver"] })
        #expect(waitUntil(seconds: 15) { feed.status.interruption == nil })
    }
}
