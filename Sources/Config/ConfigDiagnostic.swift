/// Where a value was written, so every message can point the operator at the exact line to fix.
package struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// The file name as the operator gave it (shown in messages).
    package var fileName: String
    /// 1-based line number.
    package var line: Int

    package init(fileName: String, line: Int) {
        self.fileName = fileName
        self.line = line
    }

    package var description: String { "\(fileName):\(line)" }
}

/// One problem or warning found in a configuration file, printed as
/// `volumed.conf:12: reinit_driver_count: expected a whole number >= 0, got "three"` so that
/// `volumed check-config` and the logs read like a compiler's diagnostics.
package struct ConfigDiagnostic: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file the problem is in.
    package var fileName: String
    /// The line, or nil when the problem concerns the whole file (e.g. it cannot be read).
    package var line: Int?
    /// The option concerned: a bare name for `[DEFAULT]`, `section.option` elsewhere; nil for a
    /// problem that is not about one option (e.g. a malformed line).
    package var subject: String?
    package var message: String

    package init(fileName: String, line: Int?, subject: String?, message: String) {
        self.fileName = fileName
        self.line = line
        self.subject = subject
        self.message = message
    }

    package init(at location: SourceLocation, subject: String?, message: String) {
        self.init(fileName: location.fileName, line: location.line, subject: subject, message: message)
    }

    package var location: SourceLocation? {
        line.map { SourceLocation(fileName: fileName, line: $0) }
    }

    /// One line, always: a multi-line value quoted in a message shows its line breaks as `\n`, so
    /// each diagnostic stays one line of `check-config` output and one log line.
    package var description: String {
        var text = fileName
        if let line { text += ":\(line)" }
        if let subject { text += ": \(subject)" }
        return Self.singleLine(text + ": " + message)
    }

    static func singleLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" }) else { return text }
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": escaped.append(contentsOf: #"\n"#.unicodeScalars)
            case "\r": escaped.append(contentsOf: #"\r"#.unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    /// The name used in messages for an option of a section: oslo.config's `group.option`, with
    /// `[DEFAULT]` options left bare as operators write them.
    package static func subject(section: String, option: String) -> String {
        section == IniDocument.defaultSection ? option : "\(section).\(option)"
    }
}

/// The fatal outcome of loading a configuration: the file could not be read or its `[DEFAULT]`
/// section is broken, so the service must not start (the command exits 2). It lists every problem
/// found, not just the first, so one edit-and-retry cycle fixes them all.
package struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    package var problems: [ConfigDiagnostic]

    package init(problems: [ConfigDiagnostic]) {
        self.problems = problems
    }

    package var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
