/// Why an etcd call failed, as a caller decides what to do next: wait and retry (`unavailable`,
/// `noQuorum`), re-read in full (`compacted`), grant a new lease (`leaseNotFound`), or report a bug
/// or a misconfiguration (`rejected`, `invalidResponse`, `badConfiguration`).
package enum EtcdError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No member answered: every endpoint refused the connection, timed out, or broke it. One entry
    /// per endpoint tried, in order.
    case unavailable([EtcdEndpointFailure])
    /// Members answer but cannot commit: the cluster has no leader (quorum lost) or the leader could
    /// not replicate in time. Nothing was changed by this call.
    case noQuorum(endpoint: String, message: String)
    /// A request that is not safe to send twice (a transaction, a lease grant) got no answer within
    /// the timeout: it may or may not have been applied. Read back before deciding.
    case outcomeUnknown(endpoint: String, detail: String)
    /// The revision asked for was compacted away; `compactRevision` is the oldest one left (0 when the
    /// server did not say). Re-read the keys in full.
    case compacted(compactRevision: Int64)
    /// The lease expired or was revoked; keys bound to it are gone. Grant a new one.
    case leaseNotFound(leaseID: Int64)
    /// The cluster refused the request: a gRPC status code and etcd's message (e.g. 3, "etcdserver:
    /// request is too large").
    case rejected(code: Int, message: String)
    /// The answer was not what etcd's JSON gateway sends.
    case invalidResponse(endpoint: String, reason: String)
    /// The client cannot work as configured (no endpoint, a bad timeout or TLS file).
    case badConfiguration(String)

    package var description: String {
        switch self {
        case .unavailable(let failures):
            let tried = failures.map(\.description).joined(separator: "; ")
            return "etcd unavailable: no member answered (\(tried))"
        case .noQuorum(let endpoint, let message):
            return "etcd has no quorum: \(endpoint) answered \"\(message)\""
        case .outcomeUnknown(let endpoint, let detail):
            return "etcd request to \(endpoint) got no answer (\(detail)); it may or may not have been applied"
        case .compacted(let revision):
            return "etcd revision compacted (oldest kept: \(revision)); a full re-read is needed"
        case .leaseNotFound(let id):
            return "etcd lease \(id) not found (expired or revoked)"
        case .rejected(let code, let message):
            return "etcd refused the request: \(message) (gRPC code \(code))"
        case .invalidResponse(let endpoint, let reason):
            return "invalid answer from etcd at \(endpoint): \(reason)"
        case .badConfiguration(let reason):
            return "etcd client misconfigured: \(reason)"
        }
    }
}

/// What went wrong with one endpoint during one call.
package struct EtcdEndpointFailure: Sendable, Equatable, CustomStringConvertible {
    package enum Kind: Sendable, Equatable {
        /// The connection was refused, or the name did not resolve.
        case unreachable
        /// No answer within the request timeout.
        case timedOut
        /// The transfer broke (reset, closed early, TLS failure).
        case transport
        /// The member answered but said it cannot serve (no leader, request timed out inside etcd).
        case memberUnavailable
    }

    package var endpoint: String
    package var kind: Kind
    package var detail: String

    package init(endpoint: String, kind: Kind, detail: String) {
        self.endpoint = endpoint
        self.kind = kind
        self.detail = detail
    }

    package var description: String { "\(endpoint): \(detail)" }
}
