import Config
import Coordination
import HTTPServer
import Logging
import Scheduler
import VolumeAPI

/// The scheduler role alone (`volumed scheduler`): receives capability reports from any number of
/// volume services and serves `get_pools`, on the same HTTP server as the volume service.
package final class SchedulerRunner: Sendable {
    private let server: HTTPServer
    private let listenHost: String
    private let logger: Logger
    package let store: CapabilityStore
    /// Cluster mode: every host's reports from etcd into `store` (posted reports are still taken).
    private let clusterFeed: ClusterReportFeed?

    package init(options: ServiceOptions, logger: Logger) throws {
        self.logger = logger
        self.listenHost = options.schedulerListen
        let store = CapabilityStore(serviceDownTime: options.serviceDownTime, limits: CapabilityStoreLimits(options))
        self.store = store
        let cluster = try ClusterWiring(options, logger: logger)
        let feed = cluster?.feed(into: store)
        clusterFeed = feed
        let api = SchedulerAPI(
            store: store, adminToken: options.adminToken.flatMap { $0.isEmpty ? nil : $0 },
            logger: Logger(label: "volumed.scheduler"),
            cluster: feed.flatMap { feed in cluster?.view(feed, store: store) })
        var router = Router()
        api.registerSchedulerRole(on: &router)
        server = HTTPServer(
            configuration: HTTPServerConfiguration(
                listen: options.schedulerListen, port: options.schedulerListenPort,
                limits: options.http),
            router: router, logger: Logger(label: "volumed.http"), onResponse: api.requestMetrics.record,
            hooks: OpenStackProtocol().hooks)
    }

    package var apiURL: String {
        let shown = listenHost.contains(":") ? "[\(listenHost)]" : (listenHost == "0.0.0.0" ? "127.0.0.1" : listenHost)
        return "http://\(shown):\(server.localPort ?? 0)"
    }

    package func start() throws {
        try server.start()
        logger.info("scheduler started", metadata: ["api": "\(apiURL)"])
    }

    package func shutdown() {
        logger.notice("shutting down")
        server.shutdown()
        clusterFeed?.stop()
    }

    package func waitUntilStopped() {
        server.waitUntilStopped()
    }
}

extension CapabilityStoreLimits {
    /// The limits `scheduler_max_backends` and `scheduler_max_pools` set.
    init(_ options: ServiceOptions) {
        self.init(maxBackends: options.schedulerMaxBackends, maxPools: options.schedulerMaxPools)
    }
}
