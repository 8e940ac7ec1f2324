// GET /metrics: Prometheus text exposition format 0.0.4.

import Foundation
import HTTPServer
import Supervision
import Synchronization

/// Counts answered requests by route pattern, method and status code, fed by `HTTPServer`'s
/// `onResponse` hook. Labels come from route patterns (not raw paths) and a fixed method set, so a
/// client probing random URLs or methods cannot grow the series without bound.
package final class HTTPRequestMetrics: Sendable {
    struct Key: Hashable, Sendable {
        let route: String
        let method: String
        let code: Int
    }

    private let counts = Mutex<[Key: Int]>([:])
    private static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

    package init() {}

    /// Pass this as `HTTPServer(onResponse:)`. Cheap: one locked dictionary increment.
    package func record(_ response: ResponseRecord) {
        let method = Self.knownMethods.contains(response.method.rawValue) ? response.method.rawValue : "other"
        let key = Key(route: response.routePattern ?? "unmatched", method: method, code: response.status.code)
        counts.withLock { $0[key, default: 0] += 1 }
    }

    /// The count for one series (for tests and the readiness of dashboards).
    package func count(route: String?, method: HTTPMethod, code: Int) -> Int {
        counts.withLock { $0[Key(route: route ?? "unmatched", method: method.rawValue, code: code)] ?? 0 }
    }

    func write(to text: inout PrometheusText) {
        let snapshot = counts.withLock { $0 }
        text.family(
            "volumed_http_requests_total", type: "counter",
            help: "HTTP requests answered, by route pattern, method and status code.")
        for (key, count) in snapshot.sorted(by: {
            ($0.key.route, $0.key.method, $0.key.code) < ($1.key.route, $1.key.method, $1.key.code)
        }) {
            text.sample(
                "volumed_http_requests_total",
                PrometheusText.labels(["route": key.route, "method": key.method, "code": String(key.code)]),
                Double(count))
        }
    }
}

/// A Prometheus text document under construction. Labels are passed pre-rendered
/// (`backend="a",host="b"`) so the per-backend part is escaped once, not once per sample: the
/// document for 1,000 backends has some 30,000 samples.
struct PrometheusText {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private(set) var text = ""

    init(reservingCapacity capacity: Int = 4096) {
        text.reserveCapacity(capacity)
    }

    mutating func family(_ name: String, type: String, help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    /// One sample; `labels` is empty or rendered by `labels(_:)`.
    mutating func sample(_ name: String, _ labels: String, _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{"
            text += labels
            text += "}"
        }
        text += " "
        text += Self.format(value)
        text += "\n"
    }

    mutating func append(_ other: String) { text += other }

    /// `name="value",...` in the order given, values escaped.
    static func labels(_ pairs: KeyValuePairs<String, String>) -> String {
        var rendered = ""
        for (name, value) in pairs {
            if !rendered.isEmpty { rendered += "," }
            rendered += name + "=\"" + escape(value) + "\""
        }
        return rendered
    }

    /// Joins rendered label lists.
    static func join(_ first: String, _ second: String) -> String {
        first.isEmpty ? second : second.isEmpty ? first : first + "," + second
    }

    static func escape(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == 10 }) else {
            return value
        }
        var escaped = ""
        escaped.reserveCapacity(value.utf8.count + 8)
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
        var text = PrometheusText(reservingCapacity: 512 + 4000 * snapshot.backends.count)
        let backends = snapshot.backends
        let labels = backends.map { PrometheusText.labels(["backend": $0.id, "host": $0.host]) }
        let stateLabels = DriverState.allCases.map { PrometheusText.labels(["state": $0.rawValue]) }
        let kindLabels = ErrorKind.allCases.map {
            PrometheusText.labels(["kind": $0.rawValue, "class": $0.errorClass.rawValue])
        }
        let okLabel = PrometheusText.labels(["result": "ok"])
        let failedLabel = PrometheusText.labels(["result": "failed"])
        let refusedLabel = PrometheusText.labels(["result": "refused"])
        func each(_ name: String, type: String, help: String, _ value: (BackendSnapshot) -> Double) {
            text.family(name, type: type, help: help)
            for (index, backend) in backends.enumerated() { text.sample(name, labels[index], value(backend)) }
        }

