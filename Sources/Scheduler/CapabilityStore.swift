import Foundation
import Synchronization

/// The time source of a `CapabilityStore`, injected so staleness can be tested without waiting.
public protocol SchedulerClock: Sendable {
    func now() -> Date
}

/// Wall-clock time.
public struct SystemSchedulerClock: SchedulerClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// The `get_pools` JSON, encoded once per store version: serve `json` as is and use `version` as the
/// ETag.
public struct PoolsView: Sendable, Equatable {
    public let version: UInt64
    public let json: [UInt8]
}

/// What one `update` did with its reports.
public struct ReceiveSummary: Sendable, Equatable {
    /// Reports stored (each replacing its host's previous one, if any).
    public var accepted: Int
    /// Reports dropped because the stored report for their host has a newer timestamp.
    public var ignoredAsOlder: Int

    public init(accepted: Int, ignoredAsOlder: Int) {
        self.accepted = accepted
        self.ignoredAsOlder = ignoredAsOlder
    }
}

/// What the scheduler knows about one backend, for the API's listings and metrics.
public struct BackendStatus: Sendable, Equatable {
    public let host: String
    public let service: String
    public let backendState: BackendState
    public let status: ServiceStatus
    public let disabledReason: String?
    /// The timestamp of the stored report.
    public let reportTimestamp: CapabilityTimestamp
    /// When the scheduler received the stored report; staleness counts from here.
    public let receivedAt: Date
    /// No report within `service_down_time`.
    public let isStale: Bool
    /// `host@backend#pool` for each pool the report stands for.
    public let poolNames: [String]

    /// Whether `get_pools` lists this backend's pools: up, enabled, fresh.
    public var isListed: Bool { backendState == .up && status == .enabled && !isStale }
}

/// The scheduler's view of every volume backend: the newest capability report per host, as Cinder's
/// scheduler host manager keeps it, plus the `get_pools` views built from it.
///
/// Thread-safe. Every change bumps `version`, including a backend going stale, which is noticed on the
/// next read (no timer), so a cached view and its ETag are never out of date.
public final class CapabilityStore: Sendable {
    /// Cinder's `service_down_time`: seconds after the last received report at which a backend drops out.
    public let serviceDownTime: Double
    private let clock: any SchedulerClock
    private let state = Mutex(State())

    private struct Entry {
        var report: CapabilityReport
        var receivedAt: Date
        var isStale = false
        var poolNames: [String]
        var summaryFragment: [UInt8]
        var detailFragment: [UInt8]

        var isListed: Bool {
            report.backendState == .up && report.status == .enabled && !isStale && !poolNames.isEmpty
        }
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Hosts in name order; nil after a host was added.
        var sortedHosts: [String]? = []
        var version: UInt64 = 1
        /// The earliest moment a fresh backend can go stale; nil when none is fresh.
        var nextStaleness: Date?
        var summaryView: PoolsView?
        var detailView: PoolsView?

        mutating func changed() {
            version &+= 1
            summaryView = nil
            detailView = nil
        }
    }

    public init(serviceDownTime: Double = 60, clock: any SchedulerClock = SystemSchedulerClock()) {
        self.serviceDownTime = serviceDownTime.isFinite && serviceDownTime > 0 ? serviceDownTime : 60
        self.clock = clock
    }

    /// Validates a `POST /v3/scheduler/capabilities` body and stores its reports; nothing is stored
    /// when any report in it is invalid.
    @discardableResult
    public func receive(
        _ body: [UInt8], maxReports: Int = CapabilityReportParser.defaultMaxReports
    ) throws(CapabilityReportError) -> ReceiveSummary {
        update(try CapabilityReportParser.parse(body, maxReports: maxReports))
    }

