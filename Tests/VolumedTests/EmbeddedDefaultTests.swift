import Foundation
import SharedTestSupport
import Testing

/// The README's run command, end to end: `volumed serve` on its embedded configuration shows one
/// backend down, and creating the directory it names brings it up with no restart.
@Suite(.offCooperativePool) struct EmbeddedDefaultTests {
    @Test func lateStorageComesUpByItself() throws {
        let data = temporaryDirectory("embedded")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let volumed = try VolumedProcess(["serve", "--data-dir", data, "--port", "0"])
        defer { volumed.stop() }
        let base = try #require(volumed.waitForURL(), "no URL printed; stderr: \(volumed.stderr)")
        #expect(volumed.stdout.contains("mkdir -p \(data)/shares/gold"))

        let api = JSONClient()
        let retrying = api.waitFor(base + "/drivers") { document in
            driver("nfs-gold", in: document)?["state"] as? String == "retrying"
                && driver("nfs-silver", in: document)?["state"] as? String == "ready"
        }
        let gold = try #require(retrying.flatMap { driver("nfs-gold", in: $0) }, "stderr: \(volumed.stderr)")
        let error = try #require(gold["last_error"] as? [String: Any])
        #expect(error["class"] as? String == "recoverable")
        #expect(error["kind"] as? String == "backend_unavailable")
        #expect(gold["initialized"] as? Bool == false)

        try FileManager.default.createDirectory(atPath: data + "/shares/gold", withIntermediateDirectories: true)
        let recovered = api.waitFor(base + "/drivers", timeout: 60) { document in
            driver("nfs-gold", in: document)?["state"] as? String == "ready"
        }
        #expect(recovered != nil, "nfs-gold never came up; stderr: \(volumed.stderr)")
        let services = try api.get(base + "/v3/services")
        let gold2 = (services.json["services"] as? [[String: Any]])?.first {
            ($0["host"] as? String)?.hasSuffix("@nfs-gold") == true
        }
        #expect(gold2?["backend_state"] as? String == "up")
        // The in-process scheduler heard about it through the real libcurl publisher.
        let pools = api.waitFor(base + "/v3/scheduler-stats/get_pools", timeout: 30) { document in
            ((document["pools"] as? [[String: Any]]) ?? []).contains {
                ($0["name"] as? String)?.contains("@nfs-gold#") == true
            }
        }
        #expect(pools != nil)

        volumed.signal(SIGTERM)
        #expect(volumed.waitForExit(timeout: 30) == 0)
    }
}
