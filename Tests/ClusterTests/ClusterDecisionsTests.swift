import Coordination
import Dispatch
import Foundation
import ServiceDecisions
import SharedTestSupport
import Supervision
import Synchronization
import Testing

@Suite("ClusterDecisions: operator decisions in etcd, compare-and-swap", .serialized, .offCooperativePool)
struct ClusterDecisionsTests {
    let layout = ClusterLayout(root: "/decide")!
    let gold = ServiceKey(host: "a@gold", binary: ServiceKey.volumeBinary)

    @Test func decisionsTakenAtOnceOnManyNodesAreAppliedOneAfterTheOther() throws {
        let cluster = try EtcdCluster()
        let decisions = ClusterDecisions(client: try etcdClient(cluster), layout: layout)
        #expect(try decisions.record(.disable(reason: "first"), for: gold).disabledReason == "first")
        // Disables keep `frozen` as they find it: one computed from a state read before the freeze and
        // written blindly after it would thaw the service. With compare-and-swap none can.
        let froze = Locked(false)
        DispatchQueue.concurrentPerform(iterations: 5) { index in
            if index == 0 {
                // Refused only when others won every round; a few more tries then.
                for _ in 0..<20 where !froze.withLock({ $0 }) {
                    if (try? decisions.record(.freeze, for: gold)) != nil { froze.withLock { $0 = true } }
                }
                return
            }
            for round in 0..<6 {
                _ = try? decisions.record(.disable(reason: "node \(index) round \(round)"), for: gold)
            }
        }
        #expect(froze.withLock { $0 })
        let held = try decisions.decisions(ofNode: "a").statuses[gold]
        #expect(held?.frozen == true)
        #expect(held?.disabled == true)
    }

    @Test func carryOverWritesOnlyWhatEtcdHasNoDecisionFor() throws {
        let cluster = try EtcdCluster()
        let decisions = ClusterDecisions(client: try etcdClient(cluster), layout: layout)
        let silver = ServiceKey(host: "a@silver", binary: ServiceKey.volumeBinary)
        _ = try decisions.record(.enable, for: silver)
        let local = [
            gold: AdminState(disabled: true, disabledReason: "file"),
            silver: AdminState(disabled: true, disabledReason: "file"),
        ]
        let result = try decisions.carryOver(local)
        #expect(result.written == [gold])
        #expect(result.overruled == [silver])
        let held = try decisions.decisions(ofNode: "a").statuses
        #expect(held[gold] == AdminState(disabled: true, disabledReason: "file"))
        #expect(held[silver] == AdminState())
        // Another node's services are not under this node's prefix.
        _ = try decisions.record(
            .disable(reason: nil), for: ServiceKey(host: "ab@gold", binary: ServiceKey.volumeBinary))
        #expect(try decisions.decisions(ofNode: "a").statuses.count == 2)
    }

    @Test func withoutQuorumADecisionIsRefusedAndChangesNothing() throws {
        let cluster = try EtcdCluster()
        let decisions = ClusterDecisions(client: try etcdClient(cluster), layout: layout)
        _ = try decisions.record(.disable(reason: "kept"), for: gold)
        cluster.kill(1)
        cluster.kill(2)
        var refusal: DecisionStoreError?
        do {
            _ = try decisions.record(.enable, for: gold)
        } catch {
            refusal = error
        }
        #expect(refusal?.nothingChanged == true, "\(String(describing: refusal))")
        try cluster.restart(1)
        #expect(waitUntil(seconds: 30) { cluster.acceptsWrites(through: cluster.members[0]) })
        #expect(try decisions.decisions(ofNode: "a").statuses[gold]?.disabledReason == "kept")
    }
}

/// A value shared with the threads a test starts.
final class Locked<Value: Sendable>: Sendable {
    private let value: Mutex<Value>

    init(_ value: Value) { self.value = Mutex(value) }

    func withLock<T>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
}
