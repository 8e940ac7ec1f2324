import Config
import Coordination
import CurlClient
import Drivers
import Foundation
import HTTPServer
import Logging
import Scheduler
import ServiceDecisions
import Supervision
import Synchronization
import VolumeAPI

/// The volume service as one process runs it: configuration -> drivers -> one supervisor per
/// backend -> the libcurl publisher -> the scheduler (in this process unless `scheduler_url` names
/// another), all served by one HTTP server. Owns the process-level duties: the operators'
/// decisions (restored at start, applied to backends as they appear), SIGHUP reloads (on a thread of
/// their own, never holding up a stop) and graceful shutdown.
package final class VolumeServiceRunner: Sendable {
    private let configPath: String?
    private let current: Mutex<ServiceConfiguration>
    private let logger: Logger
    let supervisors: SupervisorSet
    private let server: HTTPServer
    private let decisions: OperatorDecisions
    private let publisherURL: PublisherURL
    /// Runs reloads, one at a time, off the signal thread.
    private let reloads = DispatchQueue(label: "volumed.reload")
    /// A reload is running; another was asked for meanwhile (run once more when it ends).
    private let reloadState = Mutex<(running: Bool, again: Bool)>((false, false))
    private let shutdownStarted = Mutex(false)
    private let shutdownFinished = DispatchSemaphore(value: 0)
    /// Told around each reload the reload thread runs (systemd's RELOADING=1, then READY=1).
    package let reloadHooks = ReloadHooks()
    /// The in-process scheduler's store; nil when `scheduler_url` points elsewhere.
    package let schedulerStore: CapabilityStore?
    /// Cluster mode (`[coordination] backend_url`): this host's lease and records in etcd, and the
    /// feed of every host's reports into `schedulerStore`; nil in single-host mode.
    private let membership: ClusterMembership?
    private let clusterFeed: ClusterReportFeed?
    /// Cluster mode: the operators' decisions in etcd, followed by a watch of this host's keys.
    private let clusterDecisions: ClusterDecisionStore?
    /// This process's API URL once it listens, for the service records in etcd.
    private let ownURL = PublisherURL(nil)

    /// - Parameter logLevels: the process's run-time log levels, which the API's set-log changes.
    package init(
        configuration: ServiceConfiguration, configPath: String?, logger: Logger,
        logLevels: LogLevelRegistry? = nil
    ) throws {
        let options = configuration.service
        self.configPath = configPath
        self.current = Mutex(configuration)
        self.logger = logger

        let client = try CurlClient(
            configuration: .init(
                connectTimeout: options.schedulerConnectTimeout, totalTimeout: options.schedulerTimeout,
                httpVersion: options.schedulerHTTPVersion == "2" ? .http2 : .http1_1,
                verifyTLS: !options.schedulerInsecure, caFile: options.schedulerCACertificatesFile))
        let publisherURL = PublisherURL(options.schedulerURL)
        self.publisherURL = publisherURL
        let adminToken = options.adminToken.flatMap { $0.isEmpty ? nil : $0 }
        let store =
            options.schedulerURL == nil
            ? CapabilityStore(serviceDownTime: options.serviceDownTime, limits: CapabilityStoreLimits(options)) : nil
        self.schedulerStore = store
        let cluster = try ClusterWiring(options, logger: logger)
        let ownURL = self.ownURL
        let membership = cluster?.membership(options, apiURL: { ownURL.value }, logger: logger)
        self.membership = membership
        // By default a cluster host watches only its own keys (its decisions, below): its in-process
        // scheduler serves the host's own pools; `host_follows_cluster` opts into a watch of every
        // host's keys, whose cost grows with hosts x backends.
        let followsCluster = options.coordination?.hostFollowsCluster ?? false
        let clusterFeed = followsCluster ? store.flatMap { store in cluster?.feed(into: store) } : nil
        self.clusterFeed = clusterFeed
        // The in-process scheduler is fed directly, never through this process's own connection slots.
        // In cluster mode every report goes into etcd too; a host following the cluster gets its own
        // back through the feed with everyone else's.
        let local = store.map { InProcessCapabilityPublisher(store: $0) }
        let publisher: any CapabilityPublisher =
            if let membership {
                if let local, clusterFeed == nil {
                    HostCapabilityPublisher(cluster: membership, local: local)
                } else {
                    membership
                }
            } else {
                local ?? CurlCapabilityPublisher(url: { publisherURL.value }, client: client, adminToken: adminToken)
            }
        let supervisors = try SupervisorSet(
            settings: ServiceSettings(options), publisher: publisher,
            logger: Logger(label: "volumed.supervision"))
        self.supervisors = supervisors

        // Disabled services must stay disabled across restarts: a state file that cannot be read or a
        // directory that cannot be written stops start-up rather than silently re-enabling them.
        // In cluster mode they live in etcd, and the file is kept as their last copy.
        let clusterDecisions: ClusterDecisionStore?
        do {
            let stateFile = try ServiceStateFile(directory: options.statePath)
            try stateFile.checkWritable()
            clusterDecisions = cluster.map {
                ClusterDecisionStore(
                    cluster: $0.decisions, host: options.host, mirror: stateFile,
                    logger: Logger(label: "volumed.decisions"))
            }
            decisions = try OperatorDecisions(
                store: clusterDecisions ?? stateFile, supervisors: supervisors, host: options.host,
                logger: Logger(label: "volumed.decisions"))
        } catch {
            throw StartFailure.stateUnusable(error)
        }
        self.clusterDecisions = clusterDecisions
        for section in configuration.backends {
            try decisions.addBackend(DriverFactory.makeBackendDefinition(for: section, service: options))
        }
        if let clusterDecisions {
            logger.notice(
                "operator decisions are kept in etcd; the local state file is their last copy",
                metadata: ["decisions": "\(clusterDecisions.location)"])
            clusterDecisions.follow { [decisions] statuses in decisions.adopt(statuses) }
        }

        let api = VolumeAPI(
            supervisors: supervisors, decisions: decisions, capabilityStore: store,
            settings: Self.apiSettings(options, adminToken: adminToken),
            logger: Logger(label: "volumed.api"), logLevels: logLevels,
            openStack: OpenStackProtocol(logLevels: logLevels),
            cluster: clusterFeed.flatMap { feed in store.flatMap { cluster?.view(feed, store: $0) } })
        var router = Router()
        api.register(on: &router)
        var serverConfiguration = HTTPServerConfiguration(
            listen: options.osapiVolumeListen,
            port: options.osapiVolumeListenPort, limits: options.http)
        serverConfiguration.eventLoopCount = options.osapiVolumeWorkers ?? 0
        self.server = HTTPServer(
            configuration: serverConfiguration,
            router: router, logger: Logger(label: "volumed.http"), onResponse: api.requestMetrics.record,
            hooks: api.openStack.hooks)
    }

    /// The API's settings from `[DEFAULT]`.
    static func apiSettings(_ options: ServiceOptions, adminToken: String?) -> VolumeAPISettings {
        var settings = VolumeAPISettings(
            host: options.host, availabilityZone: options.storageAvailabilityZone,
            serviceDownTime: options.serviceDownTime, adminToken: adminToken)
        settings.authStrategy = options.authStrategy == "noauth" ? .noauth : .adminToken
        settings.publicEndpoint = options.publicEndpoint
        let listen =
            options.osapiVolumeListen.contains(":") ? "[\(options.osapiVolumeListen)]" : options.osapiVolumeListen
        settings.listenAddress = "\(listen):\(options.osapiVolumeListenPort)"
        return settings
    }

    /// The API's base URL once started.
    package var apiURL: String {
        let host = current.withLock { $0.service.osapiVolumeListen }
        let shown = host.contains(":") ? "[\(host)]" : (host == "0.0.0.0" ? "127.0.0.1" : host)
        return "http://\(shown):\(server.localPort ?? 0)"
    }

    /// Serves the API, then starts supervision (so the first reports find the in-process scheduler).
    package func start() throws {
        try server.start()
        ownURL.set(apiURL)
        if schedulerStore != nil {
            publisherURL.set("in-process")
        }
        if let coordination = current.withLock({ $0.service.coordination }) {
            publisherURL.set("etcd (\(coordination.endpoints.joined(separator: ",")))")
        }
        supervisors.start()
        logger.info(
            "volume service started",
            metadata: [
                "api": "\(apiURL)", "scheduler": "\(publisherURL.value)",
                "backends": "\(current.withLock { $0.backends.map(\.name).joined(separator: ",") })",
            ])
    }

    /// SIGHUP: starts a reload on the reload thread and returns at once, so the signal thread stays
    /// free for SIGTERM/SIGINT. A SIGHUP during a reload runs one more after it (several coalesce).
    package func requestReload() {
        let start = reloadState.withLock { state -> Bool in
            if state.running {
                state.again = true
                return false
            }
            state.running = true
            return true
        }
        guard start else {
            logger.notice("reload requested while one is running; the file is read again once it ends")
            return
        }
        reloads.async { [self] in
            while true {
                reloadHooks.began()
                reload()
                reloadHooks.ended()
                let again = reloadState.withLock { state -> Bool in
                    state.running = state.again && !isStopping
                    state.again = false
                    return state.running
                }
                if !again { return }
            }
        }
    }

    /// Whether a shutdown has begun (a reload then stops applying what it has left).
    private var isStopping: Bool { shutdownStarted.withLock { $0 } }

    /// Re-reads the file; changed backends are re-initialized, added ones start (with the
    /// operators' decisions for their service), removed ones stop. A file that no longer loads is
    /// rejected and the running configuration kept. Abandoned, between steps, once a shutdown began.
    package func reload() {
        guard let configPath else {
            logger.notice("reload requested, but the service runs on its embedded configuration: nothing to re-read")
            return
        }
        let new: ServiceConfiguration
        do {
            new = try ConfigFile.load(path: configPath)
        } catch {
            logger.error(
                "reload rejected; the running configuration is kept",
                metadata: [
                    "file": "\(configPath)", "problems": "\(error.problems.map(\.description).joined(separator: "; "))",
                ])
            return
        }
        for warning in ConfigurationCheck(configuration: new).warnings { logger.warning("\(warning)") }
        guard !isStopping else {
            logger.notice("reload abandoned: the service is stopping")
            return
        }
        let old = current.withLock { $0 }
        let diff = ConfigDiff(from: old, to: new)
        let options = new.service
        for id in diff.removedBackends {
            guard !isStopping else { break }
            do { try supervisors.removeBackend(id: id) } catch {
                logger.error("cannot remove backend", metadata: ["backend": "\(id)", "error": "\(error)"])
            }
        }
        let sections = Dictionary(new.backends.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for id in diff.addedBackends {
            guard !isStopping else { break }
            guard let section = sections[id] else { continue }
            // Its service's decisions (a disable from before it was removed) come back with it.
            do { try decisions.addBackend(DriverFactory.makeBackendDefinition(for: section, service: options)) } catch {
                logger.error("cannot add backend", metadata: ["backend": "\(id)", "error": "\(error)"])
            }
        }
        for changed in diff.changedBackends {
            guard !isStopping else { break }
            guard let section = sections[changed.name] else { continue }
            do {
                try supervisors.replaceBackend(DriverFactory.makeBackendDefinition(for: section, service: options))
            } catch {
                logger.error(
                    "cannot apply the changed backend", metadata: ["backend": "\(changed.name)", "error": "\(error)"])
            }
        }
        // A failed backend whose section did not change may still be fixed by this reload's occasion
        // (its shares file edited, a library installed): give it one fresh initialization.
        let snapshot = supervisors.snapshot()
        for id in diff.unchangedBackends where snapshot.backend(id: id)?.state == .failed {
            _ = supervisors.reinit(id: id)
        }
        // [DEFAULT] options every backend inherits were applied above through the changed backends;
        // the others (tick, scheduler client, API settings) are read once, at start-up.
        let notApplied = diff.restartOptions + diff.liveOptions.filter { !Self.appliedThroughBackends.contains($0) }
        if !notApplied.isEmpty {
            logger.warning(
                "changed [DEFAULT] options take effect at the next restart",
                metadata: [
                    "options": "\(notApplied.joined(separator: ","))"
                ])
        }
        current.withLock { $0 = new }
        logger.notice(
            "configuration reloaded",
            metadata: [
                "added": "\(diff.addedBackends.joined(separator: ","))",
                "removed": "\(diff.removedBackends.joined(separator: ","))",
                "changed": "\(diff.changedBackends.map(\.name).joined(separator: ","))",
            ])
    }

    /// Stops accepting, answers what is in flight, stops supervision. `signal` names the cause in the log.
    package func shutdown(signal: String? = nil, gracePeriod: Duration = .seconds(10)) {
        shutdownStarted.withLock { $0 = true }
        defer { shutdownFinished.signal() }
        logger.notice(
            "stopping: no new connections, requests in flight get up to \(gracePeriod.components.seconds) s",
            metadata: signal.map { ["signal": "\($0)"] } ?? [:])
        server.shutdown(gracePeriod: gracePeriod)
        supervisors.stop()
        clusterFeed?.stop()
        clusterDecisions?.stop()
        // An orderly stop leaves the cluster at once; a crash leaves it when the lease lapses.
        membership?.leave()
        logger.notice("volume service stopped")
    }

    /// Returns once the server has stopped and, when `shutdown` stopped it, once supervision has too
    /// (so the process does not exit in the middle of it).
    package func waitUntilStopped() {
        server.waitUntilStopped()
        if shutdownStarted.withLock({ $0 }) {
            _ = shutdownFinished.wait(timeout: .now() + 30)
        }
    }

    // MARK: helpers

    /// `[DEFAULT]` options that reach supervision only through each backend's resolved section.
    static let appliedThroughBackends: Set<String> = [
        "reinit_driver_count", "reinit_backoff_max", "driver_init_timeout", "driver_stats_timeout",
        "enable_unsupported_driver",
    ]
}

/// Where reports go: fixed by `scheduler_url`, or this process's own API once its port is known.
final class PublisherURL: Sendable {
    private let url: Mutex<String>

    init(_ configured: String?) {
        url = Mutex(configured ?? "")
    }

    var value: String { url.withLock { $0 } }
    func set(_ value: String) { url.withLock { $0 = value } }
}
