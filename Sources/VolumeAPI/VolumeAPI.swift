// The volume service's REST API: what operators, dashboards and cinderclient see.

import Clocks
import Foundation
import HTTPServer
import Logging
import Scheduler
import ServiceDecisions
import Supervision
import Synchronization

/// The routes of a volume service: Cinder's os-services (list, enable, disable), volumed's
/// driver views with manual re-initialization, health, readiness and metrics — and, when the
/// scheduler runs in this process, the scheduler's routes too.
///
/// Reads are served from views encoded once per supervisor snapshot version (and, for os-services,
/// per window in which every service's up/down state holds), each with an ETag over its bytes.
/// Handlers never block: a re-initialization with `?wait=` answers through a deferred response.
package final class VolumeAPI: Sendable {
    package let settings: VolumeAPISettings
    /// Counts answered requests; pass `requestMetrics.record` as `HTTPServer(onResponse:)`.
    package let requestMetrics: HTTPRequestMetrics

    let supervisors: SupervisorSet
    /// The in-process scheduler's routes, when this process also runs the scheduler.
    let scheduler: SchedulerAPI?
    let clock: any ServiceClock
    let access: AccessPolicy
    /// Records os-services decisions durably before they are answered.
    let decisions: OperatorDecisions
    let logger: Logger
    /// volumed's own log levels, for os-services set-log/get-log (nil: the process's levels are fixed).
    let logLevels: LogLevelRegistry?
    /// Microversions, request ids, the access log: pass `openStack.hooks` as `HTTPServer(hooks:)`.
    package let openStack: OpenStackProtocol
    let views = ViewCache()
    let metricsCache = Mutex<(version: UInt64, bytes: [UInt8])?>(nil)

    /// The longest `?wait=` a re-initialization request may ask for, in seconds.
    package static let maxReinitWait: Double = 3600

    /// - Parameters:
    ///   - capabilityStore: the scheduler's store when this process also runs the scheduler; its
    ///     routes are then served here and `cinder-scheduler` is listed in os-services.
    ///   - clock: decides os-services `state` (heartbeat age against `service_down_time`).
    ///   - decisions: where os-services enable/disable are recorded (durably, off the event loops)
    ///     and applied to `supervisors`.
    ///   - cluster: cluster mode's view of the cluster, for the in-process scheduler's stale marker.
    package init(
        supervisors: SupervisorSet, decisions: OperatorDecisions, capabilityStore: CapabilityStore? = nil,
        settings: VolumeAPISettings, clock: any ServiceClock = SystemClock(),
        requestMetrics: HTTPRequestMetrics = HTTPRequestMetrics(),
        logger: Logger = Logger(label: "volumed.api"), logLevels: LogLevelRegistry? = nil,
        openStack: OpenStackProtocol = OpenStackProtocol(), cluster: (any ClusterView)? = nil
    ) {
        self.supervisors = supervisors
        self.settings = settings
        self.clock = clock
        self.requestMetrics = requestMetrics
        self.access = AccessPolicy(adminToken: settings.adminToken, strategy: settings.authStrategy)
        self.scheduler = capabilityStore.map {
            SchedulerAPI(
                store: $0, adminToken: settings.adminToken, requestMetrics: requestMetrics, cluster: cluster)
        }
        self.decisions = decisions
        self.logger = logger
        self.logLevels = logLevels
        self.openStack = openStack
        access.logMode(to: logger)
    }

    /// Registers every route of the volume service (and of the in-process scheduler, if any).
    package func register(on router: inout Router) {
        // A browser gets the status page; every other client Cinder's versions document.
        router.get("/") { [self] request in statusPage(request) ?? root(request) }
        router.get("/v3") { [self] request in versionV3(request) }
        for pattern in ["/v3/services", "/v3/os-services", "/v3/{project_id}/os-services"] {
            router.get(pattern) { [self] request in try services(request) }
        }
        for pattern in ["/v3/os-services/{action}", "/v3/{project_id}/os-services/{action}"] {
            router.put(pattern) { [self] request in try updateService(request) }
        }
        router.get("/drivers") { [self] _ in drivers() }
        router.get("/drivers/{id}") { [self] request in try driver(request) }
        router.get("/drivers/{id}/events") { [self] request in try events(request) }
        router.post("/drivers/{id}/reinit") { [self] request in try reinit(request) }
        router.get("/healthz") { _ in HealthViews.healthz.response() }
        router.get("/readyz") { [self] _ in readyz() }
        router.get("/metrics") { [self] _ in metrics() }
        scheduler?.registerSchedulerRoutes(on: &router)
    }

    // MARK: reads

    /// `GET /`: the API versions (Cinder's version discovery, 300 Multiple Choices). A page for
    /// browsers would be one more case here, chosen by `Accept`.
    func root(_ request: HTTPRequest) -> HTTPResponse {
        var response = HTTPResponse(status: .multipleChoices, body: versionsDocument(request))
        // A browser asking the same URL gets the status page instead.
        response.headers.add(name: "Vary", value: "Accept")
        return response
    }

    /// `GET /v3` and `GET /v3/`: the v3 version document, where keystoneauth's discovery looks.
    func versionV3(_ request: HTTPRequest) -> HTTPResponse {
        HTTPResponse(status: .ok, body: versionsDocument(request))
    }

    private func versionsDocument(_ request: HTTPRequest) -> [UInt8] {
        VersionDocuments.encode(
            base: VersionDocuments.base(
                publicEndpoint: settings.publicEndpoint, request: request,
                listen: settings.listenAddress),
            minimum: openStack.minimum, maximum: openStack.maximum)
    }

    func services(_ request: HTTPRequest) throws(OpenStackFault) -> HTTPResponse {
        let filter = ServicesView.Filter(
            host: nonEmpty(request.query["host"]),
            binary: nonEmpty(request.query["binary"]) ?? nonEmpty(request.query["service"]))
        let snapshot = supervisors.snapshot()
        let now = clock.now().wall
        let fields = ServicesView.Fields(request.apiVersion)
        let view = views.view("services\u{0}" + fields.cacheKey + filter.cacheKey, version: snapshot.version, now: now)
        {
            ServicesView.encode(
                snapshot, settings: settings, scheduler: schedulerEntry(snapshot, now: now),
                filter: filter, fields: fields, now: now)
        }
        return view.response()
    }

    func drivers() -> HTTPResponse {
        let snapshot = supervisors.snapshot()
        return views.view("drivers", version: snapshot.version, now: clock.now().wall) {
            (DriversView.list(snapshot), ViewValidity(version: snapshot.version))
        }.response()
    }

    func driver(_ request: HTTPRequest) throws(OpenStackFault) -> HTTPResponse {
        let (snapshot, backend) = try backend(request)
        return views.view("driver\u{0}" + backend.id, version: snapshot.version, now: clock.now().wall) {
            (DriversView.single(backend), ViewValidity(version: snapshot.version))
        }.response()
    }

    func events(_ request: HTTPRequest) throws(OpenStackFault) -> HTTPResponse {
        let (snapshot, backend) = try backend(request)
        return views.view("events\u{0}" + backend.id, version: snapshot.version, now: clock.now().wall) {
            (DriversView.events(backend), ViewValidity(version: snapshot.version))
        }.response()
    }

    func readyz() -> HTTPResponse {
        let snapshot = supervisors.snapshot()
        return views.view("readyz", version: snapshot.version, now: clock.now().wall) {
            (HealthViews.readyz(snapshot), ViewValidity(version: snapshot.version))
        }.response()
    }

    /// The per-backend series are rendered once per snapshot version and kept as bytes; each
    /// scrape copies them and appends the few series that change per request.
    func metrics() -> HTTPResponse {
        let snapshot = supervisors.snapshot()
        let backendBytes: [UInt8]
        if let cached = metricsCache.withLock({ $0 }), cached.version == snapshot.version {
            backendBytes = cached.bytes
        } else {
            backendBytes = Array(BackendMetrics.render(snapshot).utf8)
            metricsCache.withLock { cache in
                if let existing = cache, existing.version >= snapshot.version { return }
                cache = (snapshot.version, backendBytes)
            }
        }
        var text = PrometheusText(reservingCapacity: 4096)
        // Per scrape, not in the cached bytes: it moves every tick without a new snapshot version.
        if let lastTick = supervisors.lastTickAt() {
            text.family(
                "volumed_supervision_last_tick_timestamp_seconds", type: "gauge",
                help: "Unix time of the supervision loop's last tick (its start until the first tick).")
            text.sample("volumed_supervision_last_tick_timestamp_seconds", "", lastTick.timeIntervalSince1970)
        }
        scheduler?.writeMetrics(to: &text)
        requestMetrics.write(to: &text)
        var body: [UInt8] = []
        body.reserveCapacity(backendBytes.count + text.text.utf8.count)
        body.append(contentsOf: backendBytes)
        body.append(contentsOf: text.text.utf8)
        return HTTPResponse(status: .ok, contentType: PrometheusText.contentType, body: body)
    }

    // MARK: helpers

    /// Logs who asked for a state change, so an operator can tell later who disabled a service.
    func audit(_ request: HTTPRequest, _ action: String, _ metadata: Logger.Metadata = [:]) {
        var all = metadata
        all["peer"] = "\(request.peer)"
        logger.notice("\(action) requested through the API", metadata: all)
    }

    /// Whether this process also runs the scheduler (listed as `cinder-scheduler` in os-services).
    var runsScheduler: Bool { scheduler != nil }

    /// The backend named by the `{id}` path segment, or 404.
    func backend(_ request: HTTPRequest) throws(OpenStackFault) -> (ServiceSnapshot, BackendSnapshot) {
        let id = request.pathParameters["id"] ?? ""
        let snapshot = supervisors.snapshot()
        guard let backend = snapshot.backend(id: id) else {
            throw .itemNotFound("Driver \(id) could not be found.")
        }
        return (snapshot, backend)
    }

    /// The in-process scheduler's os-services entry. It has no loop of its own that could stall:
    /// it is alive exactly when this process answers, so its heartbeat is now, rounded down to an
    /// interval short enough that it always reads `up`, like a heartbeat written that often.
    func schedulerEntry(_ snapshot: ServiceSnapshot, now: Date) -> ServicesView.SchedulerEntry? {
        guard runsScheduler else { return nil }
        let interval = max(0.001, min(snapshot.tickInterval, settings.serviceDownTime / 2))
        let beat = (now.timeIntervalSince1970 / interval).rounded(.down) * interval
        return ServicesView.SchedulerEntry(
            heartbeat: Date(timeIntervalSince1970: beat),
            nextHeartbeat: Date(timeIntervalSince1970: beat + interval))
    }
}

func nonEmpty(_ value: String?) -> String? {
    guard let value, !value.isEmpty else { return nil }
    return value
}
