import Foundation
import SharedTestSupport
import Testing

/// `[coordination] backend_url` with real `volumed serve` and `volumed scheduler` processes on a
/// real three-member etcd (issue 14): schedulers list every host's pools from etcd alone, and a
/// host that dies leaves them within `service_down_time`.
@Suite("Cluster mode: volumed processes on a real etcd", .offCooperativePool, .serialized)
struct ClusterModeTests {
    static let downTime = 3.0

    func coordination(_ cluster: EtcdCluster) -> String {
        "\n[coordination]\nbackend_url = \(cluster.backendURL)\n"
    }

    /// Starts `volumed serve` with one NFS backend (`gold`) in cluster mode, as `host` (FaultConfig's
    /// by default), with `coordination` lines added to `[coordination]`.
    func startHost(
        _ cluster: EtcdCluster, directory: String, host: String = FaultConfig.host, backend: String = "gold",
        coordination more: String = ""
    ) throws -> (VolumedProcess, String, FaultConfig) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var config = FaultConfig(
            directory: directory, defaults: ["service_down_time": "\(Self.downTime)", "host": host])
        try config.addNfs(backend)
        let path = directory + "/volumed.conf"
        try (config.text + coordination(cluster) + more).write(toFile: path, atomically: true, encoding: .utf8)
        let host = try VolumedProcess(["serve", "--config", path])
        guard let base = host.waitForURL() else {
            host.stop()
            throw FaultTestError("volumed printed no URL; stderr: \(host.stderr)")
        }
        return (host, base, config)
    }

    @Test func schedulersListAHostsPoolsFromEtcdAndDropThemWhenItIsKilled() throws {
        let cluster = try EtcdCluster()
        let dir = temporaryDirectory("cluster")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The schedulers' own staleness (60 s) cannot explain a quick departure: only the host's lease can.
        let extra = "service_down_time = 60\n" + coordination(cluster)
        let (first, firstBase) = try startScheduler(directory: dir, extra: extra)
        defer { first.stop() }
        let (second, secondBase) = try startScheduler(directory: dir, extra: extra)
        defer { second.stop() }
        let (host, hostBase, _) = try startHost(cluster, directory: dir)
        defer { host.stop() }
        let api = JSONClient()
        // Both schedulers, and the host's own get_pools, list gold: none was posted a report.
        for base in [firstBase, secondBase, hostBase] {
            #expect(
                api.waitFor(base + "/v3/scheduler-stats/get_pools", timeout: 30) { listsBackend("gold", $0) } != nil,
                "\(base); host stderr: \(host.stderr)")
        }
        #expect(host.stderr.contains("cluster mode"))

        host.signal(SIGKILL)
        _ = host.waitForExit(timeout: 10)
        let killed = Date()
        for base in [firstBase, secondBase] {
            #expect(
                api.waitFor(base + "/v3/scheduler-stats/get_pools", timeout: 30) { !listsBackend("gold", $0) } != nil)
        }
        // The lease lapses within its TTL (service_down_time) plus etcd's expiry check and the watch.
        #expect(Date().timeIntervalSince(killed) < Self.downTime + 3)
    }

    @Test func aHostStartedWhileEtcdIsDownRunsAloneAndJoinsWhenItComes() throws {
        let cluster = try EtcdCluster()
        for member in cluster.members.indices { cluster.kill(member) }
        let dir = temporaryDirectory("cluster-late")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (host, hostBase, _) = try startHost(cluster, directory: dir)
        defer { host.stop() }
        let api = JSONClient()
        // No crash: the host serves its own API and supervises its driver without etcd.
        #expect(
            api.waitFor(hostBase + "/v3/os-services", timeout: 30) { document in
                ((document["services"] as? [[String: Any]]) ?? []).contains {
                    ($0["host"] as? String) == hostOf("gold")
                }
            } != nil)
        #expect(
            host.waitForOutput(timeout: 30) { _, stderr in stderr.contains("not in the cluster") },
            "stderr: \(host.stderr)")
        #expect(host.process.isRunning)
        // Its own get_pools is fed its own reports directly, not back from etcd: it lists gold meanwhile.
        #expect(
            api.waitFor(hostBase + "/v3/scheduler-stats/get_pools", timeout: 10) { listsBackend("gold", $0) } != nil)
        for member in cluster.members.indices { try cluster.restart(member) }
        let (scheduler, schedulerBase) = try startScheduler(
            directory: dir, extra: "service_down_time = \(Self.downTime)\n" + coordination(cluster))
        defer { scheduler.stop() }
        #expect(
            api.waitFor(schedulerBase + "/v3/scheduler-stats/get_pools", timeout: 60) { listsBackend("gold", $0) }
                != nil,
            "host stderr: \(host.stderr)")
    }

    @Test func anOrderlyStopLeavesTheClusterAtOnce() throws {
        let cluster = try EtcdCluster()
        let dir = temporaryDirectory("cluster-stop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A long service_down_time: only the revoked lease can explain a quick departure.
        let extra = "service_down_time = 120\n" + coordination(cluster)
        let (scheduler, schedulerBase) = try startScheduler(directory: dir, extra: extra)
        defer { scheduler.stop() }
        var config = FaultConfig(directory: dir, defaults: ["service_down_time": "120"])
        try config.addNfs("gold")
        let path = dir + "/volumed.conf"
        try (config.text + coordination(cluster)).write(toFile: path, atomically: true, encoding: .utf8)
        let host = try VolumedProcess(["serve", "--config", path])
        defer { host.stop() }
        #expect(host.waitForURL() != nil)
        let api = JSONClient()
        #expect(
            api.waitFor(schedulerBase + "/v3/scheduler-stats/get_pools", timeout: 30) { listsBackend("gold", $0) }
                != nil)
        host.signal(SIGTERM)
        #expect(host.waitForExit(timeout: 30) == 0, "stderr: \(host.stderr)")
        #expect(
            api.waitFor(schedulerBase + "/v3/scheduler-stats/get_pools", timeout: 10) { !listsBackend("gold", $0) }
                != nil)
    }

    /// The pool names a process's get_pools lists, [] when it does not answer.
    func pools(_ base: String) -> [String] {
        (try? JSONClient().get(base + "/v3/scheduler-stats/get_pools")).map { poolNames($0.json) } ?? []
    }

    /// By default a host watches only its own keys (issue 14, scale): its get_pools lists its own
    /// pools and not another host's, while a scheduler lists both; a decision taken on a scheduler
    /// still takes effect on the host. `host_follows_cluster = true` brings the cluster-wide view back.
    @Test func aHostWatchesOnlyItsOwnKeysUnlessToldToFollowTheCluster() throws {
        let cluster = try EtcdCluster()
        let dir = temporaryDirectory("cluster-own-keys")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (scheduler, schedulerBase) = try startScheduler(
            directory: dir, extra: "service_down_time = 60\n" + coordination(cluster))
        defer { scheduler.stop() }
        let (own, ownBase, _) = try startHost(cluster, directory: dir + "/own", host: "ownhost")
        defer { own.stop() }
        let (follower, followerBase, _) = try startHost(
            cluster, directory: dir + "/follower", host: "followhost", backend: "silver",
            coordination: "host_follows_cluster = true\n")
        defer { follower.stop() }
        let api = JSONClient()
        func lists(_ node: String, _ backend: String) -> ([String: Any]) -> Bool {
            { poolNames($0).contains { $0.hasPrefix("\(node)@\(backend)#") } }
        }
        // The scheduler and the host that follows the cluster list both hosts' pools.
        for base in [schedulerBase, followerBase] {
            #expect(
                api.waitFor(base + "/v3/scheduler-stats/get_pools", timeout: 30) {
                    lists("ownhost", "gold")($0) && lists("followhost", "silver")($0)
                } != nil,
                "\(base): \(pools(base)); own stderr: \(own.stderr); follower stderr: \(follower.stderr)")
        }
        // The default host lists its own pool from its own reports, and never the other host's,
        // although that report is in etcd (above) and rewritten every 0.2 s tick.
        #expect(
            api.waitFor(ownBase + "/v3/scheduler-stats/get_pools", timeout: 10, lists("ownhost", "gold")) != nil,
            "\(pools(ownBase))")
        #expect(
            !waitUntil(seconds: 3) { pools(ownBase).contains { $0.hasPrefix("followhost@") } },
            "\(pools(ownBase))")
        #expect(
            try api.get(ownBase + "/v3/os-services").json["services"].map { "\($0)" }?.contains("followhost") == false)
        #expect(own.stderr.contains("host_follows_cluster=false"), "\(own.stderr)")
        #expect(follower.stderr.contains("host_follows_cluster=true"), "\(follower.stderr)")

        // A decision taken on the scheduler reaches the host through its watch of its own decision keys.
        let disabled = try api.send(
            "PUT", schedulerBase + "/v3/os-services/disable",
            json: ["host": "ownhost@gold", "binary": "cinder-volume"])
        #expect(disabled.status == 200, "\(disabled.json)")
        #expect(
            api.waitFor(ownBase + "/v3/os-services", timeout: 10) { document in
                ((document["services"] as? [[String: Any]]) ?? []).contains {
                    ($0["host"] as? String) == "ownhost@gold" && ($0["status"] as? String) == "disabled"
                }
            } != nil,
            "own stderr: \(own.stderr)")
        #expect(
            api.waitFor(ownBase + "/v3/scheduler-stats/get_pools", timeout: 10) { !lists("ownhost", "gold")($0) }
                != nil)
        #expect(
            api.waitFor(schedulerBase + "/v3/scheduler-stats/get_pools", timeout: 10) {
                !lists("ownhost", "gold")($0) && lists("followhost", "silver")($0)
            } != nil)
    }
}
