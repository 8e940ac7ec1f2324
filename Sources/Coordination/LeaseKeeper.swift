import Foundation
import Synchronization

/// The rules of holding one lease, apart from the thread and the clock that drive them: what to do
/// next, and what each answer from etcd changes. A held lease is renewed every third of its TTL (as
/// etcd's own client does), so two renewals may fail before it lapses; once etcd says the lease is
/// gone, or no renewal succeeded for a whole TTL (so it lapsed on the server's clock too), a new
/// one is granted and everything bound to the old one must be written again.
struct LeaseMachine: Equatable {
    enum State: Equatable {
        /// No lease: grant one at `retryAt` (at once the first time).
        case unleased(retryAt: Double)
        /// `id` is held; renew at `renewAt`; last confirmed alive at `confirmedAt`.
        case held(id: Int64, renewAt: Double, confirmedAt: Double)
    }

    enum Action: Equatable {
        case grant
        case keepAlive(Int64)
        case wait(until: Double)
    }

    let ttl: Double
    /// Pause after a failed grant or renewal before the next attempt.
    let retryDelay: Double
    private(set) var state: State = .unleased(retryAt: 0)

    init(ttl: Double, retryDelay: Double) {
        self.ttl = ttl
        self.retryDelay = retryDelay
    }

    var leaseID: Int64? {
        if case .held(let id, _, _) = state { return id }
        return nil
    }

    func next(now: Double) -> Action {
        switch state {
        case .unleased(let retryAt):
            return now >= retryAt ? .grant : .wait(until: retryAt)
        case .held(let id, let renewAt, _):
            return now >= renewAt ? .keepAlive(id) : .wait(until: renewAt)
        }
    }

    mutating func granted(_ id: Int64, now: Double) {
        state = .held(id: id, renewAt: now + ttl / 3, confirmedAt: now)
    }

    mutating func grantFailed(now: Double) {
        state = .unleased(retryAt: now + retryDelay)
    }

    mutating func keptAlive(now: Double) {
        guard case .held(let id, _, _) = state else { return }
        state = .held(id: id, renewAt: now + ttl / 3, confirmedAt: now)
    }

    /// A renewal failed. Returns true when the lease is to be taken as lost (etcd said so, or it
    /// went a whole TTL unconfirmed).
    mutating func keepAliveFailed(_ error: EtcdError, now: Double) -> Bool {
        guard case .held(let id, _, let confirmedAt) = state else { return false }
        if case .leaseNotFound = error {
            state = .unleased(retryAt: now)
            return true
        }
        if now - confirmedAt >= ttl {
            state = .unleased(retryAt: now)
            return true
        }
        state = .held(id: id, renewAt: now + retryDelay, confirmedAt: confirmedAt)
        return false
    }

    /// A writer found the lease gone (a put answered `leaseNotFound`).
    mutating func lost(_ id: Int64, now: Double) -> Bool {
        guard leaseID == id else { return false }
        state = .unleased(retryAt: now)
        return true
    }
}

/// Holds one etcd lease for a process, on a thread of its own so that no driver call, tick or API
/// request can delay a renewal: the host's liveness in the cluster is the lease, nothing else. When
/// the lease is lost it grants a new one and tells `onGranted`, which writes again what must live
/// under it.
package final class LeaseKeeper: Sendable {
    /// What the keeper is doing, for logs and for writers.
    package enum Status: Sendable, Equatable {
        case held(leaseID: Int64)
        /// No lease right now; `lastError` says why (nil before the first attempt ended).
        case unleased(lastError: EtcdError?)
    }

    private struct Shared {
        var machine: LeaseMachine
        var lastError: EtcdError?
        var stopped = false
    }

    private let client: EtcdClient
    private let shared: Mutex<Shared>
    private let wake = NSCondition()
    private let finished = DispatchSemaphore(value: 0)
    private let onGranted: @Sendable (Int64) -> Void
    private let onLost: @Sendable (Int64, EtcdError) -> Void

    /// Starts keeping a lease of `ttl` whole seconds (etcd's unit; at least 2).
    /// - Parameters:
    ///   - onGranted: called on the keeper's thread with each new lease, before it is renewed.
    ///   - onLost: called when a held lease is taken as lost, with why.
    package init(
        client: EtcdClient, ttl: Int64, retryDelay: Double = 0.5,
        onGranted: @escaping @Sendable (Int64) -> Void = { _ in },
        onLost: @escaping @Sendable (Int64, EtcdError) -> Void = { _, _ in }
    ) {
        self.client = client
        self.onGranted = onGranted
        self.onLost = onLost
        shared = Mutex(Shared(machine: LeaseMachine(ttl: Double(max(2, ttl)), retryDelay: retryDelay)))
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "etcd-lease"
        thread.start()
    }

    package var status: Status {
        shared.withLock { shared in
            if let id = shared.machine.leaseID { return .held(leaseID: id) }
            return .unleased(lastError: shared.lastError)
        }
    }

    /// The lease to bind keys to now, nil while there is none.
    package var leaseID: Int64? { shared.withLock { $0.machine.leaseID } }

    /// A writer was told the lease is gone: grant a new one at once.
    package func reportLost(_ id: Int64) {
        let lost = shared.withLock { $0.machine.lost(id, now: Self.now()) }
        if lost {
            onLost(id, .leaseNotFound(leaseID: id))
            signal()
        }
    }

    /// Stops renewing. With `revoke`, the lease ends now and its keys vanish at once (an orderly
    /// stop); without, they vanish when its TTL runs out (what a crash looks like).
    package func stop(revoke: Bool) {
        let id: Int64? = shared.withLock { shared in
            guard !shared.stopped else { return nil }
            shared.stopped = true
            return shared.machine.leaseID
        }
        signal()
        finished.wait()
        if revoke, let id { try? client.revokeLease(id) }
    }

    private static func now() -> Double { Date.timeIntervalSinceReferenceDate }

    private func signal() {
        wake.lock()
        wake.broadcast()
        wake.unlock()
    }

    private func run() {
        while true {
            let step: LeaseMachine.Action? = shared.withLock { $0.stopped ? nil : $0.machine.next(now: Self.now()) }
            guard let step else { return }
            switch step {
            case .wait(let until):
                wake.lock()
                if !shared.withLock({ $0.stopped }) {
                    _ = wake.wait(until: Date(timeIntervalSinceReferenceDate: until))
                }
                wake.unlock()
            case .grant:
                do {
                    let lease = try client.grantLease(ttl: Int64(shared.withLock { $0.machine.ttl }))
                    shared.withLock {
                        $0.machine.granted(lease.id, now: Self.now())
                        $0.lastError = nil
                    }
                    onGranted(lease.id)
                } catch {
                    shared.withLock {
                        $0.machine.grantFailed(now: Self.now())
                        $0.lastError = error
                    }
                }
            case .keepAlive(let id):
                do {
                    try client.keepAlive(id)
                    shared.withLock { $0.machine.keptAlive(now: Self.now()) }
                } catch {
                    let lost = shared.withLock { shared in
                        shared.lastError = error
                        return shared.machine.keepAliveFailed(error, now: Self.now())
                    }
                    if lost { onLost(id, error) }
                }
            }
        }
    }
}
