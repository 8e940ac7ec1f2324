import Testing

@testable import Coordination

@Suite("LeaseMachine rules", .offCooperativePool)
struct LeaseMachineTests {
    @Test func grantsThenRenewsEveryThirdOfTheTTL() {
        var machine = LeaseMachine(ttl: 30, retryDelay: 1)
        #expect(machine.next(now: 100) == .grant)
        machine.granted(7, now: 100)
        #expect(machine.leaseID == 7)
        #expect(machine.next(now: 105) == .wait(until: 110))
        #expect(machine.next(now: 110) == .keepAlive(7))
        machine.keptAlive(now: 110)
        #expect(machine.next(now: 111) == .wait(until: 120))
    }

    @Test func aFailedGrantIsRetriedAfterTheDelay() {
        var machine = LeaseMachine(ttl: 30, retryDelay: 2)
        machine.grantFailed(now: 100)
        #expect(machine.leaseID == nil)
        #expect(machine.next(now: 101) == .wait(until: 102))
        #expect(machine.next(now: 102) == .grant)
    }

    @Test func failedRenewalsKeepTheLeaseUntilAWholeTTLWentUnconfirmed() {
        var machine = LeaseMachine(ttl: 30, retryDelay: 1)
        machine.granted(7, now: 100)
        let unavailable = EtcdError.unavailable([])
        let result1 = machine.keepAliveFailed(unavailable, now: 110)
        #expect(!result1)
        #expect(machine.next(now: 110.5) == .wait(until: 111))
        let result2 = machine.keepAliveFailed(unavailable, now: 129)
        #expect(!result2)
        #expect(machine.leaseID == 7)
        let result3 = machine.keepAliveFailed(unavailable, now: 130)
        #expect(result3, "30 s unconfirmed: it lapsed on the server too")
        #expect(machine.leaseID == nil)
        #expect(machine.next(now: 130) == .grant)
    }

    @Test func leaseNotFoundIsLostAtOnce() {
        var machine = LeaseMachine(ttl: 30, retryDelay: 1)
        machine.granted(7, now: 100)
        let lost = machine.keepAliveFailed(.leaseNotFound(leaseID: 7), now: 110)
        #expect(lost)
        #expect(machine.next(now: 110) == .grant)
    }

    @Test func aWriterReportsOnlyTheCurrentLeaseLost() {
        var machine = LeaseMachine(ttl: 30, retryDelay: 1)
        machine.granted(8, now: 100)
        let result4 = machine.lost(7, now: 101)
        #expect(!result4, "an older lease's loss changes nothing")
        #expect(machine.leaseID == 8)
        let result5 = machine.lost(8, now: 101)
        #expect(result5)
        #expect(machine.next(now: 101) == .grant)
    }
}
