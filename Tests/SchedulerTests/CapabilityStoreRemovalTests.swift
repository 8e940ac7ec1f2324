import Foundation
import Scheduler
import Testing

@Suite("Capability store removal (a cluster's deleted report keys)")
struct CapabilityStoreRemovalTests {
    @Test func removedHostsLeaveAtOnceAndTheViewChanges() throws {
        let store = CapabilityStore(clock: schedulerClock())
        try store.receive(bytes(reportText(host: "node1@nfs-gold")))
        try store.receive(bytes(reportText(host: "node2@lvm", capabilities: poolCapabilities)))
        let before = store.pools(detail: false)
        #expect(store.counts == (backends: 2, pools: 3))
        #expect(store.remove(["node2@lvm", "node9@unknown"]) == 1)
        let after = store.pools(detail: false)
        #expect(after.version != before.version)
        #expect(try poolNames(after) == ["node1@nfs-gold#gold"])
        #expect(store.counts == (backends: 1, pools: 1))
        #expect(store.backends().map(\.host) == ["node1@nfs-gold"])
        #expect(store.remove(["node2@lvm"]) == 0)
        #expect(store.pools(detail: false).version == after.version, "removing nothing changes nothing")
        // The host can come back.
        try store.receive(bytes(reportText(host: "node2@lvm", capabilities: poolCapabilities)))
        #expect(try poolNames(store.pools(detail: false)).count == 3)
    }
}
