// PUT /v3/os-services/freeze, thaw, failover_host and failover (3.26): Cinder's replication actions.

import HTTPServer
import JSON
import ServiceDecisions
import Supervision

extension VolumeAPI {
    /// `freeze` / `thaw` `{"host": "node1@backend"}` -> 200, no body, once the decision is durable.
    /// A frozen backend stays supervised; as Cinder's freeze_host it is also disabled with the reason
    /// `frozen`, reported frozen to the scheduler (which skips it: it leaves get_pools), listed
    /// `frozen: true`, and the flag survives restarts with the other operator decisions. `thaw`
    /// clears it and enables the service again.
    func freezeOrThaw(_ request: HTTPRequest, action: ServiceAction, body: JSONValue) throws(OpenStackFault)
        -> HTTPResponse
    {
        let host = try RequestInput.requiredString(body, "host")
        guard let backend = supervisors.snapshot().backends.first(where: { $0.host == host }) else {
            throw .itemNotFound("Service host=\(host) binary=\(ServicesView.volumeBinary) could not be found.")
        }
        audit(request, "os-services \(action.rawValue)", ["host": "\(host)"])
        let decision: OperatorDecision = action == .freeze ? .freeze : .thaw
        return .deferred { [decisions] responder in
            decisions.record(decision, backendID: backend.id) { result in
                switch result {
                case .success:
                    responder.respond(HTTPResponse(status: .ok, body: []))
                case .failure(let error):
                    responder.respond(Self.notDurable(error).response())
                }
            }
        }
    }

    /// volumed's drivers replicate nothing (`replication_status` is always `disabled`), so a failover
    /// is refused as Cinder refuses it for a backend without replication: 400, after the service is
    /// found (404 when it is not).
    func failover(_ body: JSONValue, action: ServiceAction) throws(OpenStackFault) -> HTTPResponse {
        let host = try RequestInput.optionalString(body, "host") ?? ""
        let cluster = action == .failover ? try RequestInput.optionalString(body, "cluster") ?? "" : ""
        guard !host.isEmpty || !cluster.isEmpty else {
            throw .badRequest(
                action == .failover
                    ? "Invalid input received: host or cluster is required."
                    : "Missing required element 'host' in request body.")
        }
        guard !cluster.isEmpty || supervisors.snapshot().backends.contains(where: { $0.host == host }) else {
            throw .itemNotFound("Service host=\(host) binary=\(ServicesView.volumeBinary) could not be found.")
        }
        if !cluster.isEmpty && host.isEmpty {
            throw .itemNotFound("Cluster \(cluster) could not be found: volumed runs no clusters.")
        }
        throw .badRequest(
            "Invalid input received: Host replication_status must be enabled to fail over; \(host) has no replication configured (replication_status: disabled)."
        )
    }
}
