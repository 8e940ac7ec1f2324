import Scheduler
import Supervision

/// Where a cluster host's reports go by default (`[coordination] host_follows_cluster = false`):
/// into etcd through its membership, for the cluster's schedulers, and straight into the host's
/// own in-process scheduler, which so serves the host's own pools without watching every host's
/// reports come back from etcd (a watch whose traffic grows with hosts x backends).
struct HostCapabilityPublisher: CapabilityPublisher {
    let cluster: ClusterMembership
    let local: InProcessCapabilityPublisher

    /// etcd's outcome decides what the supervisors record; the local store gets the reports even
    /// when etcd is unreachable, so the host's own `get_pools` stays current. A report the local
    /// store refused is recorded as refused too.
    func publishServiceCapabilities(_ reports: [BackendReport]) throws -> PublishOutcome {
        let localOutcome = try? local.publishServiceCapabilities(reports)
        var outcome = try cluster.publishServiceCapabilities(reports)
        for (host, reason) in localOutcome?.refused ?? [:] where outcome.refused[host] == nil {
            outcome.refused[host] = "the host's own scheduler: \(reason)"
        }
        return outcome
    }
}
