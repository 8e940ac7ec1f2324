import Foundation
import SharedTestSupport
import Testing

/// Not a test: keeps a volume service with 1,000 backends (1 s tick, in-process scheduler) serving
/// for `VOLUMED_API_BENCH_SECONDS` and writes its port to `VOLUMED_API_BENCH_PORT_FILE`, so `wrk`
/// can measure what a polling dashboard costs. Enabled only when both variables are set.
@Suite("dashboard benchmark", .offCooperativePool)
struct DashboardBenchmark {
    static let environment = ProcessInfo.processInfo.environment

    @Test(
        "serve 1,000 backends for wrk",
        .enabled(
            if: environment["VOLUMED_API_BENCH_SECONDS"] != nil
                && environment["VOLUMED_API_BENCH_PORT_FILE"] != nil))
    func serve() throws {
        let seconds = Double(Self.environment["VOLUMED_API_BENCH_SECONDS"] ?? "") ?? 30
        let backends = (0..<1000).map { index in
            TestBackend(String(format: "nfs-%04d", index), storagePresent: index % 10 != 0)
        }
        let harness = try APIHarness(backends, tick: 1, withScheduler: true)
        defer { harness.stop() }
        #expect(try waitUntil(seconds: 60) { try harness.poolNames().count == 900 })
        try "\(harness.port)".write(
            toFile: Self.environment["VOLUMED_API_BENCH_PORT_FILE"]!, atomically: true, encoding: .utf8)
        usleep(useconds_t(min(seconds, 600) * 1_000_000))  // the scenario: serve the benchmark for its length
    }
}
