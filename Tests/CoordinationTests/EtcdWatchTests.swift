import Foundation
import SharedTestSupport
import Synchronization
import Testing

@testable import Coordination

/// Collects a watch's updates for the test thread to wait on.
final class UpdateLog: Sendable {
    private let updates = Mutex<[EtcdWatchUpdate]>([])

    func record(_ update: EtcdWatchUpdate) { updates.withLock { $0.append(update) } }

    var all: [EtcdWatchUpdate] { updates.withLock { $0 } }

    var snapshots: [(revision: Int64, keyValues: [EtcdKeyValue])] {
        all.compactMap { update -> (revision: Int64, keyValues: [EtcdKeyValue])? in
            if case .snapshot(let revision, let keyValues) = update { return (revision, keyValues) }
            return nil
        }
    }

    var events: [EtcdEvent] {
        all.flatMap { update -> [EtcdEvent] in
            if case .changes(_, let events) = update { return events }
            return []
        }
    }

    func wait(_ condition: (UpdateLog) -> Bool) -> Bool {
        waitUntil(seconds: 30) { condition(self) }
    }
}

@Suite("EtcdWatch against a real three-member cluster", .offCooperativePool, .serialized)
struct EtcdWatchTests {
    @Test func startsWithASnapshotThenSeesEveryChangeInOrder() throws {
        let cluster = try EtcdCluster()
        let etcd = try client(of: cluster)
        try etcd.put("/w/before", value: bytes("0"))
        let log = UpdateLog()
        let watch = EtcdWatch(client: etcd, keys: .prefix("/w/"), handler: log.record)
        defer { watch.stop() }
        #expect(log.wait { $0.snapshots.count == 1 })
        #expect(log.snapshots.first?.keyValues.map(\.key) == ["/w/before"])
        try etcd.put("/w/a", value: bytes("1"))
        try etcd.put("/x/outside", value: bytes("not watched"))
        try etcd.put("/w/a", value: bytes("2"))
        try etcd.delete(.key("/w/before"))
        #expect(log.wait { $0.events.count == 3 })
        let events = log.events
        guard events.count == 3, case .put(let first) = events[0], case .put(let second) = events[1] else {
            Issue.record("expected two puts and a delete, got \(events)")
            return
        }
        #expect(first.value == bytes("1"))
        #expect(second.value == bytes("2"))
        #expect(events[2] == .delete(key: "/w/before", modRevision: events[2].modRevision))
        #expect(events.map(\.modRevision) == events.map(\.modRevision).sorted())
    }

