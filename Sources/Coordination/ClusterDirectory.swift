import Foundation
import ServiceDecisions
import Synchronization

/// Every volume service the cluster knows, as a scheduler's watch last saw it: the records hosts
/// write under their leases (alive), their lease-free last-seen records (so a dead host is listed
/// as down, not forgotten), and the operators' decisions. Fed by `ClusterReportFeed`; read by the
/// cluster-wide os-services.
package final class ClusterDirectory: Sendable {
    /// One service as os-services lists it.
    package struct Service: Sendable, Equatable {
        package var key: ServiceKey
        /// The newest record: the leased one while the host lives, else the last-seen one.
        package var record: ServiceRecord
        /// The host's lease holds its service record now (Cinder's `state: up`).
        package var alive: Bool
        /// The operators' standing decision, nil when none was ever taken.
        package var decision: DecisionRecord?
    }

    private struct State {
        var alive: [ServiceKey: ServiceRecord] = [:]
        var lastSeen: [ServiceKey: ServiceRecord] = [:]
        var decisions: [ServiceKey: DecisionRecord] = [:]
        var version: UInt64 = 1
    }

    private let state = Mutex(State())

    package init() {}

    /// Bumped by every change; equal versions mean equal listings.
    package var version: UInt64 { state.withLock { $0.version } }

    /// Every service with a service or last-seen record, sorted by host then binary.
    package func services() -> [Service] {
        state.withLock { state in
            let keys = Set(state.alive.keys).union(state.lastSeen.keys).sorted()
            return keys.compactMap { key in
                let alive = state.alive[key]
                guard let record = alive ?? state.lastSeen[key] else { return nil }
                // A last-seen record written after the leased one (an orderly stop) tells the later time.
                var newest = record
                if let seen = state.lastSeen[key], seen.updatedAt > newest.updatedAt {
                    newest.updatedAt = seen.updatedAt
                }
                return Service(key: key, record: newest, alive: alive != nil, decision: state.decisions[key])
            }
        }
    }

    /// The service `key`, nil when the cluster has no record of it.
    package func service(_ key: ServiceKey) -> Service? {
        state.withLock { state in
            guard let record = state.alive[key] ?? state.lastSeen[key] else { return nil }
            return Service(key: key, record: record, alive: state.alive[key] != nil, decision: state.decisions[key])
        }
    }

    /// One change the watch saw, in the directory's terms.
    package enum Change: Sendable {
        case alive(ServiceKey, ServiceRecord?)
        case lastSeen(ServiceKey, ServiceRecord?)
        case decision(ServiceKey, DecisionRecord?)
    }

    /// Replaces everything (a snapshot).
    package func replace(with changes: [Change]) {
        state.withLock { state in
            let version = state.version
            state = State()
            state.version = version &+ 1
            for change in changes { Self.apply(change, to: &state) }
        }
    }

    /// Applies changes in order.
    package func apply(_ changes: [Change]) {
        guard !changes.isEmpty else { return }
        state.withLock { state in
            for change in changes { Self.apply(change, to: &state) }
            state.version &+= 1
        }
    }

    private static func apply(_ change: Change, to state: inout State) {
        switch change {
        case .alive(let key, let record): state.alive[key] = record
        case .lastSeen(let key, let record): state.lastSeen[key] = record
        case .decision(let key, let record): state.decisions[key] = record
        }
    }
}
