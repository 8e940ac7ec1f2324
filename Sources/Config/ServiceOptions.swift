import Foundation
import ServiceNames

/// The HTTP server's limits, from `[DEFAULT] http_*`. Kept apart from the other options so the
/// wiring can hand them to the server in one piece.
package struct HTTPLimits: Sendable, Equatable {
    /// Request line plus headers, in bytes (beyond: 431).
    package var maxHeaderBytes = 16_384
    /// Header fields per request (beyond: 431).
    package var maxHeaders = 100
    /// Request body, in bytes (beyond: 413).
    package var maxBodyBytes = 1_048_576
    /// Seconds to receive a request's head (beyond: 408 and close; slowloris protection).
    package var headerTimeout: Double = 10
    /// Seconds to receive a request's body.
    package var bodyTimeout: Double = 30
    /// Seconds an idle keep-alive connection stays open.
    package var keepaliveTimeout: Double = 60
    /// Seconds a response may wait on a client that does not read.
    package var writeTimeout: Double = 30
    /// Open connections at once.
    package var maxConnections = 10_000
    /// Pipelined requests queued per connection.
    package var maxPipelinedRequests = 64
    /// Unsent response bytes of one connection at which it stops being read until its client reads.
    package var maxQueuedResponseBytes = 1_048_576
    /// Unsent response bytes of all connections together (beyond: no connection produces more
    /// until they drain).
    package var maxBufferedOutputBytes = 67_108_864
    /// Request bytes (bodies being read, unconsumed input) of all connections together (beyond: 503).
    package var maxBufferedRequestBytes = 67_108_864

    package init() {}
}

