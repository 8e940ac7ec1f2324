import Coordination
import Logging
import ServiceDecisions
import Supervision
import Synchronization

/// Cluster mode's `OperatorDecisionStore`: a decision is in force once etcd holds it (one lease-free
/// key per service, written by compare-and-swap), whichever API took it, this host's or any
/// scheduler's. The host follows the decision keys of its own services through a watch, so a
/// decision sent to a scheduler takes effect here at once.
///
/// The local state file is no longer the source of truth: it is kept as the last copy of what etcd
/// held for this host, which is what a host starting while etcd does not answer runs with. The first
/// time the host reads etcd, each decision of that file about one of its services that etcd has no
/// decision for is written to etcd (carried over, logged); where etcd has one, etcd's wins (logged
/// when it differs). Until that is done the host keeps the file's decisions.
final class ClusterDecisionStore: OperatorDecisionStore {
    private let cluster: ClusterDecisions
    private let mirror: ServiceStateFile
    private let host: String
    private let logger: Logger

    /// Touched by `load` (start-up, before the watch) and then only by the watch's thread.
    private struct Following {
        /// What etcd holds for this host's services.
        var known: [ServiceKey: AdminState] = [:]
        /// The file's decisions, until they have been carried over.
        var local: [ServiceKey: AdminState]?
        /// What the file holds now.
        var mirrored: [ServiceKey: AdminState] = [:]
    }

    private let following = Mutex(Following())
    private let watch = Mutex<EtcdWatch?>(nil)

    init(cluster: ClusterDecisions, host: String, mirror: ServiceStateFile, logger: Logger) {
        self.cluster = cluster
        self.host = host
        self.mirror = mirror
        self.logger = logger
    }

    var location: String { "\(cluster.location) (last copy in \(mirror.path))" }

    /// The file's decisions: what the host runs with until it has read etcd.
    func load(host: String) throws(DecisionStoreError) -> [ServiceKey: AdminState] {
        let local = try mirror.load(host: host)
        following.withLock {
            $0.local = local
            $0.mirrored = local
        }
        return local
    }

    func checkWritable() throws(DecisionStoreError) {
        try mirror.checkWritable()
    }

    /// Stores `status` as a whole in etcd, whatever it held (the last writer wins).
    func commit(_ status: AdminState, for key: ServiceKey, all: [ServiceKey: AdminState])
        throws(DecisionStoreError)
    {
        try cluster.store(status, for: key)
    }

    /// Applied to what etcd holds, atomically; answered once etcd confirmed it.
    func record(_ decision: OperatorDecision, for key: ServiceKey, decided: [ServiceKey: AdminState])
        throws(DecisionStoreError) -> AdminState
    {
        try cluster.record(decision, for: key)
    }

    /// Starts following this host's decision keys; `adopt` gets every decision in force for its
    /// services after each change (on the watch's thread).
    func follow(_ adopt: @escaping @Sendable ([ServiceKey: AdminState]) -> Void) {
        let started = EtcdWatch(client: cluster.client, keys: cluster.layout.decisions(ofNode: host)) {
            [self] update in
            handle(update, adopt: adopt)
        }
        watch.withLock { $0 = started }
    }

    func stop() {
        let running = watch.withLock { watch in
            defer { watch = nil }
            return watch
        }
        running?.stop()
    }

    private func handle(_ update: EtcdWatchUpdate, adopt: @Sendable ([ServiceKey: AdminState]) -> Void) {
        switch update {
        case .snapshot(_, let keyValues):
            let read = cluster.statuses(keyValues)
            for problem in read.unreadable {
                logger.error(
                    "an operator decision in etcd cannot be read; it is ignored", metadata: ["problem": "\(problem)"])
            }
            following.withLock { $0.known = read.statuses }
        case .changes(_, let events):
            following.withLock { following in
                for event in events {
                    guard case .decision(let serviceHost, let binary)? = cluster.layout.entry(of: event.key) else {
                        continue
                    }
                    let key = ServiceKey(host: serviceHost, binary: binary)
                    switch event {
                    case .put(let keyValue):
                        following.known[key] = cluster.statuses([keyValue]).statuses[key]
                    case .delete:
                        following.known[key] = nil
                    }
                }
            }
        case .progress:
            guard following.withLock({ $0.local != nil }) else { return }
        case .interrupted:
            return
        }
        guard carryOver() else { return }
        let known = following.withLock { $0.known }
        let kept = known.filter { !$0.value.isDefault }
        if kept != following.withLock({ $0.mirrored }) {
            do {
                try mirror.replaceAll(kept)
                following.withLock { $0.mirrored = kept }
            } catch {
                logger.warning(
                    "the local copy of this host's decisions could not be written; etcd holds them",
                    metadata: ["file": "\(mirror.path)", "error": "\(error)"])
            }
        }
        adopt(known)
    }

    /// Writes the file's decisions that etcd lacks, once. False while that could not be done (etcd
    /// refused): the host keeps the file's decisions and tries again at the watch's next update.
    private func carryOver() -> Bool {
        let (local, known) = following.withLock { ($0.local, $0.known) }
        guard let local else { return true }
        let mine = local.filter { $0.key.host.hasPrefix(host + "@") }
        for key in local.keys where mine[key] == nil {
            logger.warning(
                "a decision of the local state file names a service of another host; it is not carried over",
                metadata: ["service": "\(key)", "file": "\(mirror.path)"])
        }
        let missing = mine.filter { known[$0.key] == nil }
        var overruled = mine.keys.filter { key in known[key].map { $0 != mine[key] } ?? false }
        if !missing.isEmpty {
            do {
                let result = try cluster.carryOver(missing)
                following.withLock { following in
                    for key in result.written { following.known[key] = missing[key] }
                }
                overruled += result.overruled
                for key in result.written {
                    logger.notice(
                        "carried an operator decision of the local state file over into etcd (etcd had none for the service)",
                        metadata: [
                            "service": "\(key)", "status": "\(missing[key]!.status)",
                            "frozen": "\(missing[key]!.frozen)",
                            "file": "\(mirror.path)",
                        ])
                }
            } catch {
                logger.warning(
                    "the local state file's decisions could not be carried over into etcd yet; they stay in force here",
                    metadata: ["error": "\(error)"])
                return false
            }
        }
        for key in overruled.sorted() {
            logger.notice(
                "the local state file's decision differs from etcd's; etcd's is in force",
                metadata: ["service": "\(key)", "file": "\(mirror.path)"])
        }
        following.withLock { $0.local = nil }
        return true
    }
}
