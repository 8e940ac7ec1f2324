// volumed's own log levels, changeable at run time (Cinder's os-services set-log/get-log).

import Logging
import Synchronization

/// The level of every logger of the process, by label prefix, changeable while it runs. A logger
/// labelled `volumed.api` logs at the level set for the longest prefix of its label
/// (`volumed.api`, then `volumed`, ...), or at the start-up level. Setting a prefix replaces what
/// was set for longer prefixes under it, as Cinder's `set_log_levels` sets every logger whose name
/// starts with the prefix. The log handler asks for its label's level on each call, so a change
/// takes effect at once in every thread; that read is a lock and a dictionary lookup.
package final class LogLevelRegistry: Sendable {
    private struct State {
        var startLevel: Logger.Level
        /// Levels an operator set, by prefix ("" for every logger).
        var overrides: [String: Logger.Level] = [:]
        /// Every label a logger was made with, so get-log can list them.
        var labels: Set<String> = []
        /// The resolved level per label, cleared on every change.
        var resolved: [String: Logger.Level] = [:]
    }

    private let state: Mutex<State>
    private let changes = Atomic<UInt64>(0)

    package init(startLevel: Logger.Level) {
        state = Mutex(State(startLevel: startLevel))
    }

    /// Notes a logger's label (the logging system's factory calls this).
    package func register(label: String) {
        state.withLock { _ = $0.labels.insert(label) }
    }

    /// The level a logger labelled `label` logs at now.
    package func level(for label: String) -> Logger.Level {
        state.withLock { state in
            if let level = state.resolved[label] { return level }
            let level = Self.resolve(label, in: state)
            state.resolved[label] = level
            return level
        }
    }

    /// Sets `prefix` and every label under it to `level` (`""`: every logger).
    package func set(prefix: String, level: Logger.Level) {
        state.withLock { state in
            state.overrides = state.overrides.filter { !$0.key.hasPrefix(prefix) }
            state.overrides[prefix] = level
            state.resolved = [:]
            changes.add(1, ordering: .releasing)
        }
    }

    /// How many times a level was set: a caller may keep a level it read until this changes (the
    /// access log checks its level per request this way, without the lock).
    package var generation: UInt64 { changes.load(ordering: .acquiring) }

    /// Each known label starting with `prefix` (or equal to it) and its level, sorted by label.
    package func levels(prefix: String) -> [(label: String, level: Logger.Level)] {
        state.withLock { state in
            state.labels.filter { $0.hasPrefix(prefix) }.sorted().map { ($0, Self.resolve($0, in: state)) }
        }
    }

    /// The override of the longest prefix of `label` (a plain string prefix, as Python's
    /// `name.startswith(prefix)`), or the start-up level.
    private static func resolve(_ label: String, in state: State) -> Logger.Level {
        var best: (length: Int, level: Logger.Level)?
        for (prefix, level) in state.overrides where label.hasPrefix(prefix) {
            if best == nil || prefix.utf8.count > best!.length { best = (prefix.utf8.count, level) }
        }
        return best?.level ?? state.startLevel
    }

    /// Cinder's level names (`DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL`) plus swift-log's
    /// `TRACE` and `NOTICE`, case-insensitive; nil for anything else.
    package static func level(named name: String) -> Logger.Level? {
        switch name.uppercased() {
        case "TRACE": return .trace
        case "DEBUG": return .debug
        case "INFO": return .info
        case "NOTICE": return .notice
        case "WARNING", "WARN": return .warning
        case "ERROR": return .error
        case "CRITICAL", "FATAL": return .critical
        default: return nil
        }
    }

    /// The name get-log shows for `level`, as Python's logging names it.
    package static func name(of level: Logger.Level) -> String {
        level.rawValue.uppercased()
    }
}
