import Foundation
import Logging
import VolumeAPI

/// One plain line per event on stderr, backend first, so `journalctl` and `grep nfs-gold` read well:
/// `2026-11-26T14:30:00.123Z warning [nfs-gold] driver initialization failed kind=backend_unavailable ...`.
package struct PlainLogHandler: LogHandler {
    package var metadata: Logger.Metadata = [:]
    private let label: String
    /// Where the level lives when it can change at run time (`volumed serve`'s set-log).
    private let levels: LogLevelRegistry?
    private var fixedLevel: Logger.Level
    private static let lock = NSLock()

    package init(label: String, level: Logger.Level) {
        self.label = label
        self.fixedLevel = level
        self.levels = nil
    }

    /// A handler whose level is `levels`' level for `label`, read at each log call.
    package init(label: String, levels: LogLevelRegistry) {
        self.label = label
        self.fixedLevel = .info
        self.levels = levels
        levels.register(label: label)
    }

    /// With a registry, setting it sets the registry's level for this label (and labels under it).
    package var logLevel: Logger.Level {
        get { levels?.level(for: label) ?? fixedLevel }
        set {
            if let levels { levels.set(prefix: label, level: newValue) } else { fixedLevel = newValue }
        }
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var merged = self.metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        if let error = event.error { merged["error"] = "\(error)" }
        let line = Self.line(
            timestamp: Self.timestamp(), level: event.level, message: "\(event.message)",
            metadata: merged, label: label)
        Self.lock.lock()
        FileHandle.standardError.write(Data(line.utf8))
        Self.lock.unlock()
    }

    /// One event as the line written (with its newline).
    package static func line(
        timestamp: String, level: Logger.Level, message: String, metadata: Logger.Metadata,
        label: String
    ) -> String {
        var merged = metadata
        var line = "\(timestamp) \(level.rawValue)"
        if let backend = merged.removeValue(forKey: "backend") { line += " [\(singleLine("\(backend)"))]" }
        line += " \(singleLine(message))"
        for key in ordered(merged.keys) {
            let value = singleLine("\(merged[key]!)")
            let needsQuotes = value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" })
            line += " \(key)=" + (needsQuotes ? "\"\(value.replacingOccurrences(of: "\"", with: "\\\""))\"" : value)
        }
        line += " (\(label))\n"
        return line
    }

    /// Keys that read as a sentence when they come first (`from=retrying to=ready reason=...`);
    /// the rest follow in alphabetical order.
    static let leadingKeys = ["from", "to", "reason"]

    static func ordered(_ keys: some Collection<String>) -> [String] {
        leadingKeys.filter(keys.contains) + keys.filter { !leadingKeys.contains($0) }.sorted()
    }

    /// An event is one line, whatever a driver's error text holds: line breaks and other control
    /// characters are written as escapes (`\n`, `\t`, `\u{1B}`), so `grep` and log shippers never
    /// see half an event.
    static func singleLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                escaped += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1,
            parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, Int(now.tv_nsec / 1_000_000))
    }
}