    /// Stores reports in order; per host, a report older than the stored one is ignored. A `down`
    /// report takes its backend out of `get_pools` at once.
    @discardableResult
    public func update(_ reports: [CapabilityReport]) -> ReceiveSummary {
        let now = clock.now()
        let updated = JSONValue.string(CapabilityTimestamp(now).description)
        // Encoding happens outside the lock; only the swap happens inside.
        let prepared = reports.map { report in
            let pools = PoolEncoding.pools(of: report)
            return Entry(
                report: report,
                receivedAt: now,
                poolNames: pools.map { PoolEncoding.fullName(host: report.host, pool: $0.name) },
                summaryFragment: PoolEncoding.summaryFragment(host: report.host, pools: pools),
                detailFragment: PoolEncoding.detailFragment(report: report, pools: pools, updated: updated)
            )
        }
        let staleAt = now.addingTimeInterval(serviceDownTime)
        return state.withLock { state in
            var summary = ReceiveSummary(accepted: 0, ignoredAsOlder: 0)
            for entry in prepared {
                let host = entry.report.host
                if let stored = state.entries[host], stored.report.timestamp > entry.report.timestamp {
                    summary.ignoredAsOlder += 1
                    continue
                }
                if state.entries.updateValue(entry, forKey: host) == nil { state.sortedHosts = nil }
                summary.accepted += 1
            }
            if summary.accepted > 0 {
                state.nextStaleness = min(state.nextStaleness ?? staleAt, staleAt)
                state.changed()
            }
            return summary
        }
    }

    /// The current version (after noticing backends that went stale); equal versions mean equal views.
    public var version: UInt64 {
        let now = clock.now()
        return state.withLock { state in
            markStale(&state, now: now)
            return state.version
        }
    }

    /// `{"pools": [{"name": "host@backend#pool"}, ...]}`, or with `detail` each pool's `capabilities`
    /// too; pools of backends that are down, disabled or stale are left out. Pools are in host order,
    /// then in the order each backend reported them.
    public func pools(detail: Bool) -> PoolsView {
        let now = clock.now()
        return state.withLock { state in
            markStale(&state, now: now)
            if let cached = detail ? state.detailView : state.summaryView { return cached }
            let hosts = sortedHosts(&state)
            var json: [UInt8] = []
            json.reserveCapacity(hosts.reduce(16) { total, host in
                total + 1 + (detail ? state.entries[host]!.detailFragment.count : state.entries[host]!.summaryFragment.count)
            })
            json.append(contentsOf: #"{"pools":["#.utf8)
            var first = true
            for host in hosts {
                guard let entry = state.entries[host], entry.isListed else { continue }
                if !first { json.append(UInt8(ascii: ",")) }
                json.append(contentsOf: detail ? entry.detailFragment : entry.summaryFragment)
                first = false
            }
            json.append(contentsOf: "]}".utf8)
            let view = PoolsView(version: state.version, json: json)
            if detail { state.detailView = view } else { state.summaryView = view }
            return view
        }
    }

    /// Every backend that ever reported, in host order, listed or not.
    public func backends() -> [BackendStatus] {
        let now = clock.now()
        return state.withLock { state in
            markStale(&state, now: now)
            return sortedHosts(&state).compactMap { host in
                guard let entry = state.entries[host] else { return nil }
                return BackendStatus(
                    host: host, service: entry.report.service, backendState: entry.report.backendState,
                    status: entry.report.status, disabledReason: entry.report.disabledReason,
                    reportTimestamp: entry.report.timestamp, receivedAt: entry.receivedAt,
                    isStale: entry.isStale, poolNames: entry.poolNames)
            }
        }
    }

    /// The stored report for `host`, if any.
    public func report(for host: String) -> CapabilityReport? {
        state.withLock { $0.entries[host]?.report }
    }

    private func sortedHosts(_ state: inout State) -> [String] {
        if let hosts = state.sortedHosts { return hosts }
        let hosts = state.entries.keys.sorted()
        state.sortedHosts = hosts
        return hosts
    }

    /// Marks backends whose last report is older than `serviceDownTime` as stale (Cinder: up while
    /// `now - updated <= service_down_time`). Costs a scan only when the earliest deadline has passed.
    private func markStale(_ state: inout State, now: Date) {
        guard let deadline = state.nextStaleness, now > deadline else { return }
        var next: Date?
        var changed = false
        for host in state.entries.keys {
            guard let entry = state.entries[host], !entry.isStale else { continue }
            if now.timeIntervalSince(entry.receivedAt) > serviceDownTime {
                state.entries[host]?.isStale = true
                changed = true
            } else {
                let staleAt = entry.receivedAt.addingTimeInterval(serviceDownTime)
                next = min(next ?? staleAt, staleAt)
            }
        }
        state.nextStaleness = next
        if changed { state.changed() }
    }
}