    @Test func resumesOnAnotherMemberAfterItsMemberIsKilled() throws {
        let cluster = try EtcdCluster()
        let etcd = try client(of: cluster)
        let log = UpdateLog()
        let watch = EtcdWatch(client: etcd, keys: .prefix("/w/"), handler: log.record)
        defer { watch.stop() }
        #expect(log.wait { $0.snapshots.count == 1 })
        try etcd.put("/w/1", value: bytes("1"))
        #expect(log.wait { $0.events.count == 1 })
        let endpoint = try #require(watch.endpoint)
        let index = try #require(cluster.members.firstIndex { $0.clientURL == endpoint })
        cluster.kill(index)
        // When the killed member led, the others elect a new leader first (about a second).
        #expect(
            waitUntil(seconds: 30) {
                cluster.members.indices.contains { $0 != index && cluster.acceptsWrites(through: cluster.members[$0]) }
            })
        // Written while the watch may be between streams: it must come exactly once, by resume.
        try etcd.put("/w/2", value: bytes("2"))
        try etcd.put("/w/3", value: bytes("3"))
        #expect(log.wait { $0.events.count == 3 })
        #expect(log.events.map(\.key) == ["/w/1", "/w/2", "/w/3"])
        #expect(log.snapshots.count == 1, "a resume, not a full re-read")
        #expect(log.all.contains { if case .interrupted = $0 { true } else { false } })
        #expect(log.wait { $0.all.count > 0 && watch.endpoint != nil && watch.endpoint != endpoint })
    }

    @Test func compactedHistoryLeadsToAFullResynchronisation() throws {
        let cluster = try EtcdCluster()
        let etcd = try client(of: cluster)
        let old = try etcd.put("/w/a", value: bytes("1"))
        try etcd.put("/w/a", value: bytes("2"))
        let latest = try etcd.put("/w/b", value: bytes("3"))
        try etcd.compact(revision: latest)
        // A watch that wants to resume from a revision etcd no longer has.
        let log = UpdateLog()
        let watch = EtcdWatch(client: etcd, keys: .prefix("/w/"), startRevision: old, handler: log.record)
        defer { watch.stop() }
        #expect(log.wait { $0.snapshots.count == 1 })
        let snapshot = try #require(log.snapshots.first)
        #expect(snapshot.keyValues.map(\.key) == ["/w/a", "/w/b"])
        #expect(snapshot.keyValues.first?.value == bytes("2"))
        #expect(snapshot.revision >= latest)
        try etcd.put("/w/c", value: bytes("4"))
        #expect(log.wait { $0.events.map(\.key) == ["/w/c"] })
    }

    @Test func waitsOutALostQuorumAndCatchesUp() throws {
        let cluster = try EtcdCluster()
        let etcd = try client(of: cluster, requestTimeout: 2)
        let log = UpdateLog()
        let watch = EtcdWatch(client: etcd, keys: .prefix("/w/"), handler: log.record)
        defer { watch.stop() }
        #expect(log.wait { $0.snapshots.count == 1 })
        cluster.kill(1)
        cluster.kill(2)
        #expect(log.wait { $0.all.contains { if case .interrupted(.noQuorum) = $0 { true } else { false } } })
        try cluster.restart(1)
        try cluster.restart(2)
        #expect(waitUntil(seconds: 30) { (try? etcd.put("/w/after", value: bytes("1"))) != nil })
        #expect(log.wait { $0.events.map(\.key) == ["/w/after"] })
        #expect(log.snapshots.count == 1)
    }

    /// A stopped (SIGSTOP) member keeps its connections open and says nothing, just like a quiet
    /// cluster: the watch probes it after `quietProbeInterval` and resumes on another member.
    @Test func resumesElsewhereWhenItsMemberHangs() throws {
        let cluster = try EtcdCluster()
        let leader = try #require(cluster.leaderIndex())
        let follower = (leader + 1) % 3
        // The watch's client prefers the follower that will hang; the writer uses the others.
        let order = [follower] + cluster.members.indices.filter { $0 != follower }
        let watched = try EtcdClient(
            configuration: .init(endpoints: order.map { cluster.members[$0].clientURL }, requestTimeout: 1))
        let writer = try EtcdClient(
            configuration: .init(endpoints: order.dropFirst().map { cluster.members[$0].clientURL }))
        let log = UpdateLog()
        let watch = EtcdWatch(client: watched, keys: .prefix("/w/"), quietProbeInterval: 1, handler: log.record)
        defer { watch.stop() }
        #expect(log.wait { $0.snapshots.count == 1 })
        try writer.put("/w/1", value: bytes("1"))
        #expect(log.wait { $0.events.count == 1 })
        #expect(watch.endpoint == cluster.members[follower].clientURL)
        cluster.pause(follower)
        defer { cluster.resume(follower) }
        try writer.put("/w/2", value: bytes("2"))
        let hung = ContinuousClock.now
        #expect(log.wait { $0.events.map(\.key) == ["/w/1", "/w/2"] })
        // Probed after one quiet second, the probe bounded by the 1 s request timeout, then a resume.
        #expect(ContinuousClock.now - hung < .seconds(5))
        #expect(watch.endpoint != cluster.members[follower].clientURL)
        #expect(log.snapshots.count == 1, "a resume, not a full re-read")
    }
}

@Suite("QuietProbe rules", .offCooperativePool)
struct QuietProbeTests {
    @Test func probesOnlyAfterTheQuietIntervalAndOnceAtATime() {
        var probe = QuietProbe(quietInterval: 3, now: 100)
        #expect(probe.check(now: 102) == .none)
        probe.received(now: 102)
        #expect(probe.check(now: 104.9) == .none)
        #expect(probe.check(now: 105) == .startProbe)
        #expect(probe.check(now: 106) == .none, "one probe out at a time")
        probe.probeAnswered(now: 106)
        #expect(probe.check(now: 108) == .none)
        #expect(probe.check(now: 109) == .startProbe)
    }

    @Test func aFailedProbeEndsTheStreamAndBytesDoNotReviveIt() {
        var probe = QuietProbe(quietInterval: 1, now: 0)
        #expect(probe.check(now: 1) == .startProbe)
        let error = EtcdError.unavailable([])
        probe.probeFailed(error)
        probe.received(now: 2)
        #expect(probe.check(now: 2) == .endStream(error))
    }