/// The typed `[DEFAULT]` options of the service, with Cinder's names and defaults where Cinder has
/// them. Every field holds a valid value: a bad value is a fatal problem of the whole file.
package struct ServiceOptions: Sendable, Equatable {
    /// This node's name; each backend runs as `<host>@<backend>`.
    package var host: String
    package var storageAvailabilityZone = "nova"
    /// Backend section names, in the order given, duplicates dropped.
    package var enabledBackends: [String] = []
    /// Automatic re-initializations after a failure; 0 = unlimited.
    package var reinitDriverCount = 3
    /// Upper bound of the back-off between automatic re-initializations, in seconds.
    package var reinitBackoffMax: Double = 300
    /// The publish tick, in seconds.
    package var backendStatsPollingInterval: Double = 60
    /// A service that has not reported for this many seconds is `down`.
    package var serviceDownTime: Double = 60
    /// Bound on `doSetup` + `checkForSetupError`, in seconds.
    package var driverInitTimeout: Double = 60
    /// Bound on one `getVolumeStats` call, in seconds (volumed's own option; Cinder has none).
    package var driverStatsTimeout: Double = 30
    package var enableUnsupportedDriver = false
    /// Where capabilities are published; nil means the in-process scheduler.
    package var schedulerURL: String?
    package var schedulerTimeout: Double = 10
    package var schedulerConnectTimeout: Double = 5
    /// `scheduler_http_version`: `1.1` (default) or `2` (prior knowledge over http://, ALPN over https://).
    package var schedulerHTTPVersion = "1.1"
    /// `scheduler_ca_certificates_file`: a PEM bundle to verify an https scheduler against.
    package var schedulerCACertificatesFile: String?
    /// `scheduler_insecure`: skip TLS verification of the scheduler (off by default, as in Cinder's `*_insecure`).
    package var schedulerInsecure = false
    package var osapiVolumeListen = "127.0.0.1"
    package var osapiVolumeListenPort = 8776
    /// `osapi_volume_workers`: event loops serving the volume API; nil means one per CPU (Cinder's
    /// default). Fewer than the CPUs helps the tail latency on a machine whose cores are busy with
    /// something else (BENCHMARKS.md).
    package var osapiVolumeWorkers: Int?
    /// Address of the scheduler role (`volumed scheduler`).
    package var schedulerListen = "127.0.0.1"
    package var schedulerListenPort = 8777
    /// `scheduler_max_backends`: backends (`host@backend`) the scheduler's store holds at most;
    /// a report naming a new one beyond is refused (store_full).
    package var schedulerMaxBackends = 10_000
    /// `scheduler_max_pools`: pools the scheduler's store holds at most, over all backends.
    package var schedulerMaxPools = 100_000
    /// The token that authorizes mutating API calls, from `admin_token` or the contents of
    /// `admin_token_file`; nil when neither is set.
    package var adminToken: String?
    /// The file `adminToken` was read from, if any (absolute).
    package var adminTokenFile: String?
    /// Cinder's `auth_strategy`: nil (unset) keeps volumed's admin-token/loopback rule; `noauth`
    /// (Cinder's standalone mode) also accepts any `X-Auth-Token: user:project` for writes.
    package var authStrategy: String?
    /// Cinder's `public_endpoint`: the base URL clients reach the API at (behind a proxy), used in
    /// the version documents' links instead of the request's `Host`.
    package var publicEndpoint: String?
    /// Where the service keeps its small state file (absolute); Cinder's default is kept.
    package var statePath = "/var/lib/volumed"
    package var http = HTTPLimits()
    /// `[coordination] backend_url`: the etcd cluster this host joins; nil runs it alone, as before.
    package var coordination: CoordinationOptions?

    package init(host: String = ServiceOptions.machineHostName()) {
        self.host = host
    }

    /// The machine's host name, Cinder's default for `host` (without a DNS lookup).
    package static func machineHostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    /// `[DEFAULT]` options that only take effect at start-up: a reload that changes one of them
    /// is reported as needing a restart; every other option applies live.
    package static let restartOptions: Set<String> = [
        "host", "osapi_volume_listen", "osapi_volume_listen_port", "osapi_volume_workers", "scheduler_listen",
        "scheduler_listen_port", "scheduler_max_backends", "scheduler_max_pools",
        "state_path", "scheduler_http_version", "scheduler_ca_certificates_file", "scheduler_insecure",
        "http_max_header_bytes", "http_max_headers", "http_max_body_bytes", "http_header_timeout",
        "http_body_timeout", "http_keepalive_timeout", "http_write_timeout", "http_max_connections",
        "http_max_pipelined_requests", "http_max_queued_response_bytes", "http_max_buffered_output_bytes",
        "http_max_buffered_request_bytes", "coordination.backend_url", "coordination.host_follows_cluster",
    ]

    /// Every option name `[DEFAULT]` knows, for unknown-option warnings.
    package static let knownOptions: Set<String> = restartOptions.union([
        "storage_availability_zone", "enabled_backends", "reinit_driver_count", "reinit_backoff_max",
        "backend_stats_polling_interval", "service_down_time", "driver_init_timeout", "driver_stats_timeout",
        "enable_unsupported_driver",
        "scheduler_url", "scheduler_timeout", "scheduler_connect_timeout", "admin_token", "admin_token_file",
        "auth_strategy", "public_endpoint",
    ])

    /// `knownOptions` prepared once for typo hints (one hint per unknown option of a large file).
    static let knownVocabulary = OptionSuggestion.Vocabulary(knownOptions)

    /// The option values as comparable text, by option name, for reload diffs.
    var comparableValues: [String: String] {
        [
            "host": host, "storage_availability_zone": storageAvailabilityZone,
            "enabled_backends": enabledBackends.joined(separator: ","),
            "reinit_driver_count": String(reinitDriverCount), "reinit_backoff_max": String(reinitBackoffMax),
            "backend_stats_polling_interval": String(backendStatsPollingInterval),
            "service_down_time": String(serviceDownTime), "driver_init_timeout": String(driverInitTimeout),
            "driver_stats_timeout": String(driverStatsTimeout),
            "enable_unsupported_driver": String(enableUnsupportedDriver), "scheduler_url": schedulerURL ?? "",
            "scheduler_timeout": String(schedulerTimeout), "scheduler_connect_timeout": String(schedulerConnectTimeout),
            "scheduler_http_version": schedulerHTTPVersion,
            "scheduler_ca_certificates_file": schedulerCACertificatesFile ?? "",
            "scheduler_insecure": String(schedulerInsecure),
            "osapi_volume_listen": osapiVolumeListen, "osapi_volume_listen_port": String(osapiVolumeListenPort),
            "osapi_volume_workers": osapiVolumeWorkers.map(String.init) ?? "",
            "scheduler_listen": schedulerListen, "scheduler_listen_port": String(schedulerListenPort),
            "scheduler_max_backends": String(schedulerMaxBackends), "scheduler_max_pools": String(schedulerMaxPools),
            "admin_token": adminToken ?? "", "admin_token_file": adminTokenFile ?? "", "state_path": statePath,
            "auth_strategy": authStrategy ?? "", "public_endpoint": publicEndpoint ?? "",
            "http_max_header_bytes": String(http.maxHeaderBytes), "http_max_headers": String(http.maxHeaders),
            "http_max_body_bytes": String(http.maxBodyBytes), "http_header_timeout": String(http.headerTimeout),
            "http_body_timeout": String(http.bodyTimeout), "http_keepalive_timeout": String(http.keepaliveTimeout),
            "http_write_timeout": String(http.writeTimeout), "http_max_connections": String(http.maxConnections),
            "http_max_pipelined_requests": String(http.maxPipelinedRequests),
            "http_max_queued_response_bytes": String(http.maxQueuedResponseBytes),
            "http_max_buffered_output_bytes": String(http.maxBufferedOutputBytes),
            "http_max_buffered_request_bytes": String(http.maxBufferedRequestBytes),
            "coordination.backend_url": coordination?.backendURL ?? "",
            "coordination.host_follows_cluster": String(coordination?.hostFollowsCluster ?? false),
        ]
    }
}

