// libFuzzer entry for the configuration path: INI parsing (sections, continuation lines, quotes,
// comments), typing of every [DEFAULT] option and backend section, diagnostics, reload diffs.
//
// Checks beyond "never crashes":
// - the same text with CRLF line endings reads the same (same sections, values and diagnostics);
// - every diagnostic points at a line that exists;
// - a configuration compared with itself, or with its CRLF twin, is an empty reload diff;
// - typed values are in range (ports, counts, finite positive durations).

/// Nothing the fuzzer writes may name a real file: relative paths resolve under a directory that
/// does not exist.
let baseDirectory = "/nonexistent/volumed-fuzz"

func fail(_ message: String) -> Never {
    fatalError("invariant violated: \(message)")
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fail(message()) }
}

/// Sections, values and diagnostics as comparable text (line numbers included).
func summary(_ document: IniDocument) -> [String] {
    var lines: [String] = []
    for name in document.sectionOrder {
        guard let section = document.sections[name] else { fail("section \(name) in the order but not the map") }
        check(section.keys.count == section.values.count, "section \(name): \(section.keys.count) keys, \(section.values.count) values")
        lines.append("[\(name)] @\(section.header.line)")
        for key in section.keys {
            guard let value = section.values[key] else { fail("key \(key) listed but missing") }
            lines.append("\(key)=\(value.text.debugDescription) @\(value.location.line)")
        }
    }
    lines += document.syntaxProblems.map { "syntax \($0.section ?? "-"): \($0.diagnostic)" }
    lines += document.repeatedOptions.map { "repeated: \($0)" }
    return lines
}

func summary(_ configuration: ServiceConfiguration) -> [String] {
    var lines = configuration.problems.map { "problem: \($0)" } + configuration.warnings.map { "warning: \($0)" }
    lines.append("service: \(configuration.service)")
    for backend in configuration.backends {
        lines.append("backend \(backend.name): driver=\(backend.volumeDriver?.text ?? "-") "
            + "count=\(backend.reinitDriverCount) options=\(backend.driverOptions.keys.sorted())")
        lines += backend.problems.map { "  \($0)" }
    }
    return lines
}

func checkRanges(_ configuration: ServiceConfiguration, lineCount: Int) {
    for diagnostic in configuration.allProblems + configuration.warnings {
        if let line = diagnostic.line {
            check(line >= 1 && line <= lineCount, "a diagnostic on line \(line) of \(lineCount): \(diagnostic)")
        }
    }
    let service = configuration.service
    check((0...65535).contains(service.osapiVolumeListenPort) && (0...65535).contains(service.schedulerListenPort),
          "a port out of range")
    check(service.reinitDriverCount >= 0, "reinit_driver_count \(service.reinitDriverCount)")
    for duration in [service.reinitBackoffMax, service.backendStatsPollingInterval, service.serviceDownTime,
                     service.driverInitTimeout, service.driverStatsTimeout, service.schedulerTimeout,
                     service.schedulerConnectTimeout, service.http.headerTimeout, service.http.bodyTimeout,
                     service.http.keepaliveTimeout, service.http.writeTimeout] {
        check(duration.isFinite && duration > 0, "a duration of \(duration) seconds")
    }
    check(service.http.maxHeaderBytes >= 1024 && service.http.maxHeaders >= 1 && service.http.maxBodyBytes >= 0
          && service.http.maxConnections >= 1 && service.http.maxPipelinedRequests >= 1, "an HTTP limit out of range")
    check(Set(service.enabledBackends).count == service.enabledBackends.count, "a backend enabled twice")
    check(configuration.backends.map(\.name) == service.enabledBackends, "backends differ from enabled_backends")
    for backend in configuration.backends {
        check(backend.reinitDriverCount >= 0, "backend reinit_driver_count \(backend.reinitDriverCount)")
        for duration in [backend.reinitBackoffMax, backend.driverInitTimeout, backend.driverStatsTimeout] {
            check(duration.isFinite && duration > 0, "a backend duration of \(duration) seconds")
        }
        check(!backend.volumeBackendName.isEmpty, "an empty volume_backend_name")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    // The loader reads files as UTF-8 only; invalid input is still fed (decoded with replacement)
    // so the parser sees every shape of line.
    let text = String(decoding: bytes, as: UTF8.self)
    // admin_token_file reads the file it names: the fuzzer must not make it read /dev/zero.
    if text.contains("admin_token_file") { return 0 }

    let document = IniDocument.parse(text: text, fileName: "fuzz.conf", baseDirectory: baseDirectory)
    let configuration = ConfigFile.inspect(text: text, fileName: "fuzz.conf", baseDirectory: baseDirectory)
    let lineCount = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count
    checkRanges(configuration, lineCount: lineCount)
    _ = configuration.allProblems.map(\.description)
    check(ConfigDiff(from: configuration, to: configuration).isEmpty, "a configuration differs from itself")

    // CRLF line endings read exactly like LF ones.
    var crlfBytes: [UInt8] = []
    crlfBytes.reserveCapacity(bytes.count * 2)
    for byte in Array(text.utf8) {
        if byte == 10 { crlfBytes.append(13) }
        crlfBytes.append(byte)
    }
    let crlfText = String(decoding: crlfBytes, as: UTF8.self)
    let crlfDocument = IniDocument.parse(text: crlfText, fileName: "fuzz.conf", baseDirectory: baseDirectory)
    let lfSummary = summary(document), crlfSummary = summary(crlfDocument)
    check(lfSummary == crlfSummary, "CRLF reads differently:\n  LF:   \(lfSummary)\n  CRLF: \(crlfSummary)")
    let crlfConfiguration = ConfigFile.inspect(text: crlfText, fileName: "fuzz.conf", baseDirectory: baseDirectory)
    check(summary(configuration) == summary(crlfConfiguration), "CRLF types differently:\n  LF:   \(summary(configuration))\n  CRLF: \(summary(crlfConfiguration))")
    check(ConfigDiff(from: configuration, to: crlfConfiguration).isEmpty, "the CRLF twin is a reload change")
    return 0
}
