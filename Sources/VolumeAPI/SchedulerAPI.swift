// The scheduler's routes: capability reports in, get_pools out.

import Foundation
import HTTPServer
import Logging
import Scheduler
import Synchronization

/// The receiving side of `publish_service_capabilities`: `POST /v3/scheduler/capabilities` stores
/// validated reports (one, or a batch), `GET /v3/scheduler-stats/get_pools[?detail=true]` lists the
/// pools of backends that are up, enabled and fresh. Used inside a volume service (through
/// `VolumeAPI`) and alone in the scheduler-only role (`registerSchedulerRole`).
public final class SchedulerAPI: Sendable {
    public let store: CapabilityStore
    /// Counts answered requests; pass `requestMetrics.record` as `HTTPServer(onResponse:)`.
    public let requestMetrics: HTTPRequestMetrics

    let access: AccessPolicy
    let views = ViewCache(capacity: 8)
    let counters = Mutex(ReportCounters())

    struct ReportCounters {
        var accepted = 0
        var ignoredAsOlder = 0
        var rejectedBodies = 0
    }

    /// - Parameter adminToken: the token `POST` requests must carry (nil: loopback clients only).
    ///   Publishers must send it too.
    public init(store: CapabilityStore, adminToken: String?, requestMetrics: HTTPRequestMetrics = HTTPRequestMetrics(),
                logger: Logger? = nil) {
        self.store = store
        self.access = AccessPolicy(adminToken: adminToken)
        self.requestMetrics = requestMetrics
        if let logger { access.logMode(to: logger) }
    }

    /// The scheduler-only role (`volumed scheduler`): the scheduler's routes plus `/healthz` and
    /// `/metrics`.
    public func registerSchedulerRole(on router: inout Router) {
        registerSchedulerRoutes(on: &router)
        router.get("/healthz") { _ in HealthViews.healthz.response() }
        router.get("/metrics") { [self] _ in
            var text = PrometheusText()
            writeMetrics(to: &text)
            requestMetrics.write(to: &text)
            return HTTPResponse(status: .ok, contentType: PrometheusText.contentType, body: text.text)
        }
    }

    /// The two scheduler routes (and Cinder's project-scoped get_pools path).
    func registerSchedulerRoutes(on router: inout Router) {
        router.post("/v3/scheduler/capabilities") { [self] request in try receiveCapabilities(request) }
        for pattern in ["/v3/scheduler-stats/get_pools", "/v3/{project_id}/scheduler-stats/get_pools"] {
            router.get(pattern) { [self] request in try pools(request) }
        }
    }

    /// 204 when every report in the body was valid (older ones are ignored, as Cinder's host manager
    /// does); 400 naming the first bad field, with nothing stored.
    func receiveCapabilities(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        try access.authorizeMutation(request)
        let summary: ReceiveSummary
        do {
            summary = try store.receive(request.body)
        } catch {
            counters.withLock { $0.rejectedBodies += 1 }
            throw .badRequest("Invalid capability report: '\(error.field)' \(error.problem).")
        }
        counters.withLock {
            $0.accepted += summary.accepted
            $0.ignoredAsOlder += summary.ignoredAsOlder
        }
        return HTTPResponse(status: .noContent, body: [])
    }

    func pools(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let detail = try RequestInput.flag(request, "detail")
        if let filter = try PoolFilter(request) {
            return HTTPResponse(status: .ok, body: filter.encode(detailedView: store.pools(detail: true).json, detail: detail))
        }
        let pools = store.pools(detail: detail)
        return views.view(detail ? "pools\u{0}detail" : "pools", version: pools.version, now: .distantPast) {
            (EncodedView(body: pools.json), ViewValidity(version: pools.version))
        }.response()
    }

    func writeMetrics(to text: inout PrometheusText) {
        let backends = store.backends()
        let listed = backends.filter(\.isListed)
        text.family("volumed_scheduler_backends", type: "gauge",
                    help: "Backends the scheduler holds a report for, by whether get_pools lists them.")
        text.sample("volumed_scheduler_backends", PrometheusText.labels(["listed": "true"]), Double(listed.count))
        text.sample("volumed_scheduler_backends", PrometheusText.labels(["listed": "false"]), Double(backends.count - listed.count))
        text.family("volumed_scheduler_pools", type: "gauge", help: "Pools get_pools lists.")
        text.sample("volumed_scheduler_pools", "", Double(listed.reduce(0) { $0 + $1.poolNames.count }))
        let counts = counters.withLock { $0 }
        text.family("volumed_scheduler_reports_total", type: "counter",
                    help: "Capability reports received: stored, ignored as older than the stored one, or in rejected bodies.")
        text.sample("volumed_scheduler_reports_total", PrometheusText.labels(["result": "accepted"]), Double(counts.accepted))
        text.sample("volumed_scheduler_reports_total", PrometheusText.labels(["result": "ignored_older"]), Double(counts.ignoredAsOlder))
        text.family("volumed_scheduler_rejected_bodies_total", type: "counter",
                    help: "Capability report bodies refused with 400.")
        text.sample("volumed_scheduler_rejected_bodies_total", "", Double(counts.rejectedBodies))
    }
}
