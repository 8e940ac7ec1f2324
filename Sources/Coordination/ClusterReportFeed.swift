import Clocks
import Foundation
import Scheduler
import ServiceDecisions
import Synchronization

/// Keeps a scheduler's `CapabilityStore` in step with the capability reports a cluster keeps in etcd,
/// and its `ClusterDirectory` with the service records and operator decisions, through one
/// `EtcdWatch` on the cluster's prefix: so `get_pools` reads the same store, with the same rules,
/// whether reports were posted to this scheduler or written to etcd by any host. A snapshot (at
/// start, or after a compaction) replaces the store's contents; a put stores the report; a delete
/// (the host's lease ended) removes its backend at once. A value that is not a valid report or
/// record is skipped and counted, never stored. Backends an operator disabled or froze in etcd are
/// withheld from `get_pools` at once.
///
/// While the watch is broken (etcd unreachable, no quorum) the store and directory keep what they
/// last saw (the store's staleness clock held from the watch's last delivery) and `staleness` says
/// for how long; it clears as soon as a stream is open again.
package final class ClusterReportFeed: Sendable {
    /// Where the feed stands, for `/healthz`-style answers and logs.
    package struct Status: Sendable, Equatable {
        /// The last revision applied to the store (0 before the first snapshot).
        package var revision: Int64 = 0
        /// The watch is broken now (the store holds what it last saw); why.
        package var interruption: EtcdError?
        /// Values under the reports' prefix that were not valid reports, and the last one's problem.
        package var skipped = 0
        package var lastSkipped: ClusterRecordError?
        /// Since when the view may be out of date: the watch broke then (or the feed started then and
        /// has not read etcd yet); nil while a stream is open. Monotonic: a step of the clock does
        /// not change how long the view has been out of date.
        package var staleSince: MonotonicInstant? = .now()
    }

    private let client: EtcdClient
    private let layout: ClusterLayout
    private let store: CapabilityStore
    private let state = Mutex(Status())
    private let watch = Mutex<EtcdWatch?>(nil)
    /// When the watch last delivered anything: the view was current at least until then.
    private let lastDelivery = Mutex(ContinuousClock.now)
    /// The cluster's services and decisions as the watch last saw them.
    package let directory = ClusterDirectory()

    /// Starts following the reports of `layout` into `store`, and its records into `directory`.
    package init(client: EtcdClient, layout: ClusterLayout, store: CapabilityStore, retry: EtcdWatch.Retry = .init()) {
        self.client = client
        self.layout = layout
        self.store = store
        let watch = EtcdWatch(client: client, keys: layout.everything, retry: retry) { [self] update in
            apply(update)
        }
        self.watch.withLock { $0 = watch }
    }

    package var status: Status { state.withLock { $0 } }

    /// Seconds since the view was last known to be current, nil while it is (a stream is open).
    package func staleness(at now: MonotonicInstant = .now()) -> Double? {
        state.withLock { $0.staleSince }.map { max(0, now.seconds(since: $0)) }
    }

    package func stop() {
        let running = watch.withLock { watch in
            defer { watch = nil }
            return watch
        }
        running?.stop()
    }

    private func apply(_ update: EtcdWatchUpdate) {
        switch update {
        case .snapshot(let revision, let keyValues):
            var reports: [CapabilityReport] = []
            var records: [ClusterDirectory.Change] = []
            for keyValue in keyValues {
                if case .report? = layout.entry(of: keyValue.key) {
                    if let report = report(keyValue) { reports.append(report) }
                } else if let change = change(keyValue.key, keyValue.value) {
                    records.append(change)
                }
            }
            let present = Set(reports.map(\.host))
            directory.replace(with: records)
            store.withhold(withheld())
            store.remove(store.backends().map(\.host).filter { !present.contains($0) })
            store.update(reports)
            synced(at: revision)
        case .changes(let revision, let events):
            var puts: [CapabilityReport] = []
            var deleted: [String] = []
            var records: [ClusterDirectory.Change] = []
            for event in events {
                switch event {
                case .put(let keyValue):
                    if case .report? = layout.entry(of: keyValue.key) {
                        if let report = report(keyValue) { puts.append(report) }
                    } else if let change = change(keyValue.key, keyValue.value) {
                        records.append(change)
                    }
                case .delete(let key, _):
                    if case .report(let host)? = layout.entry(of: key) {
                        deleted.append(host)
                    } else if let change = change(key, nil) {
                        records.append(change)
                    }
                }
            }
            directory.apply(records)
            if records.contains(where: { if case .decision = $0 { true } else { false } }) {
                store.withhold(withheld())
            }
            // Events are in revision order; a host deleted then written again in one batch is back.
            let rewritten = Set(puts.map(\.host))
            store.remove(deleted.filter { !rewritten.contains($0) })
            store.update(puts)
            synced(at: revision)
        case .progress(let revision):
            // A stream that opened (or a progress note) after a break proves only that one member
            // answers: one cut off from its quorum still does for a few seconds. A read through the
            // leader proves the view current; changes (committed by a quorum) prove it too.
            if state.withLock({ $0.staleSince != nil }) {
                do {
                    _ = try client.get(layout.root + "/")
                } catch {
                    return
                }
            }
            synced(at: revision)
        case .interrupted(let error):
            // Nothing could arrive since the watch last delivered: silence is no sign of a dead
            // backend (its lease says that).
            let silence = lastDelivery.withLock { ContinuousClock.now - $0 }.components
            store.holdExpiry(since: Double(silence.seconds) + Double(silence.attoseconds) / 1e18)
            state.withLock { state in
                state.interruption = error
                if state.staleSince == nil { state.staleSince = .now() }
            }
        }
    }

    private func synced(at revision: Int64) {
        lastDelivery.withLock { $0 = ContinuousClock.now }
        store.resumeExpiry()
        state.withLock {
            $0.revision = revision
            $0.interruption = nil
            $0.staleSince = nil
        }
    }

    /// The backends whose volume service an operator disabled or froze.
    private func withheld() -> Set<String> {
        Set(
            directory.services().compactMap { service in
                guard service.key.binary == ServiceKey.volumeBinary, let decision = service.decision,
                    decision.disabled || decision.frozen
                else { return nil }
                return service.key.host
            })
    }

    /// The directory's change for a service, last-seen or decision key (`value` nil: deleted); nil
    /// for other keys, and for values that are not records (counted).
    private func change(_ key: String, _ value: [UInt8]?) -> ClusterDirectory.Change? {
        do throws(ClusterRecordError) {
            switch layout.entry(of: key) {
            case .service(let host, let binary)?:
                return .alive(
                    ServiceKey(host: host, binary: binary),
                    try value.map { bytes throws(ClusterRecordError) in try ServiceRecord.decode(bytes, key: key) })
            case .lastSeen(let host, let binary)?:
                return .lastSeen(
                    ServiceKey(host: host, binary: binary),
                    try value.map { bytes throws(ClusterRecordError) in try ServiceRecord.decode(bytes, key: key) })
            case .decision(let host, let binary)?:
                return .decision(
                    ServiceKey(host: host, binary: binary),
                    try value.map { bytes throws(ClusterRecordError) in try DecisionRecord.decode(bytes, key: key) })
            case .report?, nil:
                return nil
            }
        } catch {
            state.withLock {
                $0.skipped += 1
                $0.lastSkipped = error
            }
            return nil
        }
    }

    /// The report a key holds, nil (and counted) when the value is not one.
    private func report(_ keyValue: EtcdKeyValue) -> CapabilityReport? {
        do throws(ClusterRecordError) {
            guard case .report(let host)? = layout.entry(of: keyValue.key) else {
                throw ClusterRecordError(key: keyValue.key, problem: "not a report key of this layout")
            }
            let report = try StoredReport.decode(keyValue.value, key: keyValue.key)
            guard report.host == host else {
                throw ClusterRecordError(key: keyValue.key, problem: "holds the report of \(report.host)")
            }
            return report
        } catch {
            state.withLock {
                $0.skipped += 1
                $0.lastSkipped = error
            }
            return nil
        }
    }
}
