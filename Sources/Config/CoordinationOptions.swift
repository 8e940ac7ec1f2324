import Foundation
import NetworkAddress

/// `[coordination]`: the etcd cluster that joins volumed hosts into one cluster, spelt as Cinder's
/// (tooz's) `backend_url`: `etcd3+http://h1:2379,h2:2379,h3:2379`, or `etcd3+https://...` with
/// tooz's query options `ca_cert`, `cert_cert` and `cert_key` (PEM files) and `timeout` (seconds per
/// request). Several comma-separated `host[:port]` endpoints (port 2379 when left out) are tried in
/// turn. An empty or absent `backend_url` keeps today's single-host behaviour.
package struct CoordinationOptions: Sendable, Equatable {
    package static let sectionName = "coordination"
    package static let defaultPort = 2379
    package static let defaultTimeout: Double = 5

    /// `backend_url` as written, for messages and reload diffs.
    package var backendURL: String
    /// One base URL per member, `http://host:port` or `https://host:port`, in the order written.
    package var endpoints: [String]
    /// `ca_cert`: the CAs that signed the members' certificates (absolute path).
    package var caFile: String?
    /// `cert_cert` and `cert_key`: the client certificate and key, when the members ask for one.
    package var certificateFile: String?
    package var keyFile: String?
    /// `timeout`: seconds one request to one member may take.
    package var timeout: Double
    /// `host_follows_cluster`: a `serve` host's in-process scheduler (its `get_pools`, its
    /// os-services list) follows every host's reports, records and decisions through a watch of the
    /// whole cluster, instead of only the host's own. Off by default: the watch costs each host
    /// CPU and etcd bandwidth that grow with hosts x backends (BENCHMARKS.md: 2.4 ms of CPU per
    /// backend per tick on such a host at 30 hosts, 7.8 ms at 100, against 0.2-0.3 ms without; with
    /// every host following, 100 hosts never converged); the cluster-wide view is the job of
    /// `volumed scheduler` processes.
    package var hostFollowsCluster = false

    package init(
        backendURL: String, endpoints: [String], caFile: String? = nil, certificateFile: String? = nil,
        keyFile: String? = nil, timeout: Double = CoordinationOptions.defaultTimeout
    ) {
        self.backendURL = backendURL
        self.endpoints = endpoints
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.timeout = timeout
    }

    /// Options the `[coordination]` section knows, for unknown-option warnings.
    static let knownOptions: Set<String> = ["backend_url", "host_follows_cluster"]
    static let queryOptions = ["ca_cert", "cert_cert", "cert_key", "timeout"]

    /// Reads `[coordination]`: nil when the section or `backend_url` is absent or empty. Problems
    /// (fatal: the service would otherwise start without the cluster it was told to join) go to
    /// `problems`, unknown options to `warnings`.
    static func read(
        _ document: IniDocument, problems: inout [ConfigDiagnostic], warnings: inout [ConfigDiagnostic]
    ) -> CoordinationOptions? {
        guard let section = document.sections[sectionName] else { return nil }
        problems += document.syntaxProblems(in: sectionName).map(\.diagnostic)
        var reader = SectionReader(section: section)
        var options: CoordinationOptions?
        reader.read("backend_url", into: &options) { v throws(ConfigDiagnostic) in try parse(v) }
        var follows = false
        reader.read("host_follows_cluster", into: &follows) { v throws(ConfigDiagnostic) in try v.bool() }
        if options != nil {
            options?.hostFollowsCluster = follows
        } else if follows, let value = reader.raw("host_follows_cluster") {
            warnings.append(value.problem("host_follows_cluster has no effect without backend_url (single-host mode)"))
        }
        problems += reader.problems
        for value in reader.unusedValues() {
            warnings.append(
                value.problem("unknown option, ignored" + OptionSuggestion.hint(for: value.option, in: knownOptions)))
        }
        return options
    }

    /// Types one `backend_url` value; nil for an empty one.
    static func parse(_ value: ConfigValue) throws(ConfigDiagnostic) -> CoordinationOptions? {
        let text = value.text.trimmingWhitespace()
        guard !text.isEmpty else { return nil }
        guard let schemeEnd = text.range(of: "://") else {
            throw value.problem(
                "expected etcd3+http://host:port[,host:port...] or etcd3+https://..., got \"\(value.text)\"")
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        let transport: String
        switch scheme {
        case "etcd3+http": transport = "http"
        case "etcd3+https": transport = "https"
        case "etcd3":
            throw value.problem(
                "etcd3:// is etcd's gRPC protocol, which volumed does not speak; use etcd3+http:// or etcd3+https:// (etcd's JSON gateway, same port)"
            )
        default:
            throw value.problem(
                "unsupported coordination backend \"\(scheme)\"; volumed coordinates through etcd: etcd3+http:// or etcd3+https://"
            )
        }
        var rest = text[schemeEnd.upperBound...]
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), !rest.contains("@"), !rest.contains("#") else {
            throw value.problem(
                "expected only host:port endpoints after \(scheme):// (no path, user or fragment), got \"\(value.text)\""
            )
        }
        var endpoints: [String] = []
        for item in rest.split(separator: ",", omittingEmptySubsequences: false) {
            let endpoint = try self.endpoint(String(item).trimmingWhitespace(), transport: transport, value: value)
            guard !endpoints.contains(endpoint) else {
                throw value.problem("endpoint \(String(item).trimmingWhitespace()) is listed twice")
            }
            endpoints.append(endpoint)
        }
        var options = CoordinationOptions(backendURL: text, endpoints: endpoints)
        try readQuery(query, into: &options, transport: transport, value: value)
        return options
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port` to `transport://host:port`.
    private static func endpoint(_ item: String, transport: String, value: ConfigValue) throws(ConfigDiagnostic)
        -> String
    {
        guard !item.isEmpty else { throw value.problem("an endpoint is empty (two commas, or a comma at an end)") }
        var host = item
        var port = defaultPort
        if item.hasPrefix("[") {
            guard let close = item.firstIndex(of: "]") else { throw value.problem("endpoint \(item): unclosed [") }
            host = String(item[item.index(after: item.startIndex)..<close])
            let after = item[item.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let number = Int(after.dropFirst()), (1...65535).contains(number) else {
                    throw value.problem("endpoint \(item): expected [address]:port with a port 1-65535")
                }
                port = number
            }
            var address = in6_addr()
            guard inet_pton(AF_INET6, host, &address) == 1 else {
                throw value.problem("endpoint \(item): \(host) is not an IPv6 address")
            }
            return "\(transport)://[\(host)]:\(port)"
        }
        if let colon = item.lastIndex(of: ":") {
            host = String(item[..<colon])
            guard let number = Int(item[item.index(after: colon)...]), (1...65535).contains(number) else {
                throw value.problem("endpoint \(item): expected host:port with a port 1-65535")
            }
            port = number
        }
        guard ListenHost(host) != nil, !host.contains(":") else {
            throw value.problem(
                "endpoint \(item): \"\(host)\" is not a host name or IPv4 address (write IPv6 as [address]:port)")
        }
        return "\(transport)://\(host):\(port)"
    }

    private static func readQuery(
        _ query: Substring, into options: inout CoordinationOptions, transport: String, value: ConfigValue
    ) throws(ConfigDiagnostic) {
        var seen = Set<String>()
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            let raw = parts.count > 1 ? String(parts[1]) : ""
            guard let text = raw.removingPercentEncoding, !text.isEmpty else {
                throw value.problem("\(name) in backend_url needs a value")
            }
            guard seen.insert(name).inserted else { throw value.problem("\(name) is given twice in backend_url") }
            switch name {
            case "ca_cert": options.caFile = ConfigValue.resolve(path: text, against: value.baseDirectory)
            case "cert_cert": options.certificateFile = ConfigValue.resolve(path: text, against: value.baseDirectory)
            case "cert_key": options.keyFile = ConfigValue.resolve(path: text, against: value.baseDirectory)
            case "timeout":
                guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 3600 else {
                    throw value.problem("timeout in backend_url: expected seconds > 0 and <= 3600, got \"\(text)\"")
                }
                options.timeout = seconds
            default:
                let names = queryOptions.joined(separator: ", ")
                throw value.problem(
                    "unknown option \"\(name)\" in backend_url (known: \(names))"
                        + OptionSuggestion.hint(for: name, in: Set(queryOptions)))
            }
        }
        if transport == "http", options.caFile != nil || options.certificateFile != nil || options.keyFile != nil {
            throw value.problem("ca_cert, cert_cert and cert_key need etcd3+https://; the endpoints are plain http")
        }
        if (options.certificateFile == nil) != (options.keyFile == nil) {
            throw value.problem("cert_cert and cert_key go together (a client certificate and its key)")
        }
        for file in [options.caFile, options.certificateFile, options.keyFile].compactMap({ $0 }) {
            guard FileManager.default.isReadableFile(atPath: file) else {
                throw value.problem("cannot read \(file)")
            }
        }
    }
}
