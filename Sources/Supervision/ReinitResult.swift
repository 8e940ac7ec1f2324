/// The immediate answer to a manual re-initialization (`POST /drivers/{id}/reinit`).
package enum ReinitResult: String, Sendable, Equatable {
    /// A new initialization began now, with the attempt counter reset.
    case started
    /// No backend has this id.
    case notFound = "not_found"
    /// The backend is already initializing; nothing new was started.
    case alreadyRunning = "already_running"
    /// Supervision is not running (before `start()` or after `stop()`).
    case notRunning = "not_running"
}

/// How a wait for a manual re-initialization ended (`POST /drivers/{id}/reinit?wait=N`).
package enum ReinitWaitOutcome: Sendable, Equatable {
    /// The initialization finished (and, when it succeeded, the first stats collection too); the
    /// snapshot is the backend right after.
    case finished(BackendSnapshot)
    /// The wait ran out first; the snapshot is the backend at that moment (normally `initializing`).
    case timedOut(BackendSnapshot)
    /// There is no such backend, it was removed, or supervision is not running (or stopped) before
    /// the initialization finished.
    case removed
}