/// Reads the options of one section, recording which keys were used and every problem found.
struct SectionReader {
    let section: IniSection?
    var problems: [ConfigDiagnostic] = []
    private(set) var used: Set<String> = []

    init(section: IniSection?) {
        self.section = section
    }

    mutating func raw(_ option: String) -> ConfigValue? {
        used.insert(option)
        return section?.values[option]
    }

    /// The typed value of `option`, or `current` when it is absent or bad (the problem is recorded).
    mutating func read<T>(
        _ option: String, into current: inout T,
        _ type: (ConfigValue) throws(ConfigDiagnostic) -> T
    ) {
        guard let value = raw(option) else { return }
        do {
            current = try type(value)
        } catch {
            problems.append(error)
        }
    }

    /// Keys present that nobody read, in file order.
    func unusedValues() -> [ConfigValue] {
        guard let section else { return [] }
        return section.keys.filter { !used.contains($0) }.compactMap { section.values[$0] }
    }
}

extension ServiceOptions {
    /// Types `[DEFAULT]`; problems land in `reader.problems` (all fatal for the service).
    static func read(_ reader: inout SectionReader, warnings: inout [ConfigDiagnostic]) -> ServiceOptions {
        var options = ServiceOptions()
        reader.read("host", into: &options.host) { value throws(ConfigDiagnostic) in
            let host = try value.nonEmptyString()
            do {
                try ServiceName.checkNode(host)
            } catch {
                throw value.problem("\(error) (backends are named host@backend#pool), got \(ServiceName.quoted(host))")
            }
            guard !host.contains("/") else {
                throw value.problem(
                    "must not contain '/' (backends are named host@backend#pool), got \(ServiceName.quoted(host))")
            }
            return host
        }
        reader.read("storage_availability_zone", into: &options.storageAvailabilityZone) { v throws(ConfigDiagnostic) in
            try v.nonEmptyString()
        }
        if let value = reader.raw("enabled_backends") {
            options.enabledBackends = readBackendNames(
                value, node: options.host, problems: &reader.problems,
                warnings: &warnings)
        }
        reader.read("reinit_driver_count", into: &options.reinitDriverCount) { v throws(ConfigDiagnostic) in
            try v.wholeNumber(atLeast: 0)
        }
        reader.read("reinit_backoff_max", into: &options.reinitBackoffMax) { v throws(ConfigDiagnostic) in
            try v.seconds()
        }
        reader.read("backend_stats_polling_interval", into: &options.backendStatsPollingInterval) {
            v throws(ConfigDiagnostic) in try v.seconds()
        }
        reader.read("service_down_time", into: &options.serviceDownTime) { v throws(ConfigDiagnostic) in try v.seconds()
        }
        reader.read("driver_init_timeout", into: &options.driverInitTimeout) { v throws(ConfigDiagnostic) in
            try v.seconds()
        }
        reader.read("driver_stats_timeout", into: &options.driverStatsTimeout) { v throws(ConfigDiagnostic) in
            try v.seconds()
        }
        reader.read("enable_unsupported_driver", into: &options.enableUnsupportedDriver) { v throws(ConfigDiagnostic) in
            try v.bool()
        }
        reader.read("scheduler_url", into: &options.schedulerURL) { v throws(ConfigDiagnostic) in
            v.text.trimmingWhitespace().isEmpty ? nil : try v.httpURL()
        }
        reader.read("scheduler_timeout", into: &options.schedulerTimeout) { v throws(ConfigDiagnostic) in
            try v.seconds()
        }
        reader.read("scheduler_connect_timeout", into: &options.schedulerConnectTimeout) { v throws(ConfigDiagnostic) in
            try v.seconds()
        }
        reader.read("scheduler_http_version", into: &options.schedulerHTTPVersion) { v throws(ConfigDiagnostic) in
            try v.choice(["1.1", "2"])
        }
        reader.read("scheduler_ca_certificates_file", into: &options.schedulerCACertificatesFile) {
            v throws(ConfigDiagnostic) in try v.path()
        }
        reader.read("scheduler_insecure", into: &options.schedulerInsecure) { v throws(ConfigDiagnostic) in try v.bool()
        }
        reader.read("osapi_volume_listen", into: &options.osapiVolumeListen) { v throws(ConfigDiagnostic) in
            try v.listenHost()
        }
        reader.read("osapi_volume_listen_port", into: &options.osapiVolumeListenPort) { v throws(ConfigDiagnostic) in
            try v.port()
        }
        reader.read("osapi_volume_workers", into: &options.osapiVolumeWorkers) { v throws(ConfigDiagnostic) in
            let workers = try v.wholeNumber(atLeast: 1)
            guard workers <= 256 else { throw v.problem("expected 1 to 256 event loops, got \(workers)") }
            return workers
        }
        reader.read("scheduler_listen", into: &options.schedulerListen) { v throws(ConfigDiagnostic) in
            try v.listenHost()
        }
        reader.read("scheduler_listen_port", into: &options.schedulerListenPort) { v throws(ConfigDiagnostic) in
            try v.port()
        }
        reader.read("scheduler_max_backends", into: &options.schedulerMaxBackends) { v throws(ConfigDiagnostic) in
            try v.wholeNumber(atLeast: 1)
        }
        reader.read("scheduler_max_pools", into: &options.schedulerMaxPools) { v throws(ConfigDiagnostic) in
            try v.wholeNumber(atLeast: 1)
        }
        reader.read("state_path", into: &options.statePath) { v throws(ConfigDiagnostic) in try v.path() }
        readAdminToken(&reader, into: &options, warnings: &warnings)
        reader.read("auth_strategy", into: &options.authStrategy) { v throws(ConfigDiagnostic) in
            v.text.trimmingWhitespace().isEmpty ? nil : try v.choice(["noauth"])
        }
        reader.read("public_endpoint", into: &options.publicEndpoint) { v throws(ConfigDiagnostic) in
            v.text.trimmingWhitespace().isEmpty ? nil : try v.httpURL()
        }
        readHTTPLimits(&reader, into: &options.http)
        return options
    }

