import Foundation

/// Everything one configuration file says: typed service options, one section per enabled backend
/// (each with its own problems), and the warnings. Fatal problems (unreadable file, broken
/// `[DEFAULT]`) are in `problems`; `ConfigFile.load` throws them, `ConfigFile.inspect` keeps them here
/// so `check-config` can also look at the backends of a file whose `[DEFAULT]` is broken.
package struct ServiceConfiguration: Sendable {
    /// The file name as given (used in every message).
    package var fileName: String
    /// The directory relative paths are resolved against (the file's directory).
    package var baseDirectory: String
    package var service: ServiceOptions
    /// One per name in `enabled_backends`, in that order; broken ones included.
    package var backends: [BackendSection]
    /// The raw `[backend_defaults]` values, for the driver factory's unknown-option warnings.
    package var backendDefaults: [String: ConfigValue]
    /// Things that do not stop anything but deserve a look: unknown options and sections,
    /// repeated options, duplicate backend names.
    package var warnings: [ConfigDiagnostic]
    /// Fatal problems; empty for a configuration returned by `ConfigFile.load`.
    package var problems: [ConfigDiagnostic]

    /// True for a file with no section header at all (empty, or only comments and blank lines).
    var isWithoutSections: Bool { sectionCount == 0 && problems.isEmpty }
    /// How many distinct sections the file has.
    var sectionCount = 0

    /// The section of backend `name`, if it is enabled.
    package func backend(named name: String) -> BackendSection? {
        if let index = backendIndex[name], index < backends.count, backends[index].name == name {
            return backends[index]
        }
        return backends.first { $0.name == name }
    }

    /// Positions in `backends` by name, so that looking each backend up is not quadratic (20,000
    /// backends); `backend(named:)` falls back to a scan if `backends` was edited since.
    var backendIndex: [String: Int] = [:]

    /// Every problem of the file at once: the fatal ones, then each backend's in `enabled_backends`
    /// order, each listed once (an inherited `[backend_defaults]` problem is not repeated per backend).
    package var allProblems: [ConfigDiagnostic] {
        var seen = Set<ConfigDiagnostic>()
        return (problems + backends.flatMap(\.problems)).filter { seen.insert($0).inserted }
    }
}

/// Loads cinder.conf-style files into a `ServiceConfiguration`.
package enum ConfigFile {
    /// Reads and types the file at `path`; throws when the service must not start (unreadable file,
    /// broken `[DEFAULT]`). Problems of single backends do not throw: they are in each
    /// `BackendSection.problems`.
    package static func load(path: String) throws(ConfigError) -> ServiceConfiguration {
        try checked(inspect(path: path))
    }

    /// Like `load(path:)` for text already in memory; `fileName` is what messages show and, unless
    /// `baseDirectory` is given, the directory of `fileName` anchors relative paths.
    package static func parse(
        text: String, fileName: String,
        baseDirectory: String? = nil
    ) throws(ConfigError) -> ServiceConfiguration {
        try checked(inspect(text: text, fileName: fileName, baseDirectory: baseDirectory))
    }

    /// Never throws: fatal problems are returned in `problems` (for `check-config`).
    package static func inspect(path: String) -> ServiceConfiguration {
        let base = directory(of: path)
        let bytes: [UInt8]
        do {
            bytes = try FileContents.read(path)
        } catch {
            return empty(
                fileName: path, baseDirectory: base,
                problem: ConfigDiagnostic(fileName: path, line: nil, subject: nil, message: unreadableReason(error)))
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return empty(fileName: path, baseDirectory: base, problem: notUTF8(Data(bytes), fileName: path))
        }
        let configuration = inspect(text: text, fileName: path, baseDirectory: base)
        if configuration.isWithoutSections {
            // oslo.config would start on defaults; with no backend and every default, an empty file
            // is far more likely a botched deployment than an intent.
            return empty(
                fileName: path, baseDirectory: base,
                problem: ConfigDiagnostic(
                    fileName: path, line: nil, subject: nil,
                    message:
                        "the file has no [section] (it is empty or only comments); write a [DEFAULT] section with enabled_backends"
                ))
        }
        return configuration
    }

    /// Why the file could not be read, and what to do about it.
    static func unreadableReason(_ failure: FileContents.Failure) -> String {
        switch failure {
        case .notRegular(kind: "a directory"):
            return "cannot read the file: it is a directory; give the path of the configuration file itself"
        case .system(_, let code) where code == EACCES:
            let user = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())"
            return
                "cannot read the file: \(String(cString: strerror(code))) (volumed runs as \(user); fix the file's owner or mode)"
        case .system(_, let code):
            return "cannot read the file: \(String(cString: strerror(code)))"
        default:
            return "cannot read the file: \(failure.reason)"
        }
    }

    /// Points at the line and column of the first byte that is not UTF-8.
    static func notUTF8(_ data: Data, fileName: String) -> ConfigDiagnostic {
        let bytes = [UInt8](data)
        var line = 1
        var lineStart = 0
        var index = 0
        while index < bytes.count {
            let length = utf8SequenceLength(bytes, at: index)
            guard length > 0 else { break }
            if bytes[index] == UInt8(ascii: "\n") {
                line += 1
                lineStart = index + 1
            }
            index += length
        }
        let detail =
            index < bytes.count
            ? "byte 0x\(String(bytes[index], radix: 16, uppercase: true)) at column \(index - lineStart + 1)"
            : "truncated at the end"
        return ConfigDiagnostic(
            fileName: fileName, line: line, subject: nil,
            message: "the file is not UTF-8 text (\(detail)); save it as UTF-8")
    }

    /// The length of the valid UTF-8 sequence starting at `index`, or 0 when it is not valid.
    private static func utf8SequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let first = bytes[index]
        let length: Int
        switch first {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return 0
        }
        guard index + length <= bytes.count else { return 0 }
        let sequence = Array(bytes[index..<(index + length)])
        return String(validating: sequence, as: UTF8.self) == nil ? 0 : length
    }

    /// Never throws: fatal problems are returned in `problems`.
    package static func inspect(text: String, fileName: String, baseDirectory: String? = nil) -> ServiceConfiguration {
        let base = baseDirectory ?? directory(of: fileName)
        let document = IniDocument.parse(text: text, fileName: fileName, baseDirectory: base)
        return Loader(document: document, baseDirectory: base).load()
    }

    private static func checked(_ configuration: ServiceConfiguration) throws(ConfigError) -> ServiceConfiguration {
        guard configuration.problems.isEmpty else { throw ConfigError(problems: configuration.problems) }
        return configuration
    }

    private static func empty(fileName: String, baseDirectory: String, problem: ConfigDiagnostic)
        -> ServiceConfiguration
    {
        ServiceConfiguration(
            fileName: fileName, baseDirectory: baseDirectory, service: ServiceOptions(), backends: [],
            backendDefaults: [:], warnings: [], problems: [problem])
    }

    /// The absolute directory holding `path`.
    static func directory(of path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let url = URL(fileURLWithPath: absolute).standardizedFileURL.deletingLastPathComponent()
        var directory = url.path
        while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
        return directory
    }
}

