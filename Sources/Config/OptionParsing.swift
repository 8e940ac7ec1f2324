import Foundation
import NetworkAddress

/// Typing of raw values, shared by the service options and the driver factory so that every bad
/// value anywhere in the file produces the same kind of message, naming file, line and option.
extension ConfigValue {
    private var trimmed: String { text.trimmingWhitespace() }

    /// A string that must not be empty.
    package func nonEmptyString() throws(ConfigDiagnostic) -> String {
        let value = trimmed
        guard !value.isEmpty else { throw problem("must not be empty") }
        return value
    }

    /// A whole number within bounds (oslo.config's `IntOpt` with `min`/`max`).
    package func wholeNumber(atLeast minimum: Int, atMost maximum: Int? = nil) throws(ConfigDiagnostic) -> Int {
        let value = trimmed
        let range = maximum.map { "\(minimum)-\($0)" } ?? ">= \(minimum)"
        let expectation = maximum == nil ? "a whole number \(range)" : "a whole number in \(range)"
        guard let number = Int(value.hasPrefix("+") ? String(value.dropFirst()) : value),
            number >= minimum, maximum.map({ number <= $0 }) ?? true
        else {
            throw problem("expected \(expectation), got \"\(text)\"")
        }
        return number
    }

    /// A number (fractions allowed) above zero, or at least zero when `allowZero`.
    package func number(
        allowZero: Bool = false, atMost maximum: Double? = nil,
        unit: String = ""
    ) throws(ConfigDiagnostic) -> Double {
        let noun = unit.isEmpty ? "a number" : "a number of \(unit)"
        let bound = allowZero ? ">= 0" : "> 0"
        let limit = maximum.map { " and <= \(Self.format($0))" } ?? ""
        guard let number = Double(trimmed), number.isFinite,
            allowZero ? number >= 0 : number > 0, maximum.map({ number <= $0 }) ?? true
        else {
            throw problem("expected \(noun) \(bound)\(limit), got \"\(text)\"")
        }
        return number
    }

    /// A duration in seconds above zero (fractions allowed).
    package func seconds() throws(ConfigDiagnostic) -> Double {
        try number(unit: "seconds")
    }

    /// A boolean as oslo.config accepts it: true/false, yes/no, on/off, 1/0, in any case.
    package func bool() throws(ConfigDiagnostic) -> Bool {
        switch trimmed.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw problem("expected a boolean (true/false, yes/no, on/off, 1/0), got \"\(text)\"")
        }
    }

    /// A TCP port; 0 asks the system for a free one (useful in tests).
    package func port() throws(ConfigDiagnostic) -> Int {
        guard let number = Int(trimmed), (0...65535).contains(number) else {
            throw problem("expected a port number 0-65535, got \"\(text)\"")
        }
        return number
    }

    /// A comma-separated list (oslo.config's `ListOpt`); items are trimmed and empty items dropped.
    package func list() -> [String] {
        text.split(separator: ",", omittingEmptySubsequences: true)
            .map { String($0).trimmingWhitespace() }
            .filter { !$0.isEmpty }
    }

    /// One of a fixed set of words (oslo.config's `choices`), compared case-sensitively.
    package func choice(_ choices: [String]) throws(ConfigDiagnostic) -> String {
        let value = trimmed
        guard choices.contains(value) else {
            throw problem("expected one of \(choices.joined(separator: ", ")), got \"\(text)\"")
        }
        return value
    }

    /// An address to listen on: an IPv4 or IPv6 literal or a host name (resolved when the server
    /// binds, as Cinder's `HostAddressOpt`), by the same rule the server applies.
    package func listenHost() throws(ConfigDiagnostic) -> String {
        let value = trimmed
        guard let host = ListenHost(value) else {
            throw problem("expected an IP address or host name, got \"\(text)\"")
        }
        return host.text
    }

    /// An `http://` or `https://` URL with a host; trailing slashes removed so paths can be appended.
    package func httpURL() throws(ConfigDiagnostic) -> String {
        var value = trimmed
        guard let components = URLComponents(string: value),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil
        else {
            throw problem("expected an http:// or https:// URL with a host and no query, got \"\(text)\"")
        }
        while value.hasSuffix("/") { value.removeLast() }
        return value
    }

    /// A file system path; a relative one is taken relative to the directory of the file it is
    /// written in, not the service's working directory.
    package func path() throws(ConfigDiagnostic) -> String {
        let value = try nonEmptyString()
        return Self.resolve(path: value, against: baseDirectory)
    }

    static func resolve(path: String, against base: String) -> String {
        if path.hasPrefix("/") { return path }
        let joined = base.hasSuffix("/") ? base + path : base + "/" + path
        return URL(fileURLWithPath: joined).standardizedFileURL.path
    }

    static func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number)
    }
}
