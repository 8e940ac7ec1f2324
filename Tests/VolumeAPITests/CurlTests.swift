import Foundation
import SharedTestSupport
import Testing

/// What an operator would type: the same API driven by the `curl` binary.
@Suite(
    "with curl", .offCooperativePool,
    .enabled(if: Tool.available("curl"), "curl is not installed; scripts/setup installs it"))
struct CurlTests {
    /// Runs curl with `arguments`; returns its exit status and standard output.
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try ExternalTool("curl", package: "curl").run(
            ["--silent", "--show-error", "--max-time", "60"] + arguments)
        return (result.status, result.stdout)
    }

    @Test("an operator disables a backend with a reason, lists services, and re-initializes a driver")
    func operatorSession() throws {
        let backend = TestBackend("nfs-gold", misconfigured: true)
        // A tick far away: each tick moves the service's heartbeat (`updated_at`), and with it the
        // ETag, so a tick landing between the list and the conditional request below would answer 200.
        let harness = try APIHarness([backend], tick: 60, adminToken: "admin-secret")
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "failed"))
        let base = harness.baseURL

        let disable = try Self.run([
            "-X", "PUT", "-H", "X-Auth-Token: admin-secret", "-H", "Content-Type: application/json",
            "-d", #"{"host": "node1@nfs-gold", "binary": "cinder-volume", "disabled_reason": "swapping a disk"}"#,
            "-w", "\n%{http_code}", "\(base)/v3/os-services/disable-log-reason",
        ])
        #expect(disable.status == 0)
        #expect(disable.output.hasSuffix("\n200"))
        #expect(disable.output.contains(#""disabled_reason": "swapping a disk""#))

        let list = try Self.run(["--include", "\(base)/v3/os-services?binary=cinder-volume"])
        #expect(list.output.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(list.output.contains(#""status": "disabled""#))
        let etag = try #require(list.output.split(separator: "\r\n").first { $0.lowercased().hasPrefix("etag:") })
            .dropFirst(5).trimmingCharacters(in: .whitespaces)
        let cached = try Self.run([
            "-o", "/dev/null", "-w", "%{http_code}", "-H", "If-None-Match: \(etag)",
            "\(base)/v3/os-services?binary=cinder-volume",
        ])
        #expect(cached.output == "304")

        let unauthorized = try Self.run(["-X", "POST", "-w", "\n%{http_code}", "\(base)/drivers/nfs-gold/reinit"])
        #expect(unauthorized.output.hasSuffix("\n401"))

        backend.driver.misconfigured = false
        let reinit = try Self.run([
            "-X", "POST", "-H", "X-Auth-Token: admin-secret", "-w", "\n%{http_code}",
            "\(base)/drivers/nfs-gold/reinit?wait=30",
        ])
        #expect(reinit.output.hasSuffix("\n200"))
        #expect(reinit.output.contains(#""state": "ready""#))

        let metrics = try Self.run(["\(base)/metrics"])
        #expect(metrics.output.contains(#"volumed_backend_disabled{backend="nfs-gold",host="node1@nfs-gold"} 1"#))
    }
}
