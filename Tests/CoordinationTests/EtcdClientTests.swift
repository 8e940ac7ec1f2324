import Foundation
import SharedTestSupport
import Testing

@testable import Coordination

/// A client of every member of `cluster`, with short timeouts so failures show quickly.
func client(of cluster: EtcdCluster, requestTimeout: Double = 2) throws -> EtcdClient {
    try EtcdClient(configuration: .init(endpoints: cluster.clientURLs, requestTimeout: requestTimeout))
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite("EtcdCluster fixture", .offCooperativePool, .serialized)
struct EtcdClusterFixtureTests {
    @Test func startsThreeMembersAndStopsThemByPID() throws {
        let cluster = try EtcdCluster()
        let pids = (0..<3).compactMap { cluster.pid(of: $0) }
        #expect(pids.count == 3)
        #expect(Set(cluster.members.map(\.clientPort)).count == 3)
        cluster.kill(1)
        #expect(cluster.pid(of: 1) == nil)
        #expect(kill(pids[1], 0) != 0, "a killed member's process is gone")
        // Two of three keep quorum (after an election when the killed member led).
        #expect(waitUntil(seconds: 30) { cluster.acceptsWrites(through: cluster.members[0]) })
        try cluster.restart(1)
        #expect(waitUntil(seconds: 30) { cluster.acceptsWrites(through: cluster.members[1]) })
        let restarted = try #require(cluster.pid(of: 1))
        cluster.stop()
        for pid in pids + [restarted] { #expect(kill(pid, 0) != 0) }
    }
}

@Suite("EtcdClient against a real three-member cluster", .offCooperativePool, .serialized)
struct EtcdClientTests {
    @Test func putGetRangeAndDelete() throws {
        let cluster = try EtcdCluster()
        let etcd = try client(of: cluster)
        let first = try etcd.put("/t/a", value: bytes("1"))
        let second = try etcd.put("/t/b", value: [0, 0xFF, 0x80])
        try etcd.put("/u/c", value: bytes("other prefix"))
        #expect(second > first)
        let a = try #require(try etcd.get("/t/a"))
        #expect(a.value == bytes("1"))
        #expect(a.version == 1)
        #expect(a.modRevision == first)
        #expect(try etcd.get("/t/missing") == nil)
        let range = try etcd.range(.prefix("/t/"))
        #expect(range.keyValues.map(\.key) == ["/t/a", "/t/b"])
        #expect(range.keyValues[1].value == [0, 0xFF, 0x80], "binary values survive base64")
        #expect(range.count == 2)
        #expect(range.revision >= second)
        #expect(try etcd.delete(.prefix("/t/")) == 2)
        #expect(try etcd.range(.prefix("/t/")).keyValues.isEmpty)
        #expect(try etcd.get("/u/c")?.value == bytes("other prefix"))
    }

    @Test func transactionIsACompareAndSwap() throws {
        let cluster = try EtcdCluster()
        let etcd = try client(of: cluster)
        let create = try etcd.transaction(
            compare: [.absent("/cas")], success: [.put(key: "/cas", value: bytes("v1"), lease: 0)],
            failure: [.range(.key("/cas"))])
        #expect(create.succeeded)
        #expect(create.results == [.put])
        let again = try etcd.transaction(
            compare: [.absent("/cas")], success: [.put(key: "/cas", value: bytes("lost"), lease: 0)],
            failure: [.range(.key("/cas"))])
        #expect(!again.succeeded)
        guard case .range(let current)? = again.results.first else {
            Issue.record("the failure branch returns the range")
            return
        }
        #expect(current.keyValues.first?.value == bytes("v1"))
        let revision = try #require(current.keyValues.first?.modRevision)
        // A swap on the revision read wins once; the same swap again finds a newer revision.
        let swap = { () throws -> Bool in
            try etcd.transaction(
                compare: [EtcdCompare(key: "/cas", .equal, .modRevision(revision))],
                success: [.put(key: "/cas", value: bytes("v2"), lease: 0)]
            ).succeeded
        }
        #expect(try swap())
        #expect(try !swap())
        #expect(try etcd.get("/cas")?.value == bytes("v2"))
        let delete = try etcd.transaction(
            compare: [EtcdCompare(key: "/cas", .equal, .value(bytes("v2")))], success: [.delete(.key("/cas"))])
        #expect(delete.results == [.delete(deleted: 1)])
    }

    @Test func expiredLeaseDeletesItsKeys() throws {
        let cluster = try EtcdCluster()
        let etcd = try client(of: cluster)
        let lease = try etcd.grantLease(ttl: 2)
        #expect(lease.ttl == 2)
        try etcd.put("/lease/a", value: bytes("x"), lease: lease.id)
        #expect(try etcd.get("/lease/a")?.lease == lease.id)
        #expect(waitUntil(seconds: 20) { (try? etcd.get("/lease/a")) == .some(nil) })
        #expect(throws: EtcdError.leaseNotFound(leaseID: lease.id)) { try etcd.keepAlive(lease.id) }
        #expect(throws: EtcdError.leaseNotFound(leaseID: lease.id)) {
            try etcd.put("/lease/b", value: bytes("x"), lease: lease.id)
        }
    }

    @Test func keepAliveHoldsKeysAndRevokeDropsThem() throws {
        let cluster = try EtcdCluster()
        let etcd = try client(of: cluster)
        let lease = try etcd.grantLease(ttl: 2)
        try etcd.put("/lease/kept", value: bytes("x"), lease: lease.id)
        // Twice the TTL, kept alive every half second: the key stays.
        let end = Date().addingTimeInterval(4)
        while Date() < end {
            #expect(try etcd.keepAlive(lease.id).ttl == 2)
            #expect(try etcd.get("/lease/kept") != nil)
            usleep(500_000)  // the scenario: time passes (twice the TTL) while the lease is kept alive
        }
        try etcd.revokeLease(lease.id)
        #expect(try etcd.get("/lease/kept") == nil)
        #expect(throws: EtcdError.leaseNotFound(leaseID: lease.id)) { try etcd.revokeLease(lease.id) }
    }

    @Test func oneMemberDownOfThreeIsInvisible() throws {
        let cluster = try EtcdCluster()
        // A follower, and the one the client talks to: the client must move, and nothing else shows.
        // (Killing the leader costs an election, about a second, in which calls may time out.)
        let leader = try #require(cluster.leaderIndex())
        let follower = try #require(cluster.members.indices.first { $0 != leader })
        let others = cluster.members.indices.filter { $0 != follower }.map { cluster.members[$0].clientURL }
        let etcd = try EtcdClient(
            configuration: .init(
                endpoints: [cluster.members[follower].clientURL] + others, requestTimeout: 2))
        try etcd.put("/k", value: bytes("before"))
        #expect(etcd.currentEndpoint == cluster.members[follower].clientURL)
        cluster.kill(follower)
        for _ in 0..<20 {
            try etcd.put("/k", value: bytes("after"))
            #expect(try etcd.get("/k")?.value == bytes("after"))
        }
        let lease = try etcd.grantLease(ttl: 5)
        try etcd.keepAlive(lease.id)
        #expect(etcd.currentEndpoint != cluster.members[follower].clientURL, "calls stay on a live member")
    }

    /// A stopped (SIGSTOP) member accepts the connection and never answers: a transaction to it
    /// times out as `outcomeUnknown` (never sent twice), and the next call starts on another member.
    @Test func aTransactionThatMetAHungMemberMovesTheNextCallElsewhere() throws {
        let cluster = try EtcdCluster()
        let leader = try #require(cluster.leaderIndex())
        let follower = (leader + 1) % cluster.members.count
        let others = cluster.members.indices.filter { $0 != follower }.map { cluster.members[$0].clientURL }
        let etcd = try EtcdClient(
            configuration: .init(endpoints: [cluster.members[follower].clientURL] + others, requestTimeout: 1))
        try etcd.put("/k", value: bytes("before"))
        cluster.pause(follower)
        defer { cluster.resume(follower) }
        let write = EtcdOperation.put(key: "/k", value: bytes("after"), lease: 0)
        do {
            _ = try etcd.transaction(compare: [], success: [write])
            Issue.record("a transaction to a stopped member was answered")
        } catch {
            guard case .outcomeUnknown = error else {
                Issue.record("expected outcomeUnknown, got \(error)")
                return
            }
        }
        #expect(etcd.currentEndpoint != cluster.members[follower].clientURL)
        let started = ContinuousClock.now
        #expect(try etcd.transaction(compare: [], success: [write]).succeeded)
        #expect(ContinuousClock.now - started < .seconds(1), "no second timeout on the hung member")
    }

    @Test func twoMembersDownIsNoQuorumWithinBoundedTime() throws {
        let cluster = try EtcdCluster()
        let timeout = 2.0
        let etcd = try client(of: cluster, requestTimeout: timeout)
        try etcd.put("/k", value: bytes("v"))
        cluster.kill(1)
        cluster.kill(2)
        // Each call ends within endpoints × timeout (plus slack); once the survivor has noticed it
        // lost its leader (an election timeout, 1 s by default), the error is noQuorum.
        var sawNoQuorum = false
        let deadline = Date().addingTimeInterval(30)
        while !sawNoQuorum, Date() < deadline {
            let started = Date()
            do {
                try etcd.put("/k", value: bytes("lost"))
                Issue.record("a write without quorum succeeded")
                return
            } catch {
                #expect(Date().timeIntervalSince(started) < 3 * timeout + 2)
                if case .noQuorum(let endpoint, let message) = error {
                    sawNoQuorum = true
                    #expect(endpoint == cluster.members[0].clientURL)
                    #expect(message.contains("no leader"))
                } else if case .unavailable = error {
                    // The survivor still waits for its leader; the next call sees the verdict.
                } else {
                    Issue.record("unexpected error \(error)")
                }
            }
        }
        #expect(sawNoQuorum)
        #expect(throws: EtcdError.self, "a linearizable read needs quorum too") { try etcd.get("/k") }
        // One member back: quorum returns and the write that was refused now lands.
        try cluster.restart(1)
        #expect(waitUntil(seconds: 30) { (try? etcd.put("/k", value: bytes("back"))) != nil })
        #expect(try etcd.get("/k")?.value == bytes("back"))
    }
}
