import Clocks
import Foundation
import JSON
import ServiceVocabulary
import Synchronization

/// The `get_pools` JSON, encoded once per store version: serve `json` as is and use `version` as the
/// ETag.
package struct PoolsView: Sendable, Equatable {
    package let version: UInt64
    package let json: [UInt8]
}

/// What one `receive` or `update` did with its reports.
package struct ReceiveSummary: Sendable, Equatable {
    /// Reports stored (each replacing its host's previous one, if any).
    package var accepted: Int
    /// Reports not stored, in body order, each with its reason.
    package var refused: [ReportRefusal]

    package init(accepted: Int, refused: [ReportRefusal] = []) {
        self.accepted = accepted
        self.refused = refused
    }

    /// Reports dropped because the stored report for their host is newer.
    package var ignoredAsOlder: Int { refused.count(where: { $0.reason == .olderThanStored }) }
    /// Reports refused because the store is full.
    package var refusedAsFull: Int { refused.count(where: { $0.reason == .storeFull }) }
    /// Reports refused as invalid.
    package var refusedAsInvalid: Int { refused.count(where: { $0.reason == .invalid }) }
}

/// How much a `CapabilityStore` holds, and for how long: what keeps it bounded whatever its
/// publishers send.
package struct CapabilityStoreLimits: Sendable, Equatable {
    /// Backends (`host@backend`) held at most; a report naming a new one beyond it is refused.
    package var maxBackends: Int
    /// Pools held at most, over all backends.
    package var maxPools: Int
    /// How far ahead of the scheduler's clock a report's timestamp may be (clocks of two hosts
    /// differ a little); a report dated later is refused, since it would make every later, real
    /// report look older.
    package var maxClockSkew: Double
    /// Backends without a report for this many `service_down_time`s are forgotten (they left
    /// `get_pools` after one).
    package var forgetAfterDownTimes: Double

    package static let defaultMaxBackends = 10_000
    package static let defaultMaxPools = 100_000

    package init(
        maxBackends: Int = defaultMaxBackends, maxPools: Int = defaultMaxPools, maxClockSkew: Double = 60,
        forgetAfterDownTimes: Double = 10
    ) {
        self.maxBackends = max(1, maxBackends)
        self.maxPools = max(1, maxPools)
        self.maxClockSkew = maxClockSkew.isFinite ? max(0, maxClockSkew) : 60
        self.forgetAfterDownTimes =
            forgetAfterDownTimes.isFinite && forgetAfterDownTimes >= 1 ? forgetAfterDownTimes : 10
    }
}

/// What the scheduler knows about one backend, for the API's listings and metrics.
package struct BackendStatus: Sendable, Equatable {
    package let host: String
    package let service: String
    package let backendState: BackendState
    package let status: ServiceStatus
    package let disabledReason: String?
    /// Frozen by an operator (os-services freeze): skipped like a disabled backend.
    package let frozen: Bool
    /// The timestamp of the stored report.
    package let reportTimestamp: CapabilityTimestamp
    /// When the scheduler received the stored report, as shown (staleness counts from the same
    /// arrival on the monotonic clock).
    package let receivedAt: Date
    /// No report within `service_down_time`.
    package let isStale: Bool
    /// `host@backend#pool` for each pool the report stands for.
    package let poolNames: [String]
    /// Withheld by an operator's decision in the cluster, whatever the report says.
    package var withheld = false

    /// Whether `get_pools` lists this backend's pools: up, enabled, not frozen, fresh, not withheld.
    package var isListed: Bool { backendState == .up && status == .enabled && !frozen && !isStale && !withheld }
}

