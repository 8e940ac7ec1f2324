// PUT /v3/os-services/failover_host and failover (3.26): what Cinder answers without replication.

import HTTPServer
import Supervision

extension VolumeAPI {
    /// volumed's drivers replicate nothing (`replication_status` is always `disabled`), so a failover
    /// is refused as Cinder refuses it for a backend without replication: 400, after the service is
    /// found (404 when it is not).
    func failover(_ body: [String: Any], action: ServiceAction) throws(HTTPError) -> HTTPResponse {
        let host = try RequestInput.optionalString(body, "host") ?? ""
        let cluster = action == .failover ? try RequestInput.optionalString(body, "cluster") ?? "" : ""
        guard !host.isEmpty || !cluster.isEmpty else {
            throw .badRequest(action == .failover
                ? "Invalid input received: host or cluster is required."
                : "Missing required element 'host' in request body.")
        }
        guard !cluster.isEmpty || supervisors.snapshot().backends.contains(where: { $0.host == host }) else {
            throw .itemNotFound("Service host=\(host) binary=\(ServicesView.volumeBinary) could not be found.")
        }
        if !cluster.isEmpty && host.isEmpty {
            throw .itemNotFound("Cluster \(cluster) could not be found: volumed runs no clusters.")
        }
        throw .badRequest("Invalid input received: Host replication_status must be enabled to fail over; \(host) has no replication configured (replication_status: disabled).")
    }
}
