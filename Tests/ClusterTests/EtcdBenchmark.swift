import Coordination
import Foundation
import SharedTestSupport
import Supervision
import Synchronization
import Testing

@testable import VolumeService

/// Not a test: measures the etcd client on a real three-member cluster on loopback (request latency
/// through the JSON gateway and libcurl, a keep-alive, a 128-write transaction, one host publishing
/// 1,000 reports, the lag from a put to the watch) and writes the figures to
/// `VOLUMED_ETCD_BENCH_OUT`. Enabled only when that variable is set (`scripts/bench-etcd`).
@Suite("etcd benchmark", .offCooperativePool)
struct EtcdBenchmark {
    static let output = ProcessInfo.processInfo.environment["VOLUMED_ETCD_BENCH_OUT"]

    /// CPU seconds (user + system) of this process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    static func percentiles(_ samples: [Double]) -> String {
        let sorted = samples.sorted()
        func at(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000 }
        return String(
            format: "p50 %.2f ms, p99 %.2f ms, max %.2f ms (n=%d)", at(0.5), at(0.99), sorted.last! * 1000, sorted.count
        )
    }

    static func time(_ count: Int, _ body: (Int) throws -> Void) rethrows -> (samples: [Double], cpuPerCall: Double) {
        var samples: [Double] = []
        samples.reserveCapacity(count)
        let cpu = cpuSeconds()
        for index in 0..<count {
            let start = DispatchTime.now().uptimeNanoseconds
            try body(index)
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return (samples, (cpuSeconds() - cpu) / Double(count))
    }

    @Test("measure the etcd client", .enabled(if: output != nil))
    func measure() throws {
        let cluster = try EtcdCluster()
        let etcd = try EtcdClient(configuration: .init(endpoints: cluster.clientURLs))
        var lines: [String] = []
        func record(_ name: String, _ result: (samples: [Double], cpuPerCall: Double)) {
            lines.append(
                "\(name): \(Self.percentiles(result.samples)); client CPU \(String(format: "%.3f", result.cpuPerCall * 1000)) ms per call"
            )
        }
        let value = [UInt8](repeating: 0x61, count: 900)
        for index in 0..<50 { try etcd.put("/warm/\(index)", value: value) }
        record("put 900 B", try Self.time(2000) { try etcd.put("/bench/\($0 % 100)", value: value) })
        record("get (linearizable)", try Self.time(2000) { _ = try etcd.get("/bench/\($0 % 100)") })
        let lease = try etcd.grantLease(ttl: 60)
        record("lease keepalive", try Self.time(1000) { _ in try etcd.keepAlive(lease.id) })
        let operations = (0..<128).map { EtcdOperation.put(key: "/txn/\($0)", value: value, lease: lease.id) }
        record(
            "txn of 128 puts of 900 B",
            try Self.time(200) { _ in _ = try etcd.transaction(compare: [], success: operations) })

        // One host with 1,000 backends publishing a tick.
        let layout = ClusterLayout(root: "/bench-cluster")!
        let membership = ClusterMembership(
            client: etcd, layout: layout, serviceDownTime: 60, zone: "nova", apiURL: { "http://h:8776" })
        defer { membership.abandon() }
        guard waitUntil(seconds: 10, { if case .held = membership.status { true } else { false } }) else {
            Issue.record("no lease")
            return
        }
        let reports = (0..<1000).map { index in
            BackendReport(
                backendID: "b\(index)", host: String(format: "bench@b%04d", index), timestamp: Date(),
                backendState: .up,
                adminState: AdminState(),
                capabilities: VolumeStats(
                    volumeBackendName: "b\(index)", vendorName: "Open Source", driverVersion: "1.0",
                    storageProtocol: "nfs",
                    totalCapacityGB: .gib(1000), freeCapacityGB: .gib(500),
                    pools: [PoolStats(poolName: "b\(index)", totalCapacityGB: .gib(1000), freeCapacityGB: .gib(500))]))
        }
        let first = try Self.time(1) { _ in _ = try membership.publishServiceCapabilities(reports) }
        record("publish 1,000 reports, first tick (reports + service + last-seen: 3,000 writes)", first)
        let ticks = try Self.time(20) { _ in _ = try membership.publishServiceCapabilities(reports) }
        record("publish 1,000 reports, later ticks (1,000 writes in 8 transactions)", ticks)
        lines.append(String(format: "  = %.3f ms of client CPU per backend per tick", ticks.cpuPerCall * 1000 / 1000))

        // The lag from a put to its delivery by a watch on another member.
        let delivered = Mutex<[Int64: UInt64]>([:])
        let watchClient = try EtcdClient(configuration: .init(endpoints: Array(cluster.clientURLs.reversed())))
        let watch = EtcdWatch(client: watchClient, keys: .prefix("/lag/")) { update in
            guard case .changes(_, let events) = update else { return }
            let now = DispatchTime.now().uptimeNanoseconds
            delivered.withLock { for event in events { $0[event.modRevision] = now } }
        }
        defer { watch.stop() }
        _ = waitUntil(seconds: 10) { watch.endpoint != nil }
        var lags: [Double] = []
        for index in 0..<500 {
            let start = DispatchTime.now().uptimeNanoseconds
            let revision = try etcd.put("/lag/\(index % 10)", value: value)
            guard waitUntil(seconds: 10, { delivered.withLock { $0[revision] != nil } }) else {
                Issue.record("watch missed revision \(revision)")
                return
            }
            lags.append(Double(delivered.withLock { $0[revision]! } - start) / 1e9)
        }
        lines.append("put then watch delivery (put latency included): \(Self.percentiles(lags))")
        try (lines.joined(separator: "\n") + "\n").write(toFile: Self.output!, atomically: true, encoding: .utf8)
    }
}
