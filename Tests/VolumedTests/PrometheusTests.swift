import Foundation
import SharedTestSupport
import Testing

/// contrib/prometheus/volumed-rules.yml against Prometheus's own tools, and against a real
/// Prometheus scraping a real volumed.
@Suite(
    .offCooperativePool,
    .enabled(if: Tool.available("promtool"), "promtool is not installed; scripts/setup --test installs it (prometheus)")
)
struct PrometheusTests {
    static let rules = repositoryRoot + "/contrib/prometheus/volumed-rules.yml"
    static let ruleTests = repositoryRoot + "/contrib/prometheus/volumed-rules.test.yml"

    static func promtool() throws -> ExternalTool { try ExternalTool("promtool", package: "prometheus") }

    @Test func promtoolChecksTheRules() throws {
        let result = try Self.promtool().run(["check", "rules", Self.rules])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("SUCCESS: 6 rules found"), "\(result.stdout)")
    }

    /// Each alert firing and not firing, as volumed-rules.test.yml spells out.
    @Test func promtoolRunsTheRuleUnitTests() throws {
        let result = try Self.promtool().run(["test", "rules", Self.ruleTests])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("SUCCESS"), "\(result.stdout)")
        // Every alert of the rule file has a test.
        let tests = try String(contentsOfFile: Self.ruleTests, encoding: .utf8)
        for alert in try Self.alertNames() {
            #expect(tests.contains("alertname: \(alert)\n"), "\(alert) has no promtool test")
        }
    }

    /// The example scrape configuration loads, with the rules where it expects them.
    @Test func promtoolChecksTheExampleConfiguration() throws {
        let dir = temporaryDirectory("prometheus-config")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = try String(contentsOfFile: repositoryRoot + "/contrib/prometheus/prometheus.yml", encoding: .utf8)
            .replacingOccurrences(of: "/etc/prometheus/volumed-rules.yml", with: Self.rules)
        try text.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let result = try Self.promtool().run(["check", "config", dir + "/prometheus.yml"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("SUCCESS: 6 rules found"), "\(result.stdout)")
    }

    static func alertNames() throws -> [String] {
        try String(contentsOfFile: rules, encoding: .utf8).split(separator: "\n")
            .compactMap { line in
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                return trimmed.hasPrefix("- alert: ") ? String(trimmed.dropFirst("- alert: ".count)) : nil
            }
    }

    /// `promtool check metrics` (names, types, HELP, units) on what a live service serves, with
    /// backends in every kind of state and the in-process scheduler's series.
    @Test func promtoolAcceptsTheLiveMetrics() throws {
        let promtool = try Self.promtool()
        let dir = temporaryDirectory("metrics-lint")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir)
        try config.addBackendsInEveryState()
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()
        #expect(
            api.waitFor(base + "/drivers") {
                state("gold", $0) == "ready" && state("tin", $0) == "failed"
                    && state("silver", $0) == "retrying"
            } != nil, "stderr: \(volumed.stderr)")
        _ = try api.get(base + "/v3/scheduler-stats/get_pools")
        let metrics = try CurlClientText.get(base + "/metrics")
        #expect(metrics.contains("volumed_supervision_last_tick_timestamp_seconds "))
        #expect(
            metrics.contains(
                #"volumed_backend_last_error_info{backend="tin",host="faulthost@tin",kind="config_error",class="unrecoverable"} 1"#
            ))
        let result = try promtool.run(["check", "metrics"], input: metrics)
        #expect(
            result.status == 0 && result.stdout.isEmpty && result.stderr.isEmpty,
            "promtool check metrics: \(result.stdout)\(result.stderr)")
    }

    /// Debian's prometheus on loopback scrapes a live volumed every second with the repository's
    /// rules; a backend whose storage disappears exhausts its one re-initialization, and
    /// Prometheus's HTTP API reports VolumedDriverExhausted firing for it, next to VolumedDriverFailed
    /// for a misconfigured one, with its error kind.
    @Test(.enabled(if: Tool.available("prometheus"), "prometheus is not installed; scripts/setup --test installs it"))
    func aRealPrometheusFiresTheAlerts() throws {
        let prometheusTool = try ExternalTool("prometheus", package: "prometheus")
        let dir = temporaryDirectory("prometheus")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir, defaults: ["reinit_driver_count": "1"])
        try config.addNfs("gold")
        config.add("tin", "volume_driver = cinder.volume.drivers.nfs.NfsDriver\n")
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()
        #expect(api.waitFor(base + "/drivers") { state("gold", $0) == "ready" } != nil, "stderr: \(volumed.stderr)")

        let target = String(base.dropFirst("http://".count))
        let port = try #require(Loopback.reservePort())
        try """
        global:
          scrape_interval: 1s
          evaluation_interval: 1s
        rule_files: ["\(Self.rules)"]
        scrape_configs:
          - job_name: volumed
            static_configs:
              - targets: ["\(target)"]
        """.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = try VolumedProcess(
            [
                "--config.file=\(dir)/prometheus.yml", "--storage.tsdb.path=\(dir)/tsdb",
                "--web.listen-address=127.0.0.1:\(port)",
            ], executable: URL(fileURLWithPath: prometheusTool.path))
        defer { prometheus.stop() }
        let prometheusURL = "http://127.0.0.1:\(port)"

        // The scrape works and nothing fires for gold while it is ready.
        let scraped = api.waitFor(prometheusURL + "/api/v1/targets") { document in
            let active = ((document["data"] as? [String: Any])?["activeTargets"] as? [[String: Any]]) ?? []
            return active.contains { $0["health"] as? String == "up" }
        }
        #expect(scraped != nil, "prometheus never scraped volumed: \(prometheus.stderr.suffix(2000))")
        let failed = try #require(
            Self.waitForAlert(prometheusURL, "VolumedDriverFailed", backend: "tin"),
            "prometheus: \(prometheus.stderr.suffix(2000))")
        #expect(failed["kind"] as? String == "config_error")
        #expect(try Self.firingAlerts(prometheusURL).allSatisfy { $0["backend"] as? String != "gold" })

        // gold's storage disappears: retrying, its one re-initialization fails, exhausted.
        try FileManager.default.removeItem(atPath: config.shareDirectory("gold"))
        #expect(api.waitFor(base + "/drivers") { state("gold", $0) == "exhausted" } != nil, "stderr: \(volumed.stderr)")
        let exhausted = Self.waitForAlert(prometheusURL, "VolumedDriverExhausted", backend: "gold")
        #expect(exhausted?["severity"] as? String == "critical", "prometheus: \(prometheus.stderr.suffix(2000))")

        prometheus.signal(SIGTERM)
        #expect(prometheus.waitForExit(timeout: 30) == 0, "prometheus: \(prometheus.stderr.suffix(2000))")
    }

    /// The labels of every firing alert.
    static func firingAlerts(_ prometheusURL: String) throws -> [[String: Any]] {
        let document = try JSONClient().get(prometheusURL + "/api/v1/alerts").json
        let alerts = ((document["data"] as? [String: Any])?["alerts"] as? [[String: Any]]) ?? []
        return alerts.filter { $0["state"] as? String == "firing" }.compactMap { $0["labels"] as? [String: Any] }
    }

    /// Polls Prometheus's alerts until `alert` fires for `backend`; returns its labels.
    static func waitForAlert(_ prometheusURL: String, _ alert: String, backend: String) -> [String: Any]? {
        var found: [String: Any]?
        _ = waitUntil(seconds: 60) {
            found = (try? firingAlerts(prometheusURL))?.first {
                $0["alertname"] as? String == alert && $0["backend"] as? String == backend
            }
            return found != nil
        }
        return found
    }
}

/// A text body over the product's libcurl client.
enum CurlClientText {
    static func get(_ url: String) throws -> String {
        let response = try JSONClient().client.get(url)
        guard response.status == 200 else { throw FaultTestError("GET \(url): \(response.status)") }
        return String(decoding: response.body, as: UTF8.self)
    }
}