private struct Loader {
    let document: IniDocument
    let baseDirectory: String

    func load() -> ServiceConfiguration {
        var warnings = document.repeatedOptions
        var problems: [ConfigDiagnostic] = []

        // Malformed lines before any section or in [DEFAULT] break the service; in [backend_defaults]
        // or a backend's section they break those backends (BackendSection reads them); elsewhere
        // they are in a section nobody reads.
        for syntax in document.syntaxProblems {
            switch syntax.section {
            case nil, IniDocument.defaultSection?: problems.append(syntax.diagnostic)
            default: break
            }
        }

        var reader = SectionReader(section: document.sections[IniDocument.defaultSection])
        var service = ServiceOptions.read(&reader, warnings: &warnings)
        problems += reader.problems
        service.coordination = CoordinationOptions.read(document, problems: &problems, warnings: &warnings)
        for value in reader.unusedValues() {
            let hint =
                BackendSection.genericOptions.contains(value.option) || value.option.hasPrefix("volume_")
                ? "not used in [DEFAULT]: set it in a backend section or [backend_defaults]"
                : "unknown option, ignored"
                    + OptionSuggestion.hint(for: value.option, in: ServiceOptions.knownVocabulary)
            warnings.append(value.problem(hint))
        }

        let enabledValue = document.sections[IniDocument.defaultSection]?.values["enabled_backends"]
        let backends = service.enabledBackends.map {
            BackendSection.read(name: $0, document: document, service: service, enabledBackends: enabledValue)
        }
        if service.enabledBackends.isEmpty && problems.isEmpty {
            warnings.append(
                ConfigDiagnostic(
                    fileName: document.fileName, line: enabledValue?.location.line,
                    subject: "enabled_backends", message: "no backend is enabled; the service will run none"))
        }

        let used = Set(service.enabledBackends.map(IniDocument.normalizedSectionName))
            .union([IniDocument.defaultSection, BackendSection.sharedSectionName, CoordinationOptions.sectionName])
        for name in document.sectionOrder where !used.contains(name) {
            let section = document.sections[name]!
            warnings.append(
                ConfigDiagnostic(
                    at: section.header, subject: nil,
                    message: "section [\(name)] is not used (not listed in enabled_backends), ignored"))
            warnings += document.syntaxProblems(in: name).map(\.diagnostic)
        }

        var configuration = ServiceConfiguration(
            fileName: document.fileName, baseDirectory: baseDirectory, service: service, backends: backends,
            backendDefaults: document.sections[BackendSection.sharedSectionName]?.values ?? [:],
            warnings: warnings, problems: problems)
        configuration.sectionCount = document.sectionOrder.count
        configuration.backendIndex = Dictionary(
            backends.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        return configuration
    }
}
