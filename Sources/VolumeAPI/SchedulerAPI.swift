// The scheduler's routes: capability reports in, get_pools out.

import Clocks
import Dispatch
import Foundation
import HTTPServer
import Logging
import Scheduler
import Synchronization

/// The receiving side of `publish_service_capabilities`: `POST /v3/scheduler/capabilities` stores
/// validated reports (one, or a batch), `GET /v3/scheduler-stats/get_pools[?detail=true]` lists the
/// pools of backends that are up, enabled and fresh. Used inside a volume service (through
/// `VolumeAPI`) and alone in the scheduler-only role (`registerSchedulerRole`).
package final class SchedulerAPI: Sendable {
    package let store: CapabilityStore
    /// Counts answered requests; pass `requestMetrics.record` as `HTTPServer(onResponse:)`.
    package let requestMetrics: HTTPRequestMetrics

    let access: AccessPolicy
    let views = ViewCache(capacity: 8)
    let counters = Mutex(ReportCounters())
    let logger: Logger
    /// Cluster mode: the cluster's services and decisions, and whether this view is current.
    let cluster: (any ClusterView)?
    /// Stores os-services decisions in the cluster, one at a time, off the event loops.
    let decisionWriter = DispatchQueue(label: "volumed.scheduler.decisions")

    struct ReportCounters {
        var accepted = 0
        var refused: [ReportRefusal.Reason: Int] = [:]
        var rejectedBodies = 0
        /// When the last "store is full" warning was logged (at most one a minute).
        var lastFullWarning: MonotonicInstant?
    }

    /// - Parameters:
    ///   - adminToken: the token `POST` and `PUT` requests must carry (nil: loopback clients only).
    ///     Publishers must send it too.
    ///   - cluster: cluster mode's view of every host (nil in single-host mode): answers carry the
    ///     stale marker while it is out of date, and the scheduler-only role serves the cluster's
    ///     os-services.
    package init(
        store: CapabilityStore, adminToken: String?, requestMetrics: HTTPRequestMetrics = HTTPRequestMetrics(),
        logger: Logger? = nil, cluster: (any ClusterView)? = nil
    ) {
        self.store = store
        self.cluster = cluster
        self.access = AccessPolicy(adminToken: adminToken)
        self.requestMetrics = requestMetrics
        self.logger = logger ?? Logger(label: "volumed.scheduler")
        if let logger { access.logMode(to: logger) }
    }

    /// The scheduler-only role (`volumed scheduler`): the scheduler's routes plus `/healthz` and
    /// `/metrics`, and in cluster mode the cluster's os-services.
    package func registerSchedulerRole(on router: inout Router) {
        registerSchedulerRoutes(on: &router)
        if cluster != nil { registerClusterServiceRoutes(on: &router) }
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

    /// 204 when every report was stored; 200 with `{"accepted", "refused": [...]}` naming each report
    /// not stored and why (invalid, older than the stored one, store full), the others being
    /// stored; 400 when the body is not a report or a batch of reports, or is one invalid report;
    /// 503 when the store is full and nothing could be stored.
    func receiveCapabilities(_ request: HTTPRequest) throws(OpenStackFault) -> HTTPResponse {
        try access.authorizeMutation(request)
        let summary: ReceiveSummary
        do {
            summary = try store.receive(request.body)
        } catch {
            counters.withLock { $0.rejectedBodies += 1 }
            throw .badRequest("Invalid capability report: '\(error.field)' \(error.problem).")
        }
        let warnFull = counters.withLock { counters in
            counters.accepted += summary.accepted
            for refusal in summary.refused { counters.refused[refusal.reason, default: 0] += 1 }
            guard summary.refusedAsFull > 0 else { return false }
            let now = MonotonicInstant.now()
            if let last = counters.lastFullWarning, now.seconds(since: last) < 60 { return false }
            counters.lastFullWarning = now
            return true
        }
        if warnFull {
            let counts = store.counts
            logger.warning(
                "the scheduler's store is full: reports of new backends are refused until silent ones are forgotten",
                metadata: [
                    "backends": "\(counts.backends)", "max_backends": "\(store.limits.maxBackends)",
                    "pools": "\(counts.pools)", "max_pools": "\(store.limits.maxPools)",
                    "forget_after_seconds": "\(Int(store.forgetAfter))",
                ])
        }
        if summary.refused.isEmpty { return HTTPResponse(status: .noContent, body: []) }
        if summary.accepted == 0 && summary.refusedAsFull > 0 {
            throw .serviceUnavailable(
                "The scheduler holds as many backends (\(store.limits.maxBackends)) or pools (\(store.limits.maxPools)) as it may; "
                    + "no report of this body was stored. Backends silent for \(Int(store.forgetAfter)) s are forgotten."
            )
        }
        return HTTPResponse(status: .ok, contentType: "application/json", body: ReceiveAnswer.encode(summary))
    }

    func pools(_ request: HTTPRequest) throws(OpenStackFault) -> HTTPResponse {
        let detail = try RequestInput.flag(request, "detail")
        if let filter = try PoolFilter(request) {
            return markingStaleness(
                EncodedView(body: filter.encode(detailedView: store.pools(detail: true).json, detail: detail))
                    .response())
        }
        let pools = store.pools(detail: detail)
        return markingStaleness(
            views.view(detail ? "pools\u{0}detail" : "pools", version: pools.version, now: .distantPast) {
                (EncodedView(body: pools.json), ViewValidity(version: pools.version))
            }.response())
    }

    func writeMetrics(to text: inout PrometheusText) {
        let backends = store.backends()
        let listed = backends.filter(\.isListed)
        text.family(
            "volumed_scheduler_backends", type: "gauge",
            help: "Backends the scheduler holds a report for, by whether get_pools lists them.")
        text.sample("volumed_scheduler_backends", PrometheusText.labels(["listed": "true"]), Double(listed.count))
        text.sample(
            "volumed_scheduler_backends", PrometheusText.labels(["listed": "false"]),
            Double(backends.count - listed.count))
        text.family("volumed_scheduler_pools", type: "gauge", help: "Pools get_pools lists.")
        text.sample("volumed_scheduler_pools", "", Double(listed.reduce(0) { $0 + $1.poolNames.count }))
        let counts = counters.withLock { $0 }
        text.family(
            "volumed_scheduler_reports_total", type: "counter",
            help:
                "Capability reports received: stored, ignored as older than the stored one, refused as invalid or because the store is full."
        )
        text.sample(
            "volumed_scheduler_reports_total", PrometheusText.labels(["result": "accepted"]), Double(counts.accepted))
        text.sample(
            "volumed_scheduler_reports_total", PrometheusText.labels(["result": "ignored_older"]),
            Double(counts.refused[.olderThanStored, default: 0]))
        text.sample(
            "volumed_scheduler_reports_total", PrometheusText.labels(["result": "invalid"]),
            Double(counts.refused[.invalid, default: 0]))
        text.sample(
            "volumed_scheduler_reports_total", PrometheusText.labels(["result": "store_full"]),
            Double(counts.refused[.storeFull, default: 0]))
        text.family(
            "volumed_scheduler_rejected_bodies_total", type: "counter",
            help: "Capability report bodies refused with 400.")
        text.sample("volumed_scheduler_rejected_bodies_total", "", Double(counts.rejectedBodies))
        if let cluster {
            text.family(
                "volumed_scheduler_cluster_stale_seconds", type: "gauge",
                help:
                    "Cluster mode: seconds since this scheduler's view of etcd was last current (0 while its watch is open)."
            )
            text.sample("volumed_scheduler_cluster_stale_seconds", "", cluster.staleness(at: .now()) ?? 0)
        }
    }
}