        text.family(
            "volumed_supervision_running", type: "gauge",
            help: "Whether the supervision loop is running (1) or not (0).")
        text.sample("volumed_supervision_running", "", snapshot.running ? 1 : 0)
        text.family("volumed_backends", type: "gauge", help: "Backends supervised by this service.")
        text.sample("volumed_backends", "", Double(backends.count))
        // Alerting on a loop that stopped ticking needs both: time() minus the one, against the other.
        text.family(
            "volumed_supervision_tick_interval_seconds", type: "gauge",
            help: "backend_stats_polling_interval: seconds between supervision ticks.")
        text.sample("volumed_supervision_tick_interval_seconds", "", snapshot.tickInterval)

        each(
            "volumed_backend_up", type: "gauge",
            help: "Whether the backend's driver is initialized and reported up to the scheduler (backend_state up)."
        ) {
            $0.backendState == .up ? 1 : 0
        }

        text.family(
            "volumed_backend_state", type: "gauge",
            help: "The backend's supervision state: 1 for the current state, 0 for the others.")
        for (index, backend) in backends.enumerated() {
            for (stateIndex, state) in DriverState.allCases.enumerated() {
                text.sample(
                    "volumed_backend_state", PrometheusText.join(labels[index], stateLabels[stateIndex]),
                    backend.state == state ? 1 : 0)
            }
        }

        each(
            "volumed_backend_disabled", type: "gauge",
            help: "Whether an operator disabled the backend's service (os-services disable)."
        ) {
            $0.adminState.disabled ? 1 : 0
        }
        each(
            "volumed_backend_reinit_attempts", type: "gauge",
            help: "Automatic re-initializations used in the current (or last) failure episode."
        ) {
            Double($0.reinitAttempts)
        }
        each("volumed_backend_reinit_limit", type: "gauge", help: "reinit_driver_count of the backend (0 = unlimited).")
        {
            Double($0.reinitLimit)
        }

        text.family(
            "volumed_backend_failures_total", type: "counter",
            help: "Driver failures (initialization and stats) by error kind.")
        for (index, backend) in backends.enumerated() {
            for (kindIndex, kind) in ErrorKind.allCases.enumerated() {
                text.sample(
                    "volumed_backend_failures_total", PrometheusText.join(labels[index], kindLabels[kindIndex]),
                    Double(backend.counters.failures(kind)))
            }
        }

        // The kind rides in labels so an alert on `failed` can say which; the message stays out
        // (unbounded), the API has it.
        text.family(
            "volumed_backend_last_error_info", type: "gauge",
            help:
                "The error class and kind of the backend's most recent driver failure, kept after a recovery; always 1."
        )
        for (index, backend) in backends.enumerated() {
            guard let error = backend.lastError else { continue }
            text.sample(
                "volumed_backend_last_error_info",
                PrometheusText.join(labels[index], kindLabels[ErrorKind.allCases.firstIndex(of: error.kind)!]), 1)
        }

        text.family(
            "volumed_backend_publishes_total", type: "counter",
            help: "Capability publishes that carried this backend's report, by result.")
        for (index, backend) in backends.enumerated() {
            text.sample(
                "volumed_backend_publishes_total", PrometheusText.join(labels[index], okLabel),
                Double(backend.counters.publishesOK))
            text.sample(
                "volumed_backend_publishes_total", PrometheusText.join(labels[index], failedLabel),
                Double(backend.counters.publishesFailed))
            text.sample(
                "volumed_backend_publishes_total", PrometheusText.join(labels[index], refusedLabel),
                Double(backend.counters.publishesRefused))
        }
        text.family(
            "volumed_backend_publish_refused", type: "gauge",
            help: "1 while the scheduler refuses or ignores this backend's reports (see last_publish in /drivers/{id})."
        )
        for (index, backend) in backends.enumerated() {
            text.sample("volumed_backend_publish_refused", labels[index], backend.lastPublish?.refused == true ? 1 : 0)
        }

        text.family(
            "volumed_backend_reinit_duration_seconds", type: "summary",
            help: "Duration of driver initialization attempts (doSetup + checkForSetupError).")
        for (index, backend) in backends.enumerated() {
            text.sample(
                "volumed_backend_reinit_duration_seconds_sum", labels[index], backend.counters.reinitDurationSum)
            text.sample(
                "volumed_backend_reinit_duration_seconds_count", labels[index],
                Double(backend.counters.reinitDurationCount))
        }

        text.family(
            "volumed_publishes_coalesced_total", type: "counter",
            help: "Publishes merged into the next one because the previous publish was still running.")
        text.sample("volumed_publishes_coalesced_total", "", Double(snapshot.publishesCoalesced))
        return text.text
    }
}