/// The scheduler's view of every volume backend: the newest capability report per host, as Cinder's
/// scheduler host manager keeps it, plus the `get_pools` views built from it.
///
/// Thread-safe and bounded: at most `limits.maxBackends` backends and `limits.maxPools` pools, and a
/// backend silent for `limits.forgetAfterDownTimes` service down times is forgotten. Every change
/// bumps `version`, including a backend going stale, which is noticed on the next read (no timer),
/// so a cached view and its ETag are never out of date. A read costs in proportion to the backends
/// that `get_pools` lists, not to all the store holds.
package final class CapabilityStore: Sendable {
    /// Cinder's `service_down_time`: seconds after the last received report at which a backend drops out.
    package let serviceDownTime: Double
    package let limits: CapabilityStoreLimits
    /// Wall time dates reports and checks how far ahead another host's timestamp is; monotonic time
    /// measures how long ago a report arrived, so a step of this host's clock neither revives nor
    /// expires a backend.
    private let clock: any ServiceClock
    private let state = Mutex(State())

    private struct Entry {
        var report: CapabilityReport
        var receivedAt: ClockReading
        var isStale = false
        var poolNames: [String]
        var summaryFragment: [UInt8]
        var detailFragment: [UInt8]

        var isListed: Bool {
            report.backendState == .up && report.status == .enabled && !report.frozen && !isStale && !poolNames.isEmpty
        }
    }

    /// One stored report's arrival; superseded when its host's entry has a later `receivedAt`.
    private struct Arrival {
        var host: String
        var receivedAt: MonotonicInstant
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Hosts that `get_pools` lists, in name order.
        var listed: [String] = []
        var poolCount = 0
        /// Stored reports in arrival order. Entries before `staleCursor` are past
        /// `service_down_time` (their backends marked stale unless superseded); entries before
        /// `forgetCursor` are past the forgetting age.
        var arrivals: [Arrival] = []
        var staleCursor = 0
        var forgetCursor = 0
        var version: UInt64 = 1
        var summaryView: PoolsView?
        var detailView: PoolsView?
        /// Backends an operator took out of scheduling in the cluster's decisions, kept out of
        /// `get_pools` whatever their reports say (until their host reports the decision itself).
        var withheld: Set<String> = []
        /// Since when staleness is held (a cluster-fed store whose watch is broken), nil while it runs.
        var expiryHeldSince: MonotonicInstant?

        mutating func changed() {
            version &+= 1
            summaryView = nil
            detailView = nil
        }

        /// Keeps `listed` in step with `host`'s entry.
        mutating func relist(_ host: String) {
            let shouldList = (entries[host]?.isListed ?? false) && !withheld.contains(host)
            let position = listed.partitionPoint { $0 >= host }
            let present = position < listed.count && listed[position] == host
            if shouldList && !present { listed.insert(host, at: position) }
            if !shouldList && present { listed.remove(at: position) }
        }
    }

    package init(
        serviceDownTime: Double = 60, limits: CapabilityStoreLimits = CapabilityStoreLimits(),
        clock: any ServiceClock = SystemClock()
    ) {
        self.serviceDownTime = serviceDownTime.isFinite && serviceDownTime > 0 ? serviceDownTime : 60
        self.limits = limits
        self.clock = clock
    }

    /// How long a backend may stay silent before it is forgotten.
    package var forgetAfter: Double { serviceDownTime * limits.forgetAfterDownTimes }

    /// Validates a `POST /v3/scheduler/capabilities` body and stores its valid reports; each invalid
    /// one is refused with its reason. Throws only when the body is not a report or a batch of
    /// reports (or is a single invalid report): nothing is stored then.
    @discardableResult
    package func receive(
        _ body: [UInt8], maxReports: Int = CapabilityReportParser.defaultMaxReports
    ) throws(CapabilityReportError) -> ReceiveSummary {
        let notAfter = CapabilityTimestamp(clock.now().wall.addingTimeInterval(limits.maxClockSkew))
        let batch = try CapabilityReportParser.parse(body, maxReports: maxReports, notAfter: notAfter)
        var summary = update(batch.reports)
        summary.refused = (summary.refused + batch.refused).sorted { $0.index < $1.index }
        return summary
    }

    /// Stores reports in order (validated ones: `receive` validates). Per host, a report older than
    /// the stored one is ignored while the stored one is younger than half a `service_down_time`
    /// (a late delivery); after that it replaces it, so a sender whose clock went back, or one
    /// report dated ahead, cannot keep a backend's real reports out. A `down` report takes its
    /// backend out of `get_pools` at once.
    @discardableResult
    package func update(_ reports: [CapabilityReport]) -> ReceiveSummary {
        update(reports.enumerated().map { IndexedReport(index: $0.offset, report: $0.element) })
    }

    @discardableResult
    package func update(_ reports: [IndexedReport]) -> ReceiveSummary {
        let now = clock.now()
        let updated = JSONValue.string(CapabilityTimestamp(now.wall).description)
        // Encoding happens outside the lock; only the swap happens inside.
        let prepared = reports.map { indexed in
            let report = indexed.report
            let pools = PoolEncoding.pools(of: report)
            return (
                indexed.index,
                Entry(
                    report: report,
                    receivedAt: now,
                    poolNames: pools.map { PoolEncoding.fullName(host: report.host, pool: $0.name) },
                    summaryFragment: PoolEncoding.summaryFragment(host: report.host, pools: pools),
                    detailFragment: PoolEncoding.detailFragment(report: report, pools: pools, updated: updated)
                )
            )
        }
        let reorderWindow = serviceDownTime / 2
        return state.withLock { state in
            expire(&state, now: now.monotonic)
            var summary = ReceiveSummary(accepted: 0)
            for (index, entry) in prepared {
                let host = entry.report.host
                let stored = state.entries[host]
                if let stored, stored.report.timestamp > entry.report.timestamp,
                    now.seconds(since: stored.receivedAt) < reorderWindow
                {
                    summary.refused.append(
                        ReportRefusal(
                            index: index, host: host, reason: .olderThanStored,
                            message:
                                "the stored report for \(host) is dated \(stored.report.timestamp), later than this one"
                        ))
                    continue
                }
                let pools = state.poolCount - (stored?.poolNames.count ?? 0) + entry.poolNames.count
                if stored == nil && state.entries.count >= limits.maxBackends {
                    summary.refused.append(
                        ReportRefusal(
                            index: index, host: host, reason: .storeFull,
                            message:
                                "the scheduler holds the most backends it may (\(limits.maxBackends)); \(host) is not stored"
                        ))
                    continue
                }
                if pools > limits.maxPools && entry.poolNames.count > (stored?.poolNames.count ?? 0) {
                    summary.refused.append(
                        ReportRefusal(
                            index: index, host: host, reason: .storeFull,
                            message:
                                "the scheduler holds the most pools it may (\(limits.maxPools)); the \(entry.poolNames.count) pool(s) of \(host) are not stored"
                        ))
                    continue
                }
                state.entries[host] = entry
                state.poolCount = pools
                state.arrivals.append(Arrival(host: host, receivedAt: now.monotonic))
                state.relist(host)
                summary.accepted += 1
            }
            if summary.accepted > 0 {
                compactArrivals(&state, now: now.monotonic)
                state.changed()
            }
            return summary
        }
    }

    /// Drops the reports of `hosts` at once, for a store fed from a cluster's watch: a deleted report
    /// key means its host's lease ended (the host stopped or died), which is known before
    /// `service_down_time` says so. Returns how many of them were stored.
    @discardableResult
    package func remove(_ hosts: some Sequence<String>) -> Int {
        state.withLock { state in
            var removed = 0
            for host in hosts {
                guard let entry = state.entries.removeValue(forKey: host) else { continue }
                state.poolCount -= entry.poolNames.count
                state.relist(host)
                removed += 1
            }
            if removed > 0 { state.changed() }
            return removed
        }
    }

    /// Keeps `hosts` out of `get_pools` (a store fed from a cluster, whose operators disabled or froze
    /// them in etcd: every scheduler leaves them out at once, not one report later).
    package func withhold(_ hosts: Set<String>) {
        state.withLock { state in
            guard state.withheld != hosts else { return }
            let touched = state.withheld.symmetricDifference(hosts)
            state.withheld = hosts
            for host in touched { state.relist(host) }
            state.changed()
        }
    }

    /// Stops the clock of staleness as of `seconds` ago, for a store fed from a cluster's watch that
    /// broke (`seconds`: since it last delivered anything): no report could arrive since then, so
    /// silence says nothing about the backends, and `get_pools` keeps answering what it last saw.
    /// Backends that went stale in that time only because of it are listed again.
    package func holdExpiry(since seconds: Double) {
        let now = clock.now().monotonic
        let since = now.advanced(by: -max(0, seconds))
        state.withLock { state in
            guard state.expiryHeldSince == nil else { return }
            expire(&state, now: now)
            state.expiryHeldSince = since
            var revived = false
            for (host, entry) in state.entries
            where entry.isStale && entry.receivedAt.monotonic.advanced(by: serviceDownTime) >= since {
                state.entries[host]?.isStale = false
                state.relist(host)
                revived = true
            }
            if revived { state.changed() }
        }
    }

    /// Starts the clock of staleness again (the watch is current): every report's age moves on by
    /// the time it was held, so staleness goes on where it stopped.
    package func resumeExpiry() {
        let now = clock.now().monotonic
        state.withLock { state in
            guard let since = state.expiryHeldSince else { return }
            state.expiryHeldSince = nil
            let held = max(0, now.seconds(since: since))
            for host in state.entries.keys {
                guard let receivedAt = state.entries[host]?.receivedAt else { continue }
                state.entries[host]?.receivedAt = ClockReading(
                    wall: receivedAt.wall, monotonic: receivedAt.monotonic.advanced(by: held))
            }
            // Walked again from the start: backends revived by the hold go stale again in their turn.
            state.arrivals = state.entries.map { Arrival(host: $0.key, receivedAt: $0.value.receivedAt.monotonic) }
                .sorted { $0.receivedAt < $1.receivedAt }
            state.staleCursor = 0
            state.forgetCursor = 0
            expire(&state, now: now)
        }
    }

    /// The current version (after noticing backends that went stale); equal versions mean equal views.
    package var version: UInt64 {
        let now = clock.now().monotonic
        return state.withLock { state in
            expire(&state, now: now)
            return state.version
        }
    }

    /// How many backends and pools the store holds, listed or not.
    package var counts: (backends: Int, pools: Int) {
        let now = clock.now().monotonic
        return state.withLock { state in
            expire(&state, now: now)
            return (state.entries.count, state.poolCount)
        }
    }

    /// `{"pools": [{"name": "host@backend#pool"}, ...]}`, or with `detail` each pool's `capabilities`
    /// too; pools of backends that are down, disabled or stale are left out. Pools are in host order,
    /// then in the order each backend reported them.
    package func pools(detail: Bool) -> PoolsView {
        let now = clock.now().monotonic
        return state.withLock { state in
            expire(&state, now: now)
            if let cached = detail ? state.detailView : state.summaryView { return cached }
            var json: [UInt8] = []
            json.reserveCapacity(
                state.listed.reduce(16) { total, host in
                    total + 1
                        + (detail
                            ? state.entries[host]!.detailFragment.count : state.entries[host]!.summaryFragment.count)
                })
            json.append(contentsOf: #"{"pools":["#.utf8)
            var first = true
            for host in state.listed {
                guard let entry = state.entries[host] else { continue }
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

    /// Every backend the store holds, in host order, listed or not.
    package func backends() -> [BackendStatus] {
        let now = clock.now().monotonic
        return state.withLock { state in
            expire(&state, now: now)
            return state.entries.keys.sorted().compactMap { host in
                guard let entry = state.entries[host] else { return nil }
                return BackendStatus(
                    host: host, service: entry.report.service, backendState: entry.report.backendState,
                    status: entry.report.status, disabledReason: entry.report.disabledReason,
                    frozen: entry.report.frozen,
                    reportTimestamp: entry.report.timestamp, receivedAt: entry.receivedAt.wall,
                    isStale: entry.isStale, poolNames: entry.poolNames, withheld: state.withheld.contains(host))
            }
        }
    }

    /// The stored report for `host`, if any.
    package func report(for host: String) -> CapabilityReport? {
        state.withLock { $0.entries[host]?.report }
    }

    /// Marks backends whose last report is older than `serviceDownTime` as stale (Cinder: up while
    /// `now - updated <= service_down_time`) and forgets those older than `forgetAfter`. Walks the
    /// arrivals from where it stopped last time, so it costs in proportion to what expired.
    private func expire(_ state: inout State, now: MonotonicInstant) {
        guard state.expiryHeldSince == nil else { return }
        var changed = false
        while state.staleCursor < state.arrivals.count {
            let arrival = state.arrivals[state.staleCursor]
            guard now.seconds(since: arrival.receivedAt) > serviceDownTime else { break }
            state.staleCursor += 1
            guard let entry = state.entries[arrival.host], entry.receivedAt.monotonic == arrival.receivedAt,
                !entry.isStale
            else {
                continue
            }
            state.entries[arrival.host]?.isStale = true
            state.relist(arrival.host)
            changed = true
        }
        let forgetAfter = self.forgetAfter
        while state.forgetCursor < state.staleCursor {
            let arrival = state.arrivals[state.forgetCursor]
            guard now.seconds(since: arrival.receivedAt) > forgetAfter else { break }
            state.forgetCursor += 1
            guard let entry = state.entries[arrival.host], entry.receivedAt.monotonic == arrival.receivedAt else {
                continue
            }
            state.entries[arrival.host] = nil
            state.poolCount -= entry.poolNames.count
            changed = true
        }
        if state.forgetCursor >= 1024 && state.forgetCursor * 2 >= state.arrivals.count {
            state.arrivals.removeFirst(state.forgetCursor)
            state.staleCursor -= state.forgetCursor
            state.forgetCursor = 0
        }
        if changed { state.changed() }
    }

    /// Superseded arrivals pile up when hosts report faster than they expire: once they outnumber
    /// the entries, the list is rebuilt from the entries (amortized over as many updates).
    private func compactArrivals(_ state: inout State, now: MonotonicInstant) {
        guard state.arrivals.count - state.forgetCursor > 2 * state.entries.count + 1024 else { return }
        state.arrivals = state.entries.map { Arrival(host: $0.key, receivedAt: $0.value.receivedAt.monotonic) }
            .sorted { $0.receivedAt < $1.receivedAt }
        state.forgetCursor = 0
        state.staleCursor = state.arrivals.partitionPoint { now.seconds(since: $0.receivedAt) <= serviceDownTime }
    }
}

extension Array {
    /// The first position where `belongsToSecondPart` holds, for an array partitioned by it.
    fileprivate func partitionPoint(where belongsToSecondPart: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if belongsToSecondPart(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
