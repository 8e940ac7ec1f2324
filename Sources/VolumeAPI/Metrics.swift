// GET /metrics: Prometheus text exposition format 0.0.4.

import Foundation
import HTTPServer
import Supervision
import Synchronization

/// Counts answered requests by route pattern, method and status code, fed by `HTTPServer`'s
/// `onResponse` hook. Labels come from route patterns (not raw paths) and a fixed method set, so a
/// client probing random URLs or methods cannot grow the series without bound.
public final class HTTPRequestMetrics: Sendable {
    struct Key: Hashable, Sendable {
        let route: String
        let method: String
        let code: Int
    }

    private let counts = Mutex<[Key: Int]>([:])
    private static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

    public init() {}

    /// Pass this as `HTTPServer(onResponse:)`. Cheap: one locked dictionary increment.
    public func record(_ response: ResponseRecord) {
        let method = Self.knownMethods.contains(response.method.rawValue) ? response.method.rawValue : "other"
        let key = Key(route: response.routePattern ?? "unmatched", method: method, code: response.status.code)
        counts.withLock { $0[key, default: 0] += 1 }
    }

    /// The count for one series (for tests and the readiness of dashboards).
    public func count(route: String?, method: HTTPMethod, code: Int) -> Int {
        counts.withLock { $0[Key(route: route ?? "unmatched", method: method.rawValue, code: code)] ?? 0 }
    }

    func write(to text: inout PrometheusText) {
        let snapshot = counts.withLock { $0 }
        text.family("volumed_http_requests_total", type: "counter",
                    help: "HTTP requests answered, by route pattern, method and status code.")
        for (key, count) in snapshot.sorted(by: { ($0.key.route, $0.key.method, $0.key.code) < ($1.key.route, $1.key.method, $1.key.code) }) {
            text.sample("volumed_http_requests_total", ["route": key.route, "method": key.method, "code": String(key.code)],
                        Double(count))
        }
    }
}

/// A Prometheus text document under construction.
struct PrometheusText {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private(set) var text = ""

    init(reservingCapacity capacity: Int = 4096) {
        text.reserveCapacity(capacity)
    }

    mutating func family(_ name: String, type: String, help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    /// One sample; labels are written sorted by name so the output is stable.
    mutating func sample(_ name: String, _ labels: [String: String] = [:], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{"
            var first = true
            for (label, labelValue) in labels.sorted(by: { $0.key < $1.key }) {
                if !first { text += "," }
                first = false
                text += label + "=\"" + Self.escape(labelValue) + "\""
            }
            text += "}"
        }
        text += " " + Self.format(value) + "\n"
    }

    mutating func append(_ other: String) { text += other }

    static func escape(_ value: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(value.utf8.count)
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}

/// The per-backend series, rendered from one supervisor snapshot.
enum BackendMetrics {
    static func render(_ snapshot: ServiceSnapshot) -> String {
        var text = PrometheusText(reservingCapacity: 512 + 1600 * snapshot.backends.count)
        let backends = snapshot.backends
        func labels(_ backend: BackendSnapshot, _ extra: [String: String] = [:]) -> [String: String] {
            extra.merging(["backend": backend.id, "host": backend.host]) { current, _ in current }
        }

        text.family("volumed_supervision_running", type: "gauge",
                    help: "Whether the supervision loop is running (1) or not (0).")
        text.sample("volumed_supervision_running", [:], snapshot.running ? 1 : 0)
        text.family("volumed_backends", type: "gauge", help: "Backends supervised by this service.")
        text.sample("volumed_backends", [:], Double(backends.count))

        text.family("volumed_backend_up", type: "gauge",
                    help: "Whether the backend's driver is initialized and reported up to the scheduler (backend_state up).")
        for backend in backends { text.sample("volumed_backend_up", labels(backend), backend.backendState == .up ? 1 : 0) }

        text.family("volumed_backend_state", type: "gauge",
                    help: "The backend's supervision state: 1 for the current state, 0 for the others.")
        for backend in backends {
            for state in DriverState.allCases {
                text.sample("volumed_backend_state", labels(backend, ["state": state.rawValue]), backend.state == state ? 1 : 0)
            }
        }

        text.family("volumed_backend_disabled", type: "gauge",
                    help: "Whether an operator disabled the backend's service (os-services disable).")
        for backend in backends { text.sample("volumed_backend_disabled", labels(backend), backend.serviceStatus.disabled ? 1 : 0) }

        text.family("volumed_backend_reinit_attempts", type: "gauge",
                    help: "Automatic re-initializations used in the current failure episode.")
        for backend in backends { text.sample("volumed_backend_reinit_attempts", labels(backend), Double(backend.reinitAttempts)) }

        text.family("volumed_backend_reinit_limit", type: "gauge",
                    help: "reinit_driver_count of the backend (0 = unlimited).")
        for backend in backends { text.sample("volumed_backend_reinit_limit", labels(backend), Double(backend.reinitLimit)) }

        text.family("volumed_backend_failures_total", type: "counter",
                    help: "Driver failures (initialization and stats) by error kind.")
        for backend in backends {
            for kind in ErrorKind.allCases {
                text.sample("volumed_backend_failures_total",
                            labels(backend, ["kind": kind.rawValue, "class": kind.errorClass.rawValue]),
                            Double(backend.counters.failures(kind)))
            }
        }

        text.family("volumed_backend_publishes_total", type: "counter",
                    help: "Capability publishes that carried this backend's report, by result.")
        for backend in backends {
            text.sample("volumed_backend_publishes_total", labels(backend, ["result": "ok"]), Double(backend.counters.publishesOK))
            text.sample("volumed_backend_publishes_total", labels(backend, ["result": "failed"]),
                        Double(backend.counters.publishesFailed))
        }

        text.family("volumed_backend_reinit_duration_seconds", type: "summary",
                    help: "Duration of driver initialization attempts (doSetup + checkForSetupError).")
        for backend in backends {
            text.sample("volumed_backend_reinit_duration_seconds_sum", labels(backend), backend.counters.reinitDurationSum)
            text.sample("volumed_backend_reinit_duration_seconds_count", labels(backend),
                        Double(backend.counters.reinitDurationCount))
        }

        text.family("volumed_publishes_coalesced_total", type: "counter",
                    help: "Publishes merged into the next one because the previous publish was still running.")
        text.sample("volumed_publishes_coalesced_total", [:], Double(snapshot.publishesCoalesced))
        return text.text
    }
}
