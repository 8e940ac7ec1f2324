import Config
import CurlClient
import Drivers
import Foundation
import HTTPServer
import Logging
import Scheduler
import Supervision
import Synchronization
import VolumeAPI

/// The volume service as one process runs it: configuration -> drivers -> one supervisor per
/// backend -> the libcurl publisher -> the scheduler (in this process unless `scheduler_url` names
/// another), all served by one HTTP server. Owns the process-level duties: restoring and
/// persisting the operators' enable/disable flags, SIGHUP reloads and graceful shutdown.
public final class VolumeServiceRunner: Sendable {
    private let configPath: String?
    private let current: Mutex<ServiceConfiguration>
    private let logger: Logger
    private let supervisors: SupervisorSet
    private let server: HTTPServer
    private let stateFile: ServiceStateFile
    private let publisherURL: PublisherURL
    private let shutdownStarted = Mutex(false)
    private let shutdownFinished = DispatchSemaphore(value: 0)
    /// The in-process scheduler's store; nil when `scheduler_url` points elsewhere.
    public let schedulerStore: CapabilityStore?

    /// - Parameter logLevels: the process's run-time log levels, which the API's set-log changes.
    public init(configuration: ServiceConfiguration, configPath: String?, logger: Logger,
                logLevels: LogLevelRegistry? = nil) throws {
        let options = configuration.service
        self.configPath = configPath
        self.current = Mutex(configuration)
        self.logger = logger
        self.stateFile = ServiceStateFile(directory: options.statePath)

        let client = try CurlClient(configuration: .init(
            connectTimeout: options.schedulerConnectTimeout, totalTimeout: options.schedulerTimeout,
            httpVersion: options.schedulerHTTPVersion == "2" ? .http2 : .http1_1,
            verifyTLS: !options.schedulerInsecure, caFile: options.schedulerCACertificatesFile))
        let publisherURL = PublisherURL(options.schedulerURL)
        self.publisherURL = publisherURL
        let adminToken = options.adminToken.flatMap { $0.isEmpty ? nil : $0 }
        let publisher = CurlCapabilityPublisher(url: { publisherURL.value }, client: client, adminToken: adminToken)
        let supervisors = try SupervisorSet(settings: ServiceSettings(options), publisher: publisher,
                                        logger: Logger(label: "volumed.supervision"))
        self.supervisors = supervisors
        let store = options.schedulerURL == nil ? CapabilityStore(serviceDownTime: options.serviceDownTime) : nil
        self.schedulerStore = store

        // Disabled services must stay disabled across restarts: a state file that cannot be read or a
        // directory that cannot be written stops start-up rather than silently re-enabling them.
        let saved: [String: Supervision.ServiceStatus]
        do {
            saved = try stateFile.load()
            try stateFile.checkWritable()
        } catch {
            throw StartFailure(description: "\(error)")
        }
        for section in configuration.backends {
            try supervisors.addBackend(DriverFactory.makeBackendDefinition(for: section, service: options))
        }
        for (id, status) in saved where configuration.backend(named: id) != nil {
            _ = try? supervisors.setServiceStatus(id: id, disabled: status.disabled, reason: status.disabledReason)
        }

        let stateFile = self.stateFile
        let apiLogger = Logger(label: "volumed.api")
        let api = VolumeAPI(
            supervisors: supervisors, capabilityStore: store,
            settings: Self.apiSettings(options, adminToken: adminToken),
            onServiceStatusChange: { [supervisors] change in
                Self.persist(supervisors.snapshot(), to: stateFile, logger: apiLogger, change: change)
            },
            logger: apiLogger, logLevels: logLevels)
        var router = Router()
        api.register(on: &router)
        var serverConfiguration = HTTPServerConfiguration(listen: options.osapiVolumeListen,
                                                          port: options.osapiVolumeListenPort, limits: options.http)
        serverConfiguration.eventLoopCount = options.osapiVolumeWorkers ?? 0
        self.server = HTTPServer(
            configuration: serverConfiguration,
            router: router, logger: Logger(label: "volumed.http"), onResponse: api.requestMetrics.record,
            hooks: api.openStack.hooks)
    }

    /// The API's settings from `[DEFAULT]`.
    static func apiSettings(_ options: ServiceOptions, adminToken: String?) -> VolumeAPISettings {
        var settings = VolumeAPISettings(host: options.host, availabilityZone: options.storageAvailabilityZone,
                                         serviceDownTime: options.serviceDownTime, adminToken: adminToken)
        settings.authStrategy = options.authStrategy == "noauth" ? .noauth : .adminToken
        settings.publicEndpoint = options.publicEndpoint
        let listen = options.osapiVolumeListen.contains(":") ? "[\(options.osapiVolumeListen)]" : options.osapiVolumeListen
        settings.listenAddress = "\(listen):\(options.osapiVolumeListenPort)"
        return settings
    }

