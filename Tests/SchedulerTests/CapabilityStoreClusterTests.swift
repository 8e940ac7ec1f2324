import Foundation
import Scheduler
import Testing

/// What a store fed from a cluster's watch adds: backends withheld by the operators' decisions in
/// etcd, and staleness held while the watch is broken.
@Suite("Capability store in a cluster (decisions withheld, staleness held while etcd is silent)")
struct CapabilityStoreClusterTests {
    @Test func withheldBackendsLeaveGetPoolsAtOnceAndComeBack() throws {
        let store = CapabilityStore(clock: schedulerClock())
        try store.receive(bytes(reportText(host: "node1@nfs-gold")))
        try store.receive(bytes(reportText(host: "node2@lvm", capabilities: poolCapabilities)))
        let before = store.pools(detail: false).version
        store.withhold(["node2@lvm"])
        #expect(try poolNames(store.pools(detail: false)) == ["node1@nfs-gold#gold"])
        #expect(store.pools(detail: false).version != before)
        #expect(store.backends().first { $0.host == "node2@lvm" }?.isListed == false)
        // A new report of a withheld backend does not bring it back; lifting the decision does.
        try store.receive(bytes(reportText(host: "node2@lvm", capabilities: poolCapabilities)))
        #expect(try poolNames(store.pools(detail: false)) == ["node1@nfs-gold#gold"])
        store.withhold([])
        #expect(try poolNames(store.pools(detail: false)).count == 3)
    }

    @Test func stalenessHeldFromTheWatchsLastDeliveryGoesOnWhereItStopped() throws {
        let clock = schedulerClock()
        let store = CapabilityStore(serviceDownTime: 10, clock: clock)
        try store.receive(bytes(reportText(host: "node1@nfs-gold")))
        // The watch last delivered at +4 s and its break is noticed at +12 s: the backend went stale
        // at +10 s only because nothing could arrive; the hold lists it again.
        clock.advance(by: 12)
        #expect(try poolNames(store.pools(detail: false)).isEmpty)
        store.holdExpiry(since: 8)
        #expect(try poolNames(store.pools(detail: false)) == ["node1@nfs-gold#gold"])
        clock.advance(by: 100)
        #expect(try poolNames(store.pools(detail: false)) == ["node1@nfs-gold#gold"], "held: silence says nothing")
        // Resumed: its age goes on from the 4 s it had when the hold began, so 6 s more make it stale.
        store.resumeExpiry()
        clock.advance(by: 5)
        #expect(try poolNames(store.pools(detail: false)) == ["node1@nfs-gold#gold"])
        clock.advance(by: 2)
        #expect(try poolNames(store.pools(detail: false)).isEmpty)
    }
}