    @Test func bytesWhileAProbeIsOutAnswerIt() {
        var probe = QuietProbe(quietInterval: 1, now: 0)
        #expect(probe.check(now: 1) == .startProbe)
        probe.received(now: 1.5)
        // The late failure of a probe the stream already answered changes nothing.
        probe.probeFailed(.unavailable([]))
        #expect(probe.check(now: 2) == .none)
        #expect(probe.check(now: 2.5) == .startProbe)
    }
}

@Suite("WatchPosition rules", .offCooperativePool)
struct WatchPositionTests {
    func put(_ key: String, _ revision: Int64) -> EtcdEvent {
        .put(EtcdKeyValue(key: key, value: [], modRevision: revision))
    }

    @Test func deliversOnlyWhatItHasNotDeliveredAndAdvances() {
        var position = WatchPosition(startRevision: 0)
        #expect(position.needsSnapshot)
        position.snapshotRead(at: 10)
        #expect(position.nextRevision == 11)
        // An open stream says the watcher is current up to what it already has (so staleness clears).
        #expect(position.receive(.created) == .deliver(.progress(revision: 10)))
        #expect(position.nextRevision == 11)
        #expect(
            position.receive(.events([put("a", 11), put("b", 12)]))
                == .deliver(.changes(revision: 12, events: [put("a", 11), put("b", 12)])))
        #expect(position.nextRevision == 13)
        // A resumed stream repeating revision 12 delivers only 13.
        #expect(
            position.receive(.events([put("b", 12), put("c", 13)]))
                == .deliver(.changes(revision: 13, events: [put("c", 13)])))
        #expect(position.receive(.events([put("c", 13)])) == .ignore)
        #expect(position.receive(.progress(revision: 12)) == .ignore)
        #expect(position.receive(.progress(revision: 20)) == .deliver(.progress(revision: 20)))
        #expect(position.nextRevision == 21)
    }

    @Test func compactionAsksForAFullRead() {
        var position = WatchPosition(startRevision: 5)
        #expect(!position.needsSnapshot)
        #expect(position.receive(.compacted(compactRevision: 9)) == .resynchronize)
        #expect(position.needsSnapshot)
        var failed = WatchPosition(startRevision: 5)
        #expect(
            failed.receive(.failed(code: 11, message: "mvcc: required revision has been compacted"))
                == .resynchronize)
    }

    @Test func lostLeaderReconnectsKeepingThePosition() {
        var position = WatchPosition(startRevision: 7)
        #expect(
            position.receive(.failed(code: 14, message: "etcdserver: no leader"))
                == .reconnect(.noQuorum(endpoint: "", message: "etcdserver: no leader")))
        #expect(position.nextRevision == 7)
    }

    @Test func readsTheGatewayStreamShapes() throws {
        let created = #"{"result":{"header":{"revision":"3"},"created":true}}"#
        let events =
            #"{"result":{"header":{"revision":"5"},"events":[{"kv":{"key":"L3cvYQ==","mod_revision":"4","value":"MQ=="}},{"type":"DELETE","kv":{"key":"L3cvYg==","mod_revision":"5"}}]}}"#
        let compacted = #"{"result":{"header":{},"canceled":true,"compact_revision":"4"}}"#
        let noLeader = #"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}}"#
        let progress = #"{"result":{"header":{"revision":"9"}}}"#
        func message(_ text: String) throws -> WatchPosition.Message {
            try WatchPosition.message(try GatewayJSON.parse(Array(text.utf8)))
        }
        #expect(try message(created) == .created)
        #expect(
            try message(events)
                == .events([
                    .put(EtcdKeyValue(key: "/w/a", value: Array("1".utf8), modRevision: 4)),
                    .delete(key: "/w/b", modRevision: 5),
                ]))
        #expect(try message(compacted) == .compacted(compactRevision: 4))
        #expect(try message(noLeader) == .failed(code: 14, message: "etcdserver: no leader"))
        #expect(try message(progress) == .progress(revision: 9))
        #expect(throws: GatewayJSON.Malformed.self) { try message(#"{"result":{"header":{"revision":"x"}}}"#) }
    }

    @Test func splitsLinesAndBoundsAnUnfinishedOne() {
        var splitter = LineSplitter(limit: 8)
        let first = Array("{\"a\":1}\n{\"b\"".utf8)
        let lines = first.withUnsafeBytes { splitter.append($0) }
        #expect(lines == [Array("{\"a\":1}".utf8)])
        let rest = Array(":2}\n".utf8)
        #expect(rest.withUnsafeBytes { splitter.append($0) } == [Array("{\"b\":2}".utf8)])
        let long = Array("0123456789".utf8)
        #expect(long.withUnsafeBytes { splitter.append($0) } == nil)
    }
}
