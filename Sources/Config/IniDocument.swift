/// One `key = value` assignment as written in the file. It keeps its place in the file so that a
/// driver factory typing it later can still point at the line, and the directory of that file so
/// a relative path in it means the same thing no matter where the service was started.
package struct ConfigValue: Sendable, Hashable {
    /// The section it was read from, normalized as oslo.config does (`DEFAULT`, otherwise lower case).
    package var section: String
    package var option: String
    /// The value: surrounding whitespace and one pair of matching quotes removed, continuation
    /// lines joined with `\n`, nothing interpolated.
    package var text: String
    package var location: SourceLocation
    /// The directory relative paths in this value are resolved against (the file's directory).
    package var baseDirectory: String

    package init(section: String, option: String, text: String, location: SourceLocation, baseDirectory: String) {
        self.section = section
        self.option = option
        self.text = text
        self.location = location
        self.baseDirectory = baseDirectory
    }

    /// `option` for `[DEFAULT]`, `section.option` elsewhere, as messages name it.
    package var subject: String { ConfigDiagnostic.subject(section: section, option: option) }

    /// A diagnostic about this value at its line.
    package func problem(_ message: String) -> ConfigDiagnostic {
        ConfigDiagnostic(at: location, subject: subject, message: message)
    }
}

/// One section of the file with its options; repeated headers of the same section are merged.
package struct IniSection: Sendable {
    /// Normalized name (`DEFAULT` kept, every other name lower-cased, as oslo.config groups are).
    package var name: String
    /// Where the section's first header is.
    package var header: SourceLocation
    /// Options by key; keys are case-sensitive as in oslo.config; the last assignment wins.
    package var values: [String: ConfigValue]
    /// Keys in the order they first appeared, for stable warnings.
    package var keys: [String]
}

/// A malformed line, attributed to the section it appeared in (nil: before any section header) so
/// the loader can decide whose problem it is: the service's, one backend's, or nobody's.
package struct SyntaxProblem: Sendable, Hashable {
    package var section: String?
    package var diagnostic: ConfigDiagnostic
}

/// An INI file read the way oslo.config's `iniparser` reads cinder.conf: `[section]` headers,
/// `key = value` or `key: value` (whichever separator comes first), whole-line `#` and `;`
/// comments (no inline comments: `a = b # c` has the value `b # c`), indented lines continuing
/// the previous value until a blank line, matching quotes around a value removed, no interpolation.
/// Unlike oslo.config it does not stop at the first malformed line: it records each one and goes on,
/// so one run of `check-config` lists every problem.
package struct IniDocument: Sendable {
    /// The section every service-wide option lives in.
    package static let defaultSection = "DEFAULT"

    package var fileName: String
    package var sections: [String: IniSection] = [:]
    /// Section names in the order they first appeared.
    package var sectionOrder: [String] = []
    package var syntaxProblems: [SyntaxProblem] = []

    /// `syntaxProblems` of section `name` (nil: before any header), in file order, without scanning
    /// them all for each section.
    package func syntaxProblems(in name: String?) -> [SyntaxProblem] {
        syntaxProblemsBySection[name ?? ""] ?? []
    }

    /// `syntaxProblems` by section ("" for lines before any header); kept by the parser.
    var syntaxProblemsBySection: [String: [SyntaxProblem]] = [:]
    /// Options set twice in one section (the later value is used), as warnings.
    package var repeatedOptions: [ConfigDiagnostic] = []

    /// oslo.config's group-name rule: `DEFAULT` stays, every other name is case-insensitive.
    package static func normalizedSectionName(_ name: String) -> String {
        name == defaultSection ? name : name.lowercased()
    }

    package init(fileName: String) {
        self.fileName = fileName
    }

    /// Parses `text`; never fails: malformed lines end up in `syntaxProblems`.
    package static func parse(text: String, fileName: String, baseDirectory: String) -> IniDocument {
        var parser = Parser(document: IniDocument(fileName: fileName), baseDirectory: baseDirectory)
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var lineNumber = 0
        for rawLine in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            parser.consume(line: String(decoding: rawLine, as: UTF8.self), number: lineNumber)
        }
        parser.flush()
        return parser.document
    }
}

private struct PendingAssignment {
    var key: String
    var parts: [String]
    var location: SourceLocation
}

