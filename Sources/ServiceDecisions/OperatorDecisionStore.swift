import Supervision

#if canImport(Glibc)
    import Glibc
#endif

/// Where operator decisions are kept so that they outlive the process: a local state file in
/// single-host mode, etcd in cluster mode. `OperatorDecisions` calls it from one writer thread, one
/// call at a time.
package protocol OperatorDecisionStore: Sendable {
    /// Where the decisions live, as messages name it (a path, a URL).
    var location: String { get }

    /// Every saved decision, read once at start-up; services with no entry have the default
    /// status. `host` is this node's `host`, for stores written before decisions had service keys.
    func load(host: String) throws(DecisionStoreError) -> [ServiceKey: AdminState]

    /// Start-up's check that a later decision can be kept, so a problem stops start-up instead of
    /// failing the first `disable`.
    func checkWritable() throws(DecisionStoreError)

    /// Makes `status` of `key` durable. `all` is every decision including this one (services with
    /// the default status left out). Returns only once the decision survives a crash or power loss;
    /// throws when it does not, with nothing changed unless the error says otherwise.
    func commit(_ status: AdminState, for key: ServiceKey, all: [ServiceKey: AdminState])
        throws(DecisionStoreError)

    /// Makes `decision` about `key` durable and returns the status in force once it is. `decided` is
    /// every decision this node holds. A store that is the only writer applies the decision to
    /// `decided[key]` (the default); a store other processes also write (etcd) applies it to what it
    /// holds itself, atomically.
    func record(_ decision: OperatorDecision, for key: ServiceKey, decided: [ServiceKey: AdminState])
        throws(DecisionStoreError) -> AdminState
}

extension OperatorDecisionStore {
    /// The only writer's way: apply to `decided[key]`, and commit only when that changes something.
    package func record(_ decision: OperatorDecision, for key: ServiceKey, decided: [ServiceKey: AdminState])
        throws(DecisionStoreError) -> AdminState
    {
        let before = decided[key] ?? AdminState()
        let after = decision.applied(to: before)
        guard after != before else { return after }
        var next = decided
        next[key] = after.isDefault ? nil : after
        try commit(after, for: key, all: next)
        return after
    }
}

/// Why operator decisions could not be read or kept. Callers switch on it: a `notDurable` decision
/// is answered 503 and not applied; any error at start-up stops it.
package enum DecisionStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A system call failed (`operation` says which, `errno` why); nothing was changed.
    case system(path: String, operation: String, errno: Int32)
    /// The new state was written but the directory entry could not be synced: it is not applied now
    /// and may or may not be in force after a restart.
    case unconfirmed(path: String, errno: Int32)
    /// The file is of a kind volumed will not read or replace (a symbolic link, a directory...).
    case unsafeFile(path: String, reason: String)
    /// The store's place (`state_path`) cannot be created or used.
    case unusableLocation(option: String, reason: String)
    /// The file was written by a format this volumed does not understand.
    case unsupportedVersion(path: String, found: String, understood: [Int])
    /// The file is not a state file volumed could have written.
    case malformed(path: String, reason: String)
    /// The cluster's store (etcd) did not take the decision: unreachable, without quorum, or
    /// written by others faster than this decision could be applied. Nothing was changed.
    case clusterRefused(reason: String)
    /// The cluster's store got the write but no answer came back, and reading it back did not tell:
    /// it may or may not be in force.
    case clusterUncertain(reason: String)

    /// Whether the failure left every decision as it was (so a 503 can say "nothing was changed").
    package var nothingChanged: Bool {
        switch self {
        case .unconfirmed, .clusterUncertain: return false
        default: return true
        }
    }

    package var description: String {
        switch self {
        case .system(let path, let operation, let code):
            return "\(path): \(operation): \(Self.text(code))"
        case .unconfirmed(let path, let code):
            return "\(path) was replaced but its directory could not be synced: \(Self.text(code))"
        case .unsafeFile(let path, let reason):
            return "\(path): \(reason)"
        case .unusableLocation(let option, let reason):
            return "\(option): \(reason)"
        case .unsupportedVersion(let path, let found, let understood):
            let versions = understood.map(String.init).joined(separator: " and ")
            return
                "\(path) has \"version\": \(found), which this volumed does not understand (it reads version \(versions)); "
                + "it was written by another volumed release: run that release, or move the file away to start with every service enabled"
        case .malformed(let path, let reason):
            return
                "\(path) is not a volumed state file (\(reason)); repair it, or remove it to start with every service enabled"
        case .clusterRefused(let reason):
            return "etcd did not store it: \(reason)"
        case .clusterUncertain(let reason):
            return "etcd got it but did not confirm it: \(reason)"
        }
    }

    /// `strerror` of a code captured right after the failing call (never the `errno` of later calls).
    static func text(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