    /// Each name must pass the scheduler's rule as `node@name` (`ServiceName`), and name a section.
    private static func readBackendNames(
        _ value: ConfigValue, node: String, problems: inout [ConfigDiagnostic],
        warnings: inout [ConfigDiagnostic]
    ) -> [String] {
        var names: [String] = []
        var seen = Set<String>()  // normalized: a scan per name was quadratic (20,000 names took 6.6 s)
        for name in value.list() {
            if (try? ServiceName.checkBackend(name)) == nil
                || name.contains(where: { $0 == "/" || $0 == "[" || $0 == "]" })
                || name == IniDocument.defaultSection || name.lowercased() == BackendSection.sharedSectionName
            {
                problems.append(
                    value.problem(
                        "\(ServiceName.quoted(name)) cannot name a backend (no '@', '#', '/', brackets, spaces or control characters; not DEFAULT or backend_defaults)"
                    ))
            } else if let problem = hostProblem(node: node, backend: name) {
                problems.append(
                    value.problem(
                        "backend \(ServiceName.quoted(name)) would run as host \(ServiceName.quoted(node + "@" + name)), which \(problem)"
                    ))
            } else if !seen.insert(IniDocument.normalizedSectionName(name)).inserted {
                warnings.append(value.problem("backend \"\(name)\" is listed twice; it runs once"))
            } else {
                names.append(name)
            }
        }
        return names
    }

