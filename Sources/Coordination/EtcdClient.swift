import CurlClient
import JSON
import Scheduler
import Synchronization

/// A blocking client of an etcd v3 cluster through its JSON gateway, over the project's libcurl
/// client (no gRPC library). Safe to call from many threads at once.
///
/// Every call goes to the endpoint that answered last and fails over to the next one in order when
/// a member is unreachable, times out, or says it has no leader; each attempt is bounded by the
/// request timeout, so a call takes at most `endpoints.count × requestTimeout`. Every request
/// carries gRPC's `hasleader` metadata, so a member cut off from its quorum refuses at once
/// ("etcdserver: no leader") instead of holding the request until etcd's own 5 s timeout.
package final class EtcdClient: Sendable {
    package struct Configuration: Sendable, Equatable {
        /// Base URLs of the members' client ports, `http://host:port` or `https://host:port`.
        package var endpoints: [String]
        /// Seconds one attempt at one endpoint may take.
        package var requestTimeout: Double
        /// Seconds to open a connection to one endpoint.
        package var connectTimeout: Double
        /// PEM bundle of the CAs that signed the members' certificates (`https` endpoints).
        package var caFile: String?
        /// PEM client certificate and key, when the members require client certificates.
        package var certificateFile: String?
        package var keyFile: String?

        package init(
            endpoints: [String], requestTimeout: Double = 5, connectTimeout: Double = 2,
            caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil
        ) {
            self.endpoints = endpoints
            self.requestTimeout = requestTimeout
            self.connectTimeout = connectTimeout
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    package let configuration: Configuration
    private let curl: CurlClient
    /// The index of the endpoint that answered last; calls start there.
    private let preferred = Atomic<Int>(0)

    package init(configuration: Configuration) throws(EtcdError) {
        guard !configuration.endpoints.isEmpty else { throw .badConfiguration("no endpoint") }
        for endpoint in configuration.endpoints {
            let lowered = endpoint.lowercased()
            guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://"), !endpoint.hasSuffix("/") else {
                throw .badConfiguration("endpoint \(endpoint) is not http(s)://host:port")
            }
        }
        do {
            curl = try CurlClient(
                configuration: CurlClient.Configuration(
                    connectTimeout: min(configuration.connectTimeout, configuration.requestTimeout),
                    totalTimeout: configuration.requestTimeout,
                    caFile: configuration.caFile,
                    userAgent: "volumed-etcd",
                    maxResponseBodyBytes: 64 * 1024 * 1024,
                    maxIdleHandles: 8,
                    clientCertificateFile: configuration.certificateFile,
                    clientKeyFile: configuration.keyFile))
        } catch {
            throw .badConfiguration(error.detail.isEmpty ? error.description : error.detail)
        }
        self.configuration = configuration
    }

    /// The endpoint the next call starts with.
    package var currentEndpoint: String {
        configuration.endpoints[preferred.load(ordering: .relaxed) % configuration.endpoints.count]
    }

    // MARK: keys

    /// Writes `value` at `key` (bound to `lease` unless 0); returns the store's new revision.
    @discardableResult
    package func put(_ key: String, value: [UInt8], lease: Int64 = 0) throws(EtcdError) -> Int64 {
        let answer = try call(
            "/v3/kv/put", GatewayJSON.put(key: key, value: value, lease: lease),
            repeatable: true, lease: lease)
        return try decode(answer) { answer throws(GatewayJSON.Malformed) in try GatewayJSON.revision(of: answer.value) }
    }

    /// The key's current value, nil when it does not exist. A linearizable read (through the leader).
    package func get(_ key: String) throws(EtcdError) -> EtcdKeyValue? {
        try range(.key(key)).keyValues.first
    }

    /// The keys in `keys` at `revision` (0: now), at most `limit` of them (0: all).
    package func range(_ keys: EtcdKeys, revision: Int64 = 0, limit: Int64 = 0) throws(EtcdError) -> EtcdRange {
        let answer = try call(
            "/v3/kv/range", GatewayJSON.range(keys, revision: revision, limit: limit),
            repeatable: true)
        return try decode(answer) { answer throws(GatewayJSON.Malformed) in
            try GatewayJSON.rangeResult(answer.value, revision: try GatewayJSON.revision(of: answer.value))
        }
    }

    /// Deletes the keys; returns how many existed.
    @discardableResult
    package func delete(_ keys: EtcdKeys) throws(EtcdError) -> Int64 {
        let answer = try call("/v3/kv/deleterange", GatewayJSON.deleteRange(keys), repeatable: true)
        return try decode(answer) { answer throws(GatewayJSON.Malformed) in
            try GatewayJSON.int64(answer.value["deleted"], "deleted")
        }
    }

    /// Runs `success` when every `compare` holds, else `failure`, atomically. Never sent twice: when
    /// an attempt gets no answer the call fails with `outcomeUnknown`.
    package func transaction(
        compare: [EtcdCompare], success: [EtcdOperation], failure: [EtcdOperation] = []
    ) throws(EtcdError) -> EtcdTransactionResult {
        let body = GatewayJSON.transaction(compare: compare, success: success, failure: failure)
        let answer = try call("/v3/kv/txn", body, repeatable: false)
        return try decode(answer) { answer throws(GatewayJSON.Malformed) in
            let value = answer.value
            let revision = try GatewayJSON.revision(of: value)
            var results: [EtcdOperationResult] = []
            if case .array(let items)? = value["responses"] {
                for item in items {
                    if let range = item["response_range"] {
                        results.append(.range(try GatewayJSON.rangeResult(range, revision: revision)))
                    } else if let deleted = item["response_delete_range"] {
                        results.append(.delete(deleted: try GatewayJSON.int64(deleted["deleted"], "deleted")))
                    } else if item["response_put"] != nil {
                        results.append(.put)
                    } else {
                        throw GatewayJSON.Malformed(reason: "unknown transaction response")
                    }
                }
            }
            return EtcdTransactionResult(
                succeeded: value["succeeded"]?.boolValue ?? false, revision: revision, results: results)
        }
    }

    /// Discards history before `revision`: watches and reads older than it get `compacted`.
    package func compact(revision: Int64) throws(EtcdError) {
        _ = try call("/v3/kv/compaction", GatewayJSON.compaction(revision: revision), repeatable: true)
    }

    // MARK: leases

    /// A new lease of `ttl` seconds. Never sent twice (a lost answer would leave an unknown lease
    /// behind until its TTL runs out), so a silent attempt fails with `outcomeUnknown`.
    package func grantLease(ttl: Int64) throws(EtcdError) -> EtcdLease {
        let answer = try call("/v3/lease/grant", GatewayJSON.leaseGrant(ttl: ttl), repeatable: false)
        return try decode(answer) { answer throws(GatewayJSON.Malformed) in
            if let error = answer.value["error"]?.stringValue, !error.isEmpty {
                throw GatewayJSON.Malformed(reason: "grant failed: \(error)")
            }
            return EtcdLease(
                id: try GatewayJSON.int64(answer.value["ID"], "ID"),
                ttl: try GatewayJSON.int64(answer.value["TTL"], "TTL"))
        }
    }

    /// Refreshes the lease to its full TTL; `leaseNotFound` once it expired or was revoked.
    @discardableResult
    package func keepAlive(_ id: Int64) throws(EtcdError) -> EtcdLease {
        // The gateway serves this gRPC stream as one answer per request body, wrapped in "result".
        let answer = try call("/v3/lease/keepalive", GatewayJSON.leaseID(id), repeatable: true, lease: id)
        let ttl = try decode(answer) { answer throws(GatewayJSON.Malformed) in
            guard let result = answer.value["result"] else { throw GatewayJSON.Malformed(reason: "no result") }
            return try GatewayJSON.int64(result["TTL"], "TTL")
        }
        // etcd answers an unknown lease with TTL 0 (left out) instead of an error.
        guard ttl > 0 else { throw .leaseNotFound(leaseID: id) }
        return EtcdLease(id: id, ttl: ttl)
    }

    /// Ends the lease now; its keys are deleted. `leaseNotFound` when it was already gone.
    package func revokeLease(_ id: Int64) throws(EtcdError) {
        _ = try call("/v3/lease/revoke", GatewayJSON.leaseID(id), repeatable: true, lease: id)
    }

    // MARK: streams

    /// Opens a streaming call (the watch) on the current endpoint, moving to the next one while
    /// endpoints refuse the connection. Returns how the stream ended and the endpoint it used; a
    /// stream that broke moves the next call to another endpoint. `shouldContinue` is asked about
    /// once a second (and with every chunk) with the endpoint the stream is on.
    func stream(
        _ path: String, body: [UInt8],
        shouldContinue: @escaping @Sendable (String) -> Bool,
        receive: @escaping (String, UnsafeRawBufferPointer) -> Bool
    ) throws(EtcdError) -> (end: CurlStreamEnd, endpoint: String) {
        let count = configuration.endpoints.count
        let start = preferred.load(ordering: .relaxed)
        var failures: [EtcdEndpointFailure] = []
        for offset in 0..<count {
            let index = (start + offset) % count
            let endpoint = configuration.endpoints[index]
            let request = CurlRequest(method: "POST", url: endpoint + path, headers: Self.headers, body: body)
            do {
                let end = try curl.stream(request, shouldContinue: { shouldContinue(endpoint) }) {
                    receive(endpoint, $0)
                }
                return (end, endpoint)
            } catch {
                failures.append(Self.failure(endpoint, error))
                preferred.store((index + 1) % count, ordering: .relaxed)
                // A stream that connected and then broke is reported; only refused connections move on.
                guard error.isConnectFailure else { throw .unavailable(failures) }
            }
        }
        throw .unavailable(failures)
    }

    /// Asks `endpoint` alone (no failover) for its status, bounded by the request timeout: fails
    /// when the member does not answer (hung, gone) or has no leader. A quiet watch stream uses it
    /// to tell a quiet cluster from a member that stopped answering (a stopped process still
    /// accepts connections and keeps a stream open, silently).
    package func probe(_ endpoint: String) throws(EtcdError) {
        let response: CurlResponse
        do {
            response = try curl.send(
                CurlRequest(
                    method: "POST", url: endpoint + "/v3/maintenance/status", headers: Self.headers,
                    body: Array("{}".utf8)
                ))
        } catch {
            throw .unavailable([Self.failure(endpoint, error)])
        }
        let value: JSONValue
        do {
            value = try GatewayJSON.parse(response.body)
        } catch {
            throw .invalidResponse(endpoint: endpoint, reason: "status \(response.status): \(error.reason)")
        }
        if let status = GatewayJSON.errorStatus(value) {
            throw .noQuorum(endpoint: endpoint, message: status.message)
        }
        guard response.status == 200 else {
            throw .invalidResponse(endpoint: endpoint, reason: "status \(response.status) without an error")
        }
    }

    /// Moves the next call off `endpoint` (a stream on it reported that it lost its leader).
    func avoid(_ endpoint: String) {
        guard let index = configuration.endpoints.firstIndex(of: endpoint) else { return }
        preferred.store((index + 1) % configuration.endpoints.count, ordering: .relaxed)
    }

    // MARK: one call with failover

    private static let headers = [
        CurlHeader("Content-Type", "application/json"),
        // gRPC metadata through the gateway: refuse at once when the member has no leader.
        CurlHeader("Grpc-Metadata-hasleader", "true"),
    ]

    struct Answer {
        let value: JSONValue
        let endpoint: String
    }

    /// Sends `body` to `path`, failing over between endpoints. `repeatable`: the request may be sent
    /// again after an attempt that got no answer (it is idempotent). `lease`: the lease the request
    /// names, for `leaseNotFound`.
    private func call(_ path: String, _ body: [UInt8], repeatable: Bool, lease: Int64 = 0) throws(EtcdError) -> Answer {
        let count = configuration.endpoints.count
        let start = preferred.load(ordering: .relaxed)
        var failures: [EtcdEndpointFailure] = []
        for offset in 0..<count {
            let index = (start + offset) % count
            let endpoint = configuration.endpoints[index]
            let response: CurlResponse
            do {
                response = try curl.send(
                    CurlRequest(method: "POST", url: endpoint + path, headers: Self.headers, body: body))
            } catch {
                let failure = Self.failure(endpoint, error)
                if !repeatable, failure.kind != .unreachable {
                    // Not sent again, but the next call starts elsewhere: a hung member would
                    // otherwise cost every transaction a whole timeout until a repeatable call moved on.
                    preferred.store((index + 1) % count, ordering: .relaxed)
                    throw .outcomeUnknown(endpoint: endpoint, detail: failure.detail)
                }
                failures.append(failure)
                continue
            }
            let value: JSONValue
            do {
                value = try GatewayJSON.parse(response.body)
            } catch {
                throw .invalidResponse(endpoint: endpoint, reason: "status \(response.status): \(error.reason)")
            }
            guard response.status != 200 || value["error"] != nil else {
                preferred.store(index, ordering: .relaxed)
                return Answer(value: value, endpoint: endpoint)
            }
            guard let status = GatewayJSON.errorStatus(value) else {
                throw .invalidResponse(endpoint: endpoint, reason: "status \(response.status) without an error")
            }
            switch Self.classify(status) {
            case .memberUnavailable(let uncertain):
                if uncertain, !repeatable {
                    throw .outcomeUnknown(endpoint: endpoint, detail: status.message)
                }
                failures.append(
                    EtcdEndpointFailure(endpoint: endpoint, kind: .memberUnavailable, detail: status.message))
            case .leaseNotFound:
                throw .leaseNotFound(leaseID: lease)
            case .compacted:
                throw .compacted(compactRevision: 0)
            case .rejected:
                throw .rejected(code: status.code, message: status.message)
            }
        }
        if let refusal = failures.first(where: { $0.kind == .memberUnavailable }) {
            throw .noQuorum(endpoint: refusal.endpoint, message: refusal.detail)
        }
        throw .unavailable(failures)
    }

    enum StatusClass: Equatable {
        /// Try another member; `uncertain`: the request may still be applied (etcd timed it out
        /// after proposing it).
        case memberUnavailable(uncertain: Bool)
        case leaseNotFound
        case compacted
        case rejected
    }

    /// gRPC status codes etcd uses (`rpctypes`): 14 unavailable (no leader, timed out, leader changed,
    /// too many requests), 4 deadline exceeded, 5 not found (lease), 11 out of range (compacted).
    static func classify(_ status: (code: Int, message: String)) -> StatusClass {
        switch status.code {
        case 14, 4:
            let uncertain = status.message.contains("timed out") || status.code == 4
            return .memberUnavailable(uncertain: uncertain)
        case 5 where status.message.contains("lease not found"):
            return .leaseNotFound
        case 11 where status.message.contains("compacted"):
            return .compacted
        default:
            return .rejected
        }
    }

    static func failure(_ endpoint: String, _ error: CurlError) -> EtcdEndpointFailure {
        let kind: EtcdEndpointFailure.Kind =
            error.isConnectFailure ? .unreachable : error.isTimeout ? .timedOut : .transport
        return EtcdEndpointFailure(endpoint: endpoint, kind: kind, detail: error.description)
    }

    private func decode<T>(
        _ answer: Answer, _ body: (Answer) throws(GatewayJSON.Malformed) -> T
    ) throws(EtcdError) -> T {
        do {
            return try body(answer)
        } catch {
            throw .invalidResponse(endpoint: answer.endpoint, reason: error.reason)
        }
    }
}
