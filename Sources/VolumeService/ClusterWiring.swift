import Config
import Coordination
import Logging
import Scheduler
import ServiceDecisions

/// What `[coordination] backend_url` adds to a process: nothing when it is empty (today's
/// single-host behaviour); otherwise an etcd client, and for `serve` the host's membership (its
/// reports go into etcd under its lease instead of to one scheduler) and for `volumed scheduler` (or
/// a host with `host_follows_cluster`) a feed that keeps its store in step with every host's reports.
struct ClusterWiring: Sendable {
    let client: EtcdClient
    let layout: ClusterLayout

    /// Nil in single-host mode.
    init?(_ options: ServiceOptions, logger: Logger) throws {
        guard let coordination = options.coordination else { return nil }
        do {
            client = try EtcdClient(
                configuration: .init(
                    endpoints: coordination.endpoints, requestTimeout: coordination.timeout,
                    connectTimeout: min(2, coordination.timeout), caFile: coordination.caFile,
                    certificateFile: coordination.certificateFile, keyFile: coordination.keyFile))
        } catch {
            throw StartFailure.coordinationUnusable(error)
        }
        layout = ClusterLayout()!
        if let url = options.schedulerURL {
            logger.warning(
                "scheduler_url is not used in cluster mode: reports go into etcd, where every scheduler reads them",
                metadata: ["scheduler_url": "\(url)"])
        }
        logger.notice(
            "cluster mode: coordinating through etcd",
            metadata: [
                "endpoints": "\(coordination.endpoints.joined(separator: ","))", "root": "\(layout.root)",
                "host_follows_cluster": "\(coordination.hostFollowsCluster)",
            ])
    }

    /// The host's membership: its lease, its service records and reports.
    func membership(_ options: ServiceOptions, apiURL: @escaping @Sendable () -> String, logger: Logger)
        -> ClusterMembership
    {
        ClusterMembership(
            client: client, layout: layout, serviceDownTime: options.serviceDownTime,
            zone: options.storageAvailabilityZone, apiURL: apiURL,
            onJoined: { id in
                logger.notice(
                    "joined the cluster: holding an etcd lease; reports go into etcd from the next tick",
                    metadata: ["lease": "\(id)", "ttl": "\(options.serviceDownTime)"])
            },
            onLost: { id, error in
                logger.error(
                    "cluster lease lost; granting a new one and registering again",
                    metadata: [
                        "lease": "\(id)", "reason": "\(error)",
                    ])
            })
    }

    /// Keeps `store` in step with every host's reports in etcd.
    func feed(into store: CapabilityStore) -> ClusterReportFeed {
        ClusterReportFeed(client: client, layout: layout, store: store)
    }

    /// The operator decisions etcd keeps.
    var decisions: ClusterDecisions { ClusterDecisions(client: client, layout: layout) }

    /// A scheduler's view of the cluster through `feed` (which fills `store`).
    func view(_ feed: ClusterReportFeed, store: CapabilityStore) -> ClusterSchedulerView {
        ClusterSchedulerView(feed: feed, store: store, decisions: decisions)
    }
}