private struct Parser {
    var document: IniDocument
    let baseDirectory: String
    var currentSection: String?
    var pending: PendingAssignment?

    init(document: IniDocument, baseDirectory: String) {
        self.document = document
        self.baseDirectory = baseDirectory
    }

    mutating func consume(line raw: String, number: Int) {
        let line = raw.trimmingTrailingWhitespace()
        let location = SourceLocation(fileName: document.fileName, line: number)
        if line.isEmpty {
            flush()  // a blank line ends a multi-line value
            return
        }
        if line.first == " " || line.first == "\t" {
            if pending != nil {
                pending!.parts.append(line.trimmingLeadingWhitespace())
            } else {
                syntaxError(at: location, "indented line continues no option (unexpected continuation line)")
            }
            return
        }
        flush()
        if line.first == "[" {
            openSection(line, at: location)
        } else if line.first == "#" || line.first == ";" {
            return
        } else {
            startAssignment(line, at: location)
        }
    }

    mutating func openSection(_ line: String, at location: SourceLocation) {
        guard line.last == "]" else {
            syntaxError(at: location, "section header is missing its closing ']'")
            return
        }
        let name = String(line.dropFirst().dropLast()).trimmingLeadingWhitespace().trimmingTrailingWhitespace()
        guard !name.isEmpty else {
            syntaxError(at: location, "section header has no name")
            return
        }
        let normalized = IniDocument.normalizedSectionName(name)
        currentSection = normalized
        if document.sections[normalized] == nil {
            document.sections[normalized] = IniSection(name: normalized, header: location, values: [:], keys: [])
            document.sectionOrder.append(normalized)
        }
    }

    mutating func startAssignment(_ line: String, at location: SourceLocation) {
        let colon = line.firstIndex(of: ":")
        let equal = line.firstIndex(of: "=")
        let separator: String.Index
        switch (colon, equal) {
        case (nil, nil):
            syntaxError(at: location, "expected 'option = value', got \"\(line)\"")
            return
        case (let c?, nil): separator = c
        case (nil, let e?): separator = e
        case (let c?, let e?): separator = min(c, e)
        }
        let key = String(line[..<separator]).trimmingTrailingWhitespace()
        guard !key.isEmpty else {
            syntaxError(at: location, "option name is empty in \"\(line)\"")
            return
        }
        guard currentSection != nil else {
            syntaxError(at: location, "option \"\(key)\" appears before any [section] header; put it under [DEFAULT]")
            return
        }
        var value = String(line[line.index(after: separator)...]).trimmingLeadingWhitespace()
            .trimmingTrailingWhitespace()
        if let first = value.first, first == "\"" || first == "'", value.last == first {
            value = String(value.dropFirst().dropLast())
        }
        pending = PendingAssignment(key: key, parts: [value], location: location)
    }

    mutating func flush() {
        guard let assignment = pending, let sectionName = currentSection else { return }
        pending = nil
        let value = ConfigValue(
            section: sectionName, option: assignment.key,
            text: assignment.parts.joined(separator: "\n"),
            location: assignment.location, baseDirectory: baseDirectory)
        // Mutated in place through the dictionary: copying the section out and back in copied all of
        // its values for every option (quadratic: 40,000 options took 50 s).
        if let earlier = document.sections[sectionName]!.values[assignment.key] {
            document.repeatedOptions.append(
                value.problem(
                    "set again; this value replaces the one on line \(earlier.location.line)"))
        } else {
            document.sections[sectionName]!.keys.append(assignment.key)
        }
        document.sections[sectionName]!.values[assignment.key] = value
    }

    mutating func syntaxError(at location: SourceLocation, _ message: String) {
        let problem = SyntaxProblem(
            section: currentSection, diagnostic: ConfigDiagnostic(at: location, subject: nil, message: message))
        document.syntaxProblems.append(problem)
        document.syntaxProblemsBySection[currentSection ?? "", default: []].append(problem)
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var scalars = Substring(self).unicodeScalars
        while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }

    func trimmingLeadingWhitespace() -> String {
        var scalars = Substring(self).unicodeScalars
        while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
        return String(scalars)
    }

    func trimmingWhitespace() -> String { trimmingLeadingWhitespace().trimmingTrailingWhitespace() }
}
