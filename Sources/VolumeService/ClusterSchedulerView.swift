import Clocks
import Coordination
import Foundation
import Scheduler
import ServiceDecisions
import Supervision
import VolumeAPI

/// A scheduler's `ClusterView` in cluster mode: the services and decisions its watch keeps in the
/// feed's directory, each backend's state from the reports in its store, and decisions written
/// straight to etcd.
struct ClusterSchedulerView: ClusterView {
    let feed: ClusterReportFeed
    let store: CapabilityStore
    let decisions: ClusterDecisions

    func staleness(at now: MonotonicInstant) -> Double? { feed.staleness(at: now) }

    func services() -> [ClusterService] {
        feed.directory.services().map { service in
            ClusterService(
                key: service.key, zone: service.record.zone, up: service.alive,
                updatedAt: service.record.updatedAt.date,
                status: service.decision?.status ?? AdminState(),
                backendUp: store.report(for: service.key.host)?.backendState == .up)
        }
    }

    func record(_ decision: OperatorDecision, for key: ServiceKey) throws(DecisionStoreError)
        -> AdminState
    {
        try decisions.record(decision, for: key)
    }
}
