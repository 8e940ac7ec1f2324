import Clocks
import Coordination
import Foundation
import Scheduler
import Supervision
import Synchronization

/// A host's place in a cluster of volumed hosts on etcd, and Cinder's `publish_service_capabilities`
/// into it: one lease (TTL `service_down_time`, kept alive by a `LeaseKeeper` thread, independent
/// of drivers and ticks); under it, each backend's service record and latest capability report; and
/// without a lease, each service's last-seen record, so a dead host is listed as down, not forgotten.
///
/// A report reaches the cluster in a transaction of at most `operationsPerTransaction` writes (etcd's
/// default `--max-txn-ops` is 128). The service and last-seen records of a backend are written with
/// its first report under each lease, and last-seen again once a third of the TTL has passed, so a
/// dead host's last-seen time is at most that far behind its death.
package final class ClusterMembership: CapabilityPublisher {
    /// Why reports did not reach the cluster.
    package enum Failure: Error, Equatable, CustomStringConvertible {
        /// The host holds no lease; `lastError` says why (nil before the first attempt ended).
        case notLeased(lastError: EtcdError?)
        /// A transaction writing reports failed.
        case etcd(EtcdError)

        package var description: String {
            switch self {
            case .notLeased(let error): "not in the cluster: no etcd lease (\(error?.description ?? "no lease yet"))"
            case .etcd(let error): "etcd: \(error)"
            }
        }
    }

    package static let operationsPerTransaction = 128

    private struct Registration {
        /// The lease the records below were written under.
        var lease: Int64 = 0
        /// When each backend's last-seen record was last written. Monotonic: a step of the system
        /// clock must not hold the records back (schedulers would show the services down meanwhile).
        var lastSeenWritten: [String: MonotonicInstant] = [:]
    }

    private let client: EtcdClient
    private let layout: ClusterLayout
    private let zone: String
    private let apiURL: @Sendable () -> String
    private let ttl: Int64
    private let keeper: LeaseKeeper
    private let registration = Mutex(Registration())

    /// Joins the cluster: starts keeping a lease of `serviceDownTime` seconds (rounded up, at least 2).
    /// - Parameters:
    ///   - zone: Cinder's `storage_availability_zone` of this host's services.
    ///   - apiURL: where this host's own API answers, written into its service records (asked at
    ///     each write: the port is known only once the server listens).
    package init(
        client: EtcdClient, layout: ClusterLayout, serviceDownTime: Double, zone: String,
        apiURL: @escaping @Sendable () -> String,
        onJoined: @escaping @Sendable (Int64) -> Void = { _ in },
        onLost: @escaping @Sendable (Int64, EtcdError) -> Void = { _, _ in }
    ) {
        self.client = client
        self.layout = layout
        self.zone = zone
        self.apiURL = apiURL
        let ttl = max(2, Int64(serviceDownTime.rounded(.up)))
        self.ttl = ttl
        keeper = LeaseKeeper(client: client, ttl: ttl, onGranted: onJoined, onLost: onLost)
    }

    /// Whether the host holds a lease now, and why not.
    package var status: LeaseKeeper.Status { keeper.status }

    package func publishServiceCapabilities(_ reports: [BackendReport]) throws -> PublishOutcome {
        guard let lease = keeper.leaseID else {
            var lastError: EtcdError?
            if case .unleased(let error) = keeper.status { lastError = error }
            throw Failure.notLeased(lastError: lastError)
        }
        let now = Date()
        let instant = MonotonicInstant.now()
        let stale: [String: MonotonicInstant] = registration.withLock { registration in
            if registration.lease != lease { registration = Registration(lease: lease) }
            return registration.lastSeenWritten
        }
        var outcome = PublishOutcome()
        var chunk: [EtcdOperation] = []
        var chunkHosts: [String] = []
        var written: [String: MonotonicInstant] = [:]
        var failure: Failure?

        func flush() {
            guard !chunk.isEmpty else { return }
            defer {
                chunk.removeAll(keepingCapacity: true)
                chunkHosts.removeAll(keepingCapacity: true)
            }
            do {
                _ = try client.transaction(compare: [], success: chunk)
            } catch {
                if case .leaseNotFound = error { keeper.reportLost(lease) }
                let refusal = Failure.etcd(error)
                failure = refusal
                for host in chunkHosts {
                    outcome.rejected[host] = refusal.description
                    written[host] = nil
                }
            }
        }

        for report in reports {
            let body: [UInt8]
            do {
                body = try CapabilityReportEncoding.reportBody(report)
            } catch {
                outcome.rejected[report.host] = "cannot encode the report: \(error)"
                continue
            }
            var operations: [EtcdOperation] = []
            if stale[report.host].map({ instant.seconds(since: $0) >= Double(ttl) / 3 }) ?? true {
                let record = ServiceRecord(
                    host: report.host, binary: CapabilityReportEncoding.serviceBinary, zone: zone, apiURL: apiURL(),
                    updatedAt: CapabilityTimestamp(now))
                let service = ClusterLayout.Entry.service(host: report.host, binary: record.binary)
                let lastSeen = ClusterLayout.Entry.lastSeen(host: report.host, binary: record.binary)
                operations.append(.put(key: layout.key(service), value: record.encoded(), lease: lease))
                operations.append(.put(key: layout.key(lastSeen), value: record.encoded(), lease: 0))
                written[report.host] = instant
            }
            operations.append(.put(key: layout.key(.report(host: report.host)), value: body, lease: lease))
            if chunk.count + operations.count > Self.operationsPerTransaction { flush() }
            chunk += operations
            chunkHosts.append(report.host)
        }
        flush()
        registration.withLock { registration in
            guard registration.lease == lease else { return }
            registration.lastSeenWritten.merge(written) { $1 }
        }
        if let failure, outcome.rejected.count == reports.count { throw failure }
        return outcome
    }

    /// An orderly stop: the last-seen records get the time of leaving, then the lease is revoked so
    /// the services and reports leave every scheduler at once (a crash leaves them for one TTL).
    /// When etcd does not answer, the stop is not held up twice: the lease is left to lapse.
    package func leave() {
        let hosts = registration.withLock { Array($0.lastSeenWritten.keys) }
        var reachable = keeper.leaseID != nil
        if reachable, !hosts.isEmpty {
            let now = CapabilityTimestamp(Date())
            let operations: [EtcdOperation] = hosts.map { host in
                let record = ServiceRecord(
                    host: host, binary: CapabilityReportEncoding.serviceBinary, zone: zone, apiURL: apiURL(),
                    updatedAt: now)
                return .put(
                    key: layout.key(.lastSeen(host: host, binary: record.binary)), value: record.encoded(), lease: 0)
            }
            var start = 0
            while start < operations.count {
                let end = min(start + Self.operationsPerTransaction, operations.count)
                do {
                    _ = try client.transaction(compare: [], success: Array(operations[start..<end]))
                } catch {
                    reachable = false
                    break
                }
                start = end
            }
        }
        keeper.stop(revoke: reachable)
    }

    /// Stops renewing without revoking: the host's records go when the TTL runs out, as after a crash.
    package func abandon() {
        keeper.stop(revoke: false)
    }
}