    /// Why `node@backend` would be refused by the scheduler; nil when it is fine or when the node
    /// itself is already reported as a problem of `host`.
    private static func hostProblem(node: String, backend: String) -> ServiceName.Problem? {
        guard (try? ServiceName.checkNode(node)) != nil else { return nil }
        do {
            try ServiceName.checkHost(node + "@" + backend)
            return nil
        } catch {
            return error
        }
    }

    private static func readAdminToken(
        _ reader: inout SectionReader, into options: inout ServiceOptions,
        warnings: inout [ConfigDiagnostic]
    ) {
        let token = reader.raw("admin_token")
        let file = reader.raw("admin_token_file")
        if let token, !token.text.isEmpty { options.adminToken = token.text }
        guard let file, !file.text.trimmingWhitespace().isEmpty else { return }
        if let token, !token.text.isEmpty {
            reader.problems.append(
                file.problem("set either admin_token (line \(token.location.line)) or admin_token_file, not both"))
            return
        }
        do throws(ConfigDiagnostic) {
            let path = try file.path()
            options.adminTokenFile = path
            let data: [UInt8]
            do {
                data = try FileContents.read(path, maxBytes: 1 << 20)
            } catch {
                throw file.problem("cannot read \(path): \(error.reason)")
            }
            let contents = String(decoding: data, as: UTF8.self).trimmingWhitespace()
            guard !contents.isEmpty, !contents.contains(where: { $0.isNewline }) else {
                throw file.problem("\(path) must hold the token on one line")
            }
            options.adminToken = contents
            var info = stat()
            if stat(path, &info) == 0, info.st_mode & (S_IRWXG | S_IRWXO) != 0 {
                let mode = String(info.st_mode & 0o777, radix: 8)
                warnings.append(file.problem("\(path) is readable by other users (mode \(mode)); chmod 600 it"))
            }
        } catch {
            reader.problems.append(error)
        }
    }

    private static func readHTTPLimits(_ reader: inout SectionReader, into http: inout HTTPLimits) {
        func count(_ minimum: Int) -> (ConfigValue) throws(ConfigDiagnostic) -> Int {
            { v throws(ConfigDiagnostic) in try v.wholeNumber(atLeast: minimum) }
        }
        let seconds: (ConfigValue) throws(ConfigDiagnostic) -> Double = { v throws(ConfigDiagnostic) in try v.seconds()
        }
        reader.read("http_max_header_bytes", into: &http.maxHeaderBytes, count(1024))
        reader.read("http_max_headers", into: &http.maxHeaders, count(1))
        reader.read("http_max_body_bytes", into: &http.maxBodyBytes, count(0))
        reader.read("http_header_timeout", into: &http.headerTimeout, seconds)
        reader.read("http_body_timeout", into: &http.bodyTimeout, seconds)
        reader.read("http_keepalive_timeout", into: &http.keepaliveTimeout, seconds)
        reader.read("http_write_timeout", into: &http.writeTimeout, seconds)
        reader.read("http_max_connections", into: &http.maxConnections, count(1))
        reader.read("http_max_pipelined_requests", into: &http.maxPipelinedRequests, count(1))
        reader.read("http_max_queued_response_bytes", into: &http.maxQueuedResponseBytes, count(1024))
        reader.read("http_max_buffered_output_bytes", into: &http.maxBufferedOutputBytes, count(65_536))
        reader.read("http_max_buffered_request_bytes", into: &http.maxBufferedRequestBytes, count(65_536))
    }
}
