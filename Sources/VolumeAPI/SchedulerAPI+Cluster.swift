// A scheduler in cluster mode: Cinder's os-services for every host of the cluster, its actions for
// any of them, and the stale marker while its view of etcd may be out of date.

import Clocks
import Dispatch
import Foundation
import HTTPServer
import JSON
import ServiceDecisions
import Supervision

/// One volume service of the cluster, as a scheduler lists it.
package struct ClusterService: Sendable, Equatable {
    package var key: ServiceKey
    package var zone: String
    /// The host's lease holds the service's record (Cinder's `state: up`).
    package var up: Bool
    /// The host's last record of the service: its start, its last renewal, or its orderly stop.
    package var updatedAt: Date
    /// The operators' decisions (the defaults when none was taken).
    package var status: AdminState
    /// `up` while the backend's latest report says its driver is initialized.
    package var backendUp: Bool

    package init(
        key: ServiceKey, zone: String, up: Bool, updatedAt: Date, status: AdminState, backendUp: Bool
    ) {
        self.key = key
        self.zone = zone
        self.up = up
        self.updatedAt = updatedAt
        self.status = status
        self.backendUp = backendUp
    }
}

/// What a scheduler knows of, and may change in, a cluster of volumed hosts (cluster mode): the one
/// seam between the API and etcd.
package protocol ClusterView: Sendable {
    /// Seconds since this process last knew its view of the cluster to be current; nil while it is.
    func staleness(at now: MonotonicInstant) -> Double?
    /// Every volume service of the cluster (up or down), sorted by host then binary.
    func services() -> [ClusterService]
    /// Stores `decision` about `key` in the cluster and returns the status in force once it is
    /// stored. Blocks (etcd): never called on an event loop.
    func record(_ decision: OperatorDecision, for key: ServiceKey) throws(DecisionStoreError) -> AdminState
}

extension SchedulerAPI {
    /// `X-Volumed-Cluster-Stale: <whole seconds>`, on get_pools and os-services answers while the
    /// view they come from may be out of date (the watch of etcd is broken, or has not read etcd yet).
    package static let staleHeader = "X-Volumed-Cluster-Stale"

    /// Adds the stale marker to `response` when the cluster view is stale.
    func markingStaleness(_ response: HTTPResponse) -> HTTPResponse {
        guard let cluster, let seconds = cluster.staleness(at: .now()) else { return response }
        var marked = response
        marked.headers.add(name: Self.staleHeader, value: String(Int(seconds)))
        return marked
    }

    /// The cluster's os-services, for the scheduler-only role in cluster mode.
    func registerClusterServiceRoutes(on router: inout Router) {
        for pattern in ["/v3/services", "/v3/os-services", "/v3/{project_id}/os-services"] {
            router.get(pattern) { [self] request in clusterServices(request) }
        }
        for pattern in ["/v3/os-services/{action}", "/v3/{project_id}/os-services/{action}"] {
            router.put(pattern) { [self] request in try updateClusterService(request) }
        }
    }

    /// Every host's volume services (Cinder's shape, per microversion), filtered by `host` and
    /// `binary` (or the deprecated `service`).
    func clusterServices(_ request: HTTPRequest) -> HTTPResponse {
        let filter = ServicesView.Filter(
            host: nonEmpty(request.query["host"]),
            binary: nonEmpty(request.query["binary"]) ?? nonEmpty(request.query["service"]))
        let services = cluster?.services() ?? []
        let body = ServicesView.encode(services, filter: filter, fields: ServicesView.Fields(request.apiVersion))
        return markingStaleness(EncodedView(body: body).response())
    }

    /// enable, disable, disable-log-reason, freeze and thaw for any service of the cluster, with the
    /// host API's bodies and answers; stored in etcd before the answer (503, nothing changed, when
    /// etcd cannot take it). The host applies it through its watch of the decisions.
    func updateClusterService(_ request: HTTPRequest) throws(OpenStackFault) -> HTTPResponse {
        try access.authorizeMutation(request)
        let actionName = request.pathParameters["action"] ?? ""
        let version = request.apiVersion
        guard let action = VolumeAPI.ServiceAction(rawValue: actionName), version >= action.introduced else {
            if let action = VolumeAPI.ServiceAction(rawValue: actionName) {
                throw .itemNotFound(
                    "The os-services action '\(actionName)' needs microversion \(action.introduced) or later; this request is at \(version)."
                )
            }
            throw .itemNotFound("Unknown os-services action '\(actionName)'.")
        }
        let body = try RequestInput.jsonObject(request)
        let decision: OperatorDecision
        let key: ServiceKey
        let update: VolumeAPI.ServiceUpdate?
        switch action {
        case .enable, .disable, .disableLogReason:
            let parsed = try VolumeAPI.ServiceUpdate(body, action: action)
            guard parsed.binaryKey == ServicesView.volumeBinary else {
                if parsed.binaryKey == ServicesView.schedulerBinary {
                    throw .badRequest(
                        "The cinder-scheduler service of volumed cannot be disabled; only cinder-volume services can.")
                }
                throw .itemNotFound("Service host=\(parsed.host) binary=\(parsed.binaryKey) could not be found.")
            }
            key = ServiceKey(host: parsed.host, binary: parsed.binaryKey)
            decision = action == .enable ? .enable : .disable(reason: parsed.reason)
            update = parsed
        case .freeze, .thaw:
            key = ServiceKey(host: try RequestInput.requiredString(body, "host"), binary: ServicesView.volumeBinary)
            decision = action == .freeze ? .freeze : .thaw
            update = nil
        case .setLog, .getLog, .failoverHost, .failover:
            throw .itemNotFound(
                "The os-services action '\(actionName)' is served by each host's own API, not by a scheduler.")
        }
        guard let cluster, cluster.services().contains(where: { $0.key == key }) else {
            throw .itemNotFound("Service \(key) could not be found.")
        }
        logger.notice(
            "os-services \(action.rawValue) requested through the API",
            metadata: ["host": "\(key.host)", "peer": "\(request.peer)"])
        return .deferred { [decisionWriter, logger] responder in
            decisionWriter.async {
                do throws(DecisionStoreError) {
                    let status = try cluster.record(decision, for: key)
                    if let update {
                        responder.respond(
                            VolumeAPI.serviceAnswer(
                                status, action: action, host: update.host, service: update.service,
                                binary: update.binary))
                    } else {
                        responder.respond(HTTPResponse(status: .ok, body: []))
                    }
                } catch {
                    logger.error(
                        "an operator decision could not be stored in the cluster; it was refused",
                        metadata: ["service": "\(key)", "error": "\(error)"])
                    responder.respond(VolumeAPI.notDurable(error).response())
                }
            }
        }
    }
}

extension ServicesView {
    /// The cluster's services, as Cinder lists them (no cluster of volumed replicates: replication is
    /// `disabled`, as on each host).
    static func encode(_ services: [ClusterService], filter: Filter, fields: Fields) -> [UInt8] {
        var json = JSONWriter(style: .pythonDumps, reservingCapacity: 128 + 420 * services.count)
        json.beginObject()
        json.key("services")
        json.beginArray()
        for service in services where filter.admits(host: service.key.host, binary: service.key.binary) {
            let backendState = service.up && service.backendUp ? "up" : "down"
            writeVolumeService(
                into: &json, binary: service.key.binary, host: service.key.host, zone: service.zone,
                adminState: service.status, up: service.up, updatedAt: service.updatedAt,
                backendState: service.key.binary == volumeBinary ? backendState : nil, fields: fields)
        }
        json.endArray()
        json.endObject()
        return json.bytes
    }
}
