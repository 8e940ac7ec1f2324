import Dispatch
import Logging
import Supervision
import Synchronization

/// The operators' decisions about this node's services (disable, enable, freeze, thaw): owned
/// here, kept by an `OperatorDecisionStore`, applied to the supervisors.
///
/// A decision goes: validated by the API -> the writer computes the new set -> the store makes it
/// durable -> the supervisors get it -> the caller is answered. Decisions are serialized on one
/// writer queue of their own, so no HTTP event loop ever waits for a disk and no lock is held across
/// I/O. A decision that cannot be made durable changes nothing and is answered with the reason.
///
/// Decisions belong to services (`host@backend`, binary), not to backend sections: entries of
/// services that are not configured now are kept, and applied when their backend appears.
package final class OperatorDecisions: Sendable {
    private let store: any OperatorDecisionStore
    private let supervisors: SupervisorSet
    private let host: String
    private let logger: Logger
    /// Runs every decision and every backend addition, one at a time, in order.
    private let writer = DispatchQueue(label: "volumed.decisions.writer")
    /// What the store holds (non-default statuses only). Replaced on `writer` after each durable
    /// commit; the lock is only held to copy or swap the dictionary.
    private let decided: Mutex<[ServiceKey: AdminState]>

    /// Loads the saved decisions; throws when they cannot be read (start-up must then stop rather
    /// than run with every service enabled).
    package init(
        store: any OperatorDecisionStore, supervisors: SupervisorSet, host: String,
        logger: Logger
    ) throws(DecisionStoreError) {
        self.store = store
        self.supervisors = supervisors
        self.host = host
        self.logger = logger
        decided = Mutex(try store.load(host: host))
    }

    /// Where the decisions are kept, for messages.
    package var location: String { store.location }

    /// The decided status of `key` (the default when there is no decision).
    package func status(of key: ServiceKey) -> AdminState {
        decided.withLock { $0[key] } ?? AdminState()
    }

    /// Every decision held, configured services or not.
    package var all: [ServiceKey: AdminState] { decided.withLock { $0 } }

    /// Adds a backend to the supervisors with the status decided for its service, in order with
    /// the decisions being recorded (so a decision never races a backend coming back). Blocks the
    /// caller while a decision is being written: call it from the start-up or reload thread.
    package func addBackend(_ definition: BackendDefinition) throws(SupervisionError) {
        let key = ServiceKey.volume(host: host, backend: definition.id)
        let result: Result<Void, SupervisionError> = writer.sync {
            let status = decided.withLock { $0[key] } ?? AdminState()
            do throws(SupervisionError) {
                try supervisors.addBackend(definition, adminState: status)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Records `decision` for backend `backendID` of this node and calls `completion` (on the writer
    /// queue; it must not block) with the service's new status once it is durable and applied, or
    /// with the store's error and nothing changed. Returns at once.
    package func record(
        _ decision: OperatorDecision, backendID: String,
        completion: @escaping @Sendable (Result<AdminState, DecisionStoreError>) -> Void
    ) {
        let key = ServiceKey.volume(host: host, backend: backendID)
        writer.async { [self] in
            completion(apply(decision, to: key, backendID: backendID))
        }
    }

    /// Takes `statuses` as every decision in force for this node's services (cluster mode: what etcd
    /// holds, as the watch of the decision keys delivers it, whoever took them) and applies them to
    /// the configured backends. Queued on the writer, in order with the decisions recorded here.
    package func adopt(_ statuses: [ServiceKey: AdminState]) {
        writer.async { [self] in
            let next = statuses.filter { !$0.value.isDefault }
            decided.withLock { $0 = next }
            for backend in supervisors.snapshot().backends {
                let status = next[.volume(host: host, backend: backend.id)] ?? AdminState()
                guard backend.adminState != status else { continue }
                // A backend removed by a reload meanwhile gets the decision when it comes back.
                _ = try? supervisors.setServiceStatus(id: backend.id, to: status)
            }
        }
    }

    /// The writer's part: compute, commit, apply. Runs on `writer` only.
    private func apply(
        _ decision: OperatorDecision, to key: ServiceKey,
        backendID: String
    ) -> Result<AdminState, DecisionStoreError> {
        let current = decided.withLock { $0 }
        let after: AdminState
        do {
            after = try store.record(decision, for: key, decided: current)
        } catch {
            logger.error(
                "an operator decision could not be made durable; it was refused",
                metadata: [
                    "service": "\(key)", "error": "\(error)",
                ])
            return .failure(error)
        }
        decided.withLock { $0[key] = after.isDefault ? nil : after }
        if supervisors.snapshot().backend(id: backendID)?.adminState != after {
            // A backend removed by a reload meanwhile gets the decision when it comes back.
            _ = try? supervisors.setServiceStatus(id: backendID, to: after)
        }
        return .success(after)
    }
}
