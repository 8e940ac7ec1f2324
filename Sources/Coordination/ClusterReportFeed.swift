import Scheduler
import Synchronization

/// Keeps a scheduler's `CapabilityStore` in step with the capability reports a cluster keeps in etcd,
/// through one `EtcdWatch` on the reports' prefix: so `get_pools` reads the same store, with the same
/// rules, whether reports were posted to this scheduler or written to etcd by any host. A snapshot
/// (at start, or after a compaction) replaces the store's contents; a put stores the report; a
/// delete (the host's lease ended) removes its backend at once. A value that is not a valid report
/// is skipped and counted, never stored.
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
    }

    private let layout: ClusterLayout
    private let store: CapabilityStore
    private let state = Mutex(Status())
    private let watch = Mutex<EtcdWatch?>(nil)

    /// Starts following the reports of `layout` into `store`.
    package init(client: EtcdClient, layout: ClusterLayout, store: CapabilityStore, retry: EtcdWatch.Retry = .init()) {
        self.layout = layout
        self.store = store
        let watch = EtcdWatch(client: client, keys: layout.reports, retry: retry) { [self] update in
            apply(update)
        }
        self.watch.withLock { $0 = watch }
    }

    package var status: Status { state.withLock { $0 } }

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
            let reports = keyValues.compactMap(report)
            let present = Set(reports.map(\.host))
            store.remove(store.backends().map(\.host).filter { !present.contains($0) })
            store.update(reports)
            state.withLock {
                $0.revision = revision
                $0.interruption = nil
            }
        case .changes(let revision, let events):
            var puts: [CapabilityReport] = []
            var deleted: [String] = []
            for event in events {
                switch event {
                case .put(let keyValue):
                    if let report = report(keyValue) { puts.append(report) }
                case .delete(let key, _):
                    if case .report(let host)? = layout.entry(of: key) { deleted.append(host) }
                }
            }
            // Events are in revision order; a host deleted then written again in one batch is back.
            let rewritten = Set(puts.map(\.host))
            store.remove(deleted.filter { !rewritten.contains($0) })
            store.update(puts)
            state.withLock {
                $0.revision = revision
                $0.interruption = nil
            }
        case .progress(let revision):
            state.withLock {
                $0.revision = revision
                $0.interruption = nil
            }
        case .interrupted(let error):
            state.withLock { $0.interruption = error }
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
