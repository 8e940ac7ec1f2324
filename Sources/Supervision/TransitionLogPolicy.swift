import Foundation
import Logging

/// How loudly each state transition of one backend is logged.
///
/// A backend whose storage stays missing with `reinit_driver_count = 0` fails the same way for hours;
/// at one line per attempt it would bury every other line. So a failure is a warning the first time
/// its kind and message are seen, then debug, except every `repeatEvery`-th repeat, which is a
/// warning again and says how many times it repeated. The start of an automatic attempt is debug
/// (the line before it already said when it would come). Ready, exhausted and failed are always logged.
struct TransitionLogPolicy: Sendable {
    static let repeatEvery = 10

    private var lastFailure: (kind: ErrorKind, message: String)?
    private var repeats = 0

    /// The level of `transition`'s line and, for a repeated failure, how many times it repeated.
    mutating func level(for transition: StateTransition, lastError: ErrorRecord?) -> (
        level: Logger.Level, repeats: Int?
    ) {
        switch transition.to {
        case .initializing:
            return (transition.from == .retrying ? .debug : .info, nil)
        case .ready:
            lastFailure = nil
            repeats = 0
            return (.info, nil)
        case .exhausted, .failed:
            lastFailure = nil
            repeats = 0
            return (.error, nil)
        case .retrying:
            guard let error = lastError else { return (.warning, nil) }
            if let last = lastFailure, last.kind == error.kind, last.message == error.message {
                repeats += 1
                return (repeats % Self.repeatEvery == 0 ? .warning : .debug, repeats)
            }
            lastFailure = (error.kind, error.message)
            repeats = 0
            return (.warning, nil)
        }
    }

    /// One log line per state transition: which backend, which change, why, which error class and
    /// kind, when the next attempt is, and what an operator can do when nothing more happens by itself.
    static func log(
        _ transition: StateTransition, of snapshot: BackendSnapshot, level: Logger.Level, repeats: Int?,
        to logger: Logger
    ) {
        var metadata: Logger.Metadata = [
            "backend": "\(snapshot.id)",
            "from": "\(transition.from?.rawValue ?? "none")",
            "to": "\(transition.to.rawValue)",
            "reason": "\(transition.reason)",
        ]
        switch transition.to {
        case .initializing, .ready:
            break
        case .retrying, .exhausted, .failed:
            if let error = snapshot.lastError {
                metadata["error_class"] = "\(error.errorClass.rawValue)"
                metadata["error_kind"] = "\(error.kind.rawValue)"
            }
            metadata["reinit_attempts"] = "\(snapshot.reinitAttempts)"
            metadata["reinit_driver_count"] = "\(snapshot.reinitLimit)"
            if let repeats { metadata["repeats"] = "\(repeats)" }
            if transition.to == .retrying, let next = snapshot.nextReinitAt {
                metadata["next_attempt"] = "\(next.ISO8601Format())"
            }
            if transition.to != .retrying {
                metadata["action"] =
                    "fix the cause, then POST /drivers/\(snapshot.id)/reinit (or correct the configuration and send SIGHUP)"
            }
        }
        logger.log(level: level, "driver state changed", metadata: metadata)
    }
}
