import Foundation
import Scheduler
import ServiceDecisions
import Supervision

/// Operator decisions as the cluster keeps them: one lease-free key per service
/// (`<root>/decisions/<host@backend>/<binary>`, a `DecisionRecord`), written by whichever API took
/// the decision (a host's or any scheduler's) in a compare-and-swap transaction, so two decisions
/// about one service taken at once on two nodes are applied one after the other, never one over the
/// other. Every call blocks on etcd: call it off the event loops.
///
/// An enabled service keeps its record (`disabled: false`): a record means "decided in the cluster",
/// which is what carrying over a host's local file asks.
package struct ClusterDecisions: Sendable {
    package let client: EtcdClient
    package let layout: ClusterLayout

    /// Read-apply-write rounds before a decision is refused because others keep writing the service.
    static let attempts = 5

    package init(client: EtcdClient, layout: ClusterLayout) {
        self.client = client
        self.layout = layout
    }

    /// Where decisions go, for messages.
    package var location: String {
        "etcd (\(client.configuration.endpoints.joined(separator: ","))) under \(layout.root)/decisions/"
    }

    /// Applies `decision` to the status etcd holds for `key` and writes the result if nobody wrote the
    /// key meanwhile (else reads it again). Returns the status in force once etcd confirmed the write;
    /// throws `clusterRefused` (nothing changed) or, when a write got no answer and reading it back
    /// could not tell, `clusterUncertain`.
    package func record(_ decision: OperatorDecision, for key: ServiceKey, now: Date = Date())
        throws(DecisionStoreError) -> AdminState
    {
        let name = layout.key(.decision(host: key.host, binary: key.binary))
        for _ in 0..<Self.attempts {
            let current: EtcdKeyValue?
            do {
                current = try client.get(name)
            } catch {
                throw .clusterRefused(reason: error.description)
            }
            let before: AdminState
            if let current {
                do throws(ClusterRecordError) {
                    before = try DecisionRecord.decode(current.value, key: name).status
                } catch {
                    // A record this volumed cannot read (a newer format, damage) is not overwritten blindly.
                    throw .clusterRefused(reason: "the stored decision cannot be read: \(error)")
                }
            } else {
                before = AdminState()
            }
            let after = decision.applied(to: before)
            if current != nil, after == before { return after }
            let value = DecisionRecord(after, updatedAt: CapabilityTimestamp(now)).encoded()
            let unchanged =
                current.map { EtcdCompare(key: name, .equal, .modRevision($0.modRevision)) } ?? .absent(name)
            do {
                let result = try client.transaction(
                    compare: [unchanged], success: [.put(key: name, value: value, lease: 0)])
                if result.succeeded { return after }
            } catch {
                guard case .outcomeUnknown = error else { throw .clusterRefused(reason: error.description) }
                // Ours is the only write of exactly these bytes (the time is in them): read it back.
                let back: EtcdKeyValue?
                do {
                    back = try client.get(name)
                } catch {
                    throw .clusterUncertain(reason: error.description)
                }
                if back?.value == value { return after }
                // Still as it was read: the write did not land.
                if back?.modRevision == current?.modRevision { throw .clusterRefused(reason: error.description) }
                throw .clusterUncertain(reason: error.description)
            }
        }
        throw .clusterRefused(
            reason: "\(key) was changed by others \(Self.attempts) times while this decision was applied; try again")
    }

    /// Writes `status` of `key` as a whole, whatever etcd held (the last writer wins).
    package func store(_ status: AdminState, for key: ServiceKey, now: Date = Date())
        throws(DecisionStoreError)
    {
        let name = layout.key(.decision(host: key.host, binary: key.binary))
        do {
            try client.put(name, value: DecisionRecord(status, updatedAt: CapabilityTimestamp(now)).encoded())
        } catch {
            throw .clusterRefused(reason: error.description)
        }
    }

    /// Every decision etcd holds about the services of node `host`, and the revision read.
    package func decisions(ofNode host: String) throws(EtcdError) -> (
        revision: Int64, statuses: [ServiceKey: AdminState]
    ) {
        let range = try client.range(layout.decisions(ofNode: host))
        return (range.revision, statuses(range.keyValues).statuses)
    }

    /// The statuses held in decision keys; keys or values that are not decisions are returned apart.
    package func statuses(_ keyValues: [EtcdKeyValue]) -> (
        statuses: [ServiceKey: AdminState], unreadable: [ClusterRecordError]
    ) {
        var statuses: [ServiceKey: AdminState] = [:]
        var unreadable: [ClusterRecordError] = []
        for keyValue in keyValues {
            guard case .decision(let host, let binary)? = layout.entry(of: keyValue.key) else { continue }
            do throws(ClusterRecordError) {
                statuses[ServiceKey(host: host, binary: binary)] =
                    try DecisionRecord.decode(keyValue.value, key: keyValue.key).status
            } catch {
                unreadable.append(error)
            }
        }
        return (statuses, unreadable)
    }

    /// A host joining with decisions of its own (its local state file from before cluster mode):
    /// each is written unless etcd already holds a decision for that service, which then wins.
    /// Returns the services written and those etcd overruled with a different status.
    package func carryOver(_ local: [ServiceKey: AdminState], now: Date = Date())
        throws(DecisionStoreError) -> (written: [ServiceKey], overruled: [ServiceKey])
    {
        var written: [ServiceKey] = []
        var overruled: [ServiceKey] = []
        for (key, status) in local.sorted(by: { $0.key < $1.key }) {
            let name = layout.key(.decision(host: key.host, binary: key.binary))
            let value = DecisionRecord(status, updatedAt: CapabilityTimestamp(now)).encoded()
            do {
                let result = try client.transaction(
                    compare: [.absent(name)], success: [.put(key: name, value: value, lease: 0)],
                    failure: [.range(.key(name))])
                if result.succeeded {
                    written.append(key)
                } else if case .range(let range)? = result.results.first, let held = range.keyValues.first,
                    (try? DecisionRecord.decode(held.value, key: name).status) != status
                {
                    overruled.append(key)
                }
            } catch {
                throw .clusterRefused(reason: error.description)
            }
        }
        return (written, overruled)
    }
}

extension DecisionRecord {
    /// The record of `status`, taken at `updatedAt`.
    package init(_ status: AdminState, updatedAt: CapabilityTimestamp) {
        self.init(
            disabled: status.disabled, disabledReason: status.disabledReason, frozen: status.frozen,
            updatedAt: updatedAt)
    }

    /// The service status the record decides.
    package var status: AdminState {
        AdminState(disabled: disabled, disabledReason: disabledReason, frozen: frozen)
    }
}