    /// The API's base URL once started.
    public var apiURL: String {
        let host = current.withLock { $0.service.osapiVolumeListen }
        let shown = host.contains(":") ? "[\(host)]" : (host == "0.0.0.0" ? "127.0.0.1" : host)
        return "http://\(shown):\(server.localPort ?? 0)"
    }

    /// Serves the API, then starts supervision (so the first reports find the in-process scheduler).
    public func start() throws {
        try server.start()
        if schedulerStore != nil {
            publisherURL.set(apiURL + "/v3/scheduler/capabilities")
        }
        supervisors.start()
        logger.info("volume service started", metadata: [
            "api": "\(apiURL)", "scheduler": "\(publisherURL.value)",
            "backends": "\(current.withLock { $0.backends.map(\.name).joined(separator: ",") })",
        ])
    }

    /// SIGHUP: re-reads the file; changed backends are re-initialized, added ones start, removed
    /// ones stop. A file that no longer loads is rejected and the running configuration kept.
    public func reload() {
        guard let configPath else {
            logger.notice("reload requested, but the service runs on its embedded configuration: nothing to re-read")
            return
        }
        let new: ServiceConfiguration
        do {
            new = try ConfigFile.load(path: configPath)
        } catch {
            logger.error("reload rejected; the running configuration is kept", metadata: [
                "file": "\(configPath)", "problems": "\(error.problems.map(\.description).joined(separator: "; "))"])
            return
        }
        for warning in ConfigurationCheck(configuration: new).warnings { logger.warning("\(warning)") }
        let old = current.withLock { $0 }
        let diff = ConfigDiff(from: old, to: new)
        let options = new.service
        for id in diff.removedBackends {
            do { try supervisors.removeBackend(id: id) } catch { logger.error("cannot remove backend", metadata: ["backend": "\(id)", "error": "\(error)"]) }
        }
        for id in diff.addedBackends {
            guard let section = new.backend(named: id) else { continue }
            do { try supervisors.addBackend(DriverFactory.makeBackendDefinition(for: section, service: options)) } catch {
                logger.error("cannot add backend", metadata: ["backend": "\(id)", "error": "\(error)"])
            }
        }
        for changed in diff.changedBackends {
            guard let section = new.backend(named: changed.name) else { continue }
            do { try supervisors.replaceBackend(DriverFactory.makeBackendDefinition(for: section, service: options)) } catch {
                logger.error("cannot apply the changed backend", metadata: ["backend": "\(changed.name)", "error": "\(error)"])
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
            logger.warning("changed [DEFAULT] options take effect at the next restart", metadata: [
                "options": "\(notApplied.joined(separator: ","))"])
        }
        current.withLock { $0 = new }
        logger.notice("configuration reloaded", metadata: [
            "added": "\(diff.addedBackends.joined(separator: ","))", "removed": "\(diff.removedBackends.joined(separator: ","))",
            "changed": "\(diff.changedBackends.map(\.name).joined(separator: ","))"])
    }

    /// Stops accepting, answers what is in flight, stops supervision. `signal` names the cause in the log.
    public func shutdown(signal: String? = nil, gracePeriod: Duration = .seconds(10)) {
        shutdownStarted.withLock { $0 = true }
        defer { shutdownFinished.signal() }
        logger.notice("stopping: no new connections, requests in flight get up to \(gracePeriod.components.seconds) s",
                      metadata: signal.map { ["signal": "\($0)"] } ?? [:])
        server.shutdown(gracePeriod: gracePeriod)
        supervisors.stop()
        logger.notice("volume service stopped")
    }

    /// Returns once the server has stopped and, when `shutdown` stopped it, once supervision has too
    /// (so the process does not exit in the middle of it).
    public func waitUntilStopped() {
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

    static func persist(_ snapshot: ServiceSnapshot, to file: ServiceStateFile, logger: Logger, change: ServiceStatusChange) {
        var statuses: [String: Supervision.ServiceStatus] = [:]
        for backend in snapshot.backends { statuses[backend.id] = backend.serviceStatus }
        statuses[change.backendID] = change.status
        do {
            try file.save(statuses)
        } catch {
            logger.error("cannot persist the service flags; they hold until a restart", metadata: [
                "backend": "\(change.backendID)", "error": "\(error)"])
        }
    }
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
