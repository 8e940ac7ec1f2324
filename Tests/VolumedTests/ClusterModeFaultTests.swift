import Foundation
import SharedTestSupport
import Testing

/// Issue 14's faults, end to end: real `volumed serve` and `volumed scheduler` processes on a real
/// three-member etcd, one fault each (a member killed, quorum lost, a member hung, a scheduler
/// killed). What an operator sees is read where an operator reads it: each scheduler's `get_pools`
/// and the host's own API. (A host killed, and etcd absent at start-up, are in ClusterModeTests.)
@Suite("Cluster mode: faults of etcd and of schedulers", .offCooperativePool, .serialized)
struct ClusterModeFaultTests {
    /// The hosts' lease TTL: short, so a lost lease would show within a test.
    static let hostDownTime = 3.0
    /// The hosts' tick (`backend_stats_polling_interval`).
    static let tick = 1.0

    /// `backend_url` naming member `first` first: every process talks to it until it fails, so the
    /// fault is aimed at the member the cluster's clients use. `query` adds tooz's options.
    static func backendURL(_ cluster: EtcdCluster, first: Int, query: String = "") -> String {
        let order = [first] + cluster.members.indices.filter { $0 != first }
        return "etcd3+http://" + order.map { "127.0.0.1:\(cluster.members[$0].clientPort)" }.joined(separator: ",")
            + (query.isEmpty ? "" : "?" + query)
    }

    /// A member that does not lead: killing or stopping it costs no election, so whatever changes
    /// is the clients' doing.
    static func follower(_ cluster: EtcdCluster) throws -> Int {
        let leader = try #require(cluster.leaderIndex())
        return (leader + 1) % cluster.members.count
    }

    /// `volumed serve` in cluster mode with `gold` (ready) and `silver` (its share is missing:
    /// retrying until the test creates it).
    static func startHost(backendURL: String, directory: String) throws -> (VolumedProcess, String, FaultConfig) {
        var config = FaultConfig(
            directory: directory,
            defaults: [
                "service_down_time": "\(hostDownTime)", "backend_stats_polling_interval": "\(tick)",
                // Silver retries for as long as its share is missing (the default gives up after 3).
                "reinit_driver_count": "0",
            ])
        try config.addNfs("gold")
        try config.addNfs("silver", present: false)
        let (host, base) = try serveInClusterMode(config, backendURL: backendURL, directory: directory)
        return (host, base, config)
    }

    /// `volumed serve` on `config` joined to the etcd cluster at `backendURL`, once it printed its URL.
    static func serveInClusterMode(_ config: FaultConfig, backendURL: String, directory: String) throws -> (
        VolumedProcess, String
    ) {
        let path = directory + "/volumed.conf"
        try (config.text + "\n[coordination]\nbackend_url = \(backendURL)\n").write(
            toFile: path, atomically: true, encoding: .utf8)
        let host = try VolumedProcess(["serve", "--config", path])
        guard let base = host.waitForURL() else {
            host.stop()
            throw FaultTestError("volumed printed no URL; stderr: \(host.stderr)")
        }
        return (host, base)
    }

    /// A scheduler in cluster mode. Its own staleness (60 s) outlasts every outage here: what it
    /// lists is what etcd last told it.
    static func startClusterScheduler(backendURL: String, directory: String, port: Int = 0) throws -> (
        VolumedProcess, String
    ) {
        try startScheduler(
            directory: directory, port: port,
            extra: "service_down_time = 60\n\n[coordination]\nbackend_url = \(backendURL)\n")
    }

    /// The scheduler's stale marker on an answer (`X-Volumed-Cluster-Stale`), nil when absent.
    static func staleMarker(_ url: String) -> String? {
        (try? JSONClient().client.get(url))?.header("X-Volumed-Cluster-Stale")
    }

    static func pools(_ base: String) -> [String]? {
        guard let (status, json) = try? JSONClient().get(base + "/v3/scheduler-stats/get_pools"), status == 200 else {
            return nil
        }
        return poolNames(json).sorted()
    }

    /// Until `deadline`, every scheduler answers get_pools with exactly `expected`, and the host's
    /// own API answers with gold up. Returns the first deviation, nil when there was none.
    static func holdsSteady(
        schedulers: [String], expected: [String], host: String, seconds: Double
    ) -> String? {
        let api = JSONClient()
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            for base in schedulers {
                let listed = pools(base)
                if listed != expected { return "\(base) get_pools: \(listed.map(\.description) ?? "no answer")" }
            }
            guard let (status, services) = try? api.get(host + "/v3/os-services"), status == 200,
                service(hostOf("gold"), in: services)?["state"] as? String == "up"
            else { return "the host's os-services did not answer with gold up" }
            usleep(100_000)  // the scenario: the cluster holds steady for a while; sampled every 100 ms
        }
        return nil
    }

    /// The cast of every fault here: two cluster schedulers and one host on `backendURL`, in a
    /// directory of their own, returned once both schedulers list the host's gold pool.
    struct Scene {
        let directory: String
        let first: VolumedProcess
        let firstBase: String
        let second: VolumedProcess
        let secondBase: String
        let host: VolumedProcess
        let hostBase: String
        let config: FaultConfig

        init(backendURL url: String, label: String) throws {
            directory = temporaryDirectory(label)
            var started: [VolumedProcess] = []
            do {
                (first, firstBase) = try ClusterModeFaultTests.startClusterScheduler(
                    backendURL: url, directory: directory)
                started.append(first)
                (second, secondBase) = try ClusterModeFaultTests.startClusterScheduler(
                    backendURL: url, directory: directory)
                started.append(second)
                (host, hostBase, config) = try ClusterModeFaultTests.startHost(backendURL: url, directory: directory)
            } catch {
                for process in started.reversed() { process.stop() }
                try? FileManager.default.removeItem(atPath: directory)
                throw error
            }
            let api = JSONClient()
            for base in [firstBase, secondBase] {
                #expect(
                    api.waitFor(base + "/v3/scheduler-stats/get_pools", timeout: 30) { listsBackend("gold", $0) }
                        != nil,
                    "host stderr: \(host.stderr)")
            }
        }

        /// Stops what it started, the host first, and removes its directory.
        func stop() {
            host.stop()
            second.stop()
            first.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    @Test func oneMemberOfThreeKilledChangesNothingAnOperatorSees() throws {
        let cluster = try EtcdCluster()
        let victim = try Self.follower(cluster)
        let url = Self.backendURL(cluster, first: victim)
        let scene = try Scene(backendURL: url, label: "cluster-member")
        defer { scene.stop() }
        let (first, firstBase, second, secondBase) = (scene.first, scene.firstBase, scene.second, scene.secondBase)
        let (host, hostBase, config) = (scene.host, scene.hostBase, scene.config)
        let api = JSONClient()
        let before = try #require(Self.pools(firstBase))
        #expect(Self.pools(secondBase) == before)

        cluster.kill(victim)
        // Every answer over several ticks is what it was: the clients move to the other members.
        let deviation = Self.holdsSteady(
            schedulers: [firstBase, secondBase], expected: before, host: hostBase, seconds: 4 * Self.tick)
        #expect(deviation == nil, "host stderr: \(host.stderr)")
        // And reports still flow: silver, brought up now, reaches both schedulers through the others.
        try FileManager.default.createDirectory(
            atPath: config.shareDirectory("silver"), withIntermediateDirectories: true)
        for (base, scheduler) in [(firstBase, first), (secondBase, second)] {
            #expect(
                api.waitFor(base + "/v3/scheduler-stats/get_pools", timeout: 20) {
                    listsBackend("silver", $0) && listsBackend("gold", $0)
                } != nil,
                "host stderr: \(host.stderr)\nscheduler stderr: \(scheduler.stderr)")
        }
        #expect(!host.stderr.contains("cluster lease lost"), "stderr: \(host.stderr)")
    }

    @Test func quorumLostHostsKeepSupervisingSchedulersKeepWhatTheySawAndAllConvergeWhenItReturns() throws {
        let cluster = try EtcdCluster()
        let survivor = try Self.follower(cluster)
        let url = Self.backendURL(cluster, first: survivor, query: "timeout=1")
        let scene = try Scene(backendURL: url, label: "cluster-quorum")
        defer { scene.stop() }
        let (first, firstBase, second, secondBase) = (scene.first, scene.firstBase, scene.second, scene.secondBase)
        let (host, hostBase, config) = (scene.host, scene.hostBase, scene.config)
        let api = JSONClient()
        let before = try #require(Self.pools(firstBase))
        #expect(!before.contains { $0.hasPrefix(hostOf("silver")) }, "silver's share is missing: not listed")

        let lost = cluster.members.indices.filter { $0 != survivor }
        for member in lost { cluster.kill(member) }
        // The host learns it: its publishes fail (a whole TTL without a renewal drops the lease).
        #expect(
            host.waitForOutput(timeout: 30) { _, stderr in stderr.contains("publishing capabilities failed") },
            "stderr: \(host.stderr)")
        // The host goes on supervising: silver's storage arrives during the outage and its driver is
        // re-initialized and ready, and the host's own API says so.
        try FileManager.default.createDirectory(
            atPath: config.shareDirectory("silver"), withIntermediateDirectories: true)
        let ready = api.waitFor(hostBase + "/drivers", timeout: 20) { state("silver", $0) == "ready" }
        #expect(ready != nil, "stderr: \(host.stderr)")
        #expect(api.transitions(hostBase, "silver").last == "ready")
        #expect(
            api.waitFor(hostBase + "/v3/os-services", timeout: 10) {
                service(hostOf("silver"), in: $0)?["state"] as? String == "up"
            } != nil)
        // The schedulers answer from what they last saw, over several ticks of outage, and say so.
        let deviation = Self.holdsSteady(
            schedulers: [firstBase, secondBase], expected: before, host: hostBase, seconds: 3 * Self.tick)
        #expect(deviation == nil)
        for base in [firstBase, secondBase] {
            #expect(
                waitUntil(seconds: 10) { Self.staleMarker(base + "/v3/scheduler-stats/get_pools") != nil },
                "\(base) get_pools carries no stale marker")
        }
        // An operator decision cannot be made durable: 503 with a fault, from a scheduler and from
        // the host's own API, and nothing changes.
        let disable: [String: Any] = ["host": hostOf("gold"), "binary": "cinder-volume"]
        for base in [firstBase, hostBase] {
            let (status, fault) = try api.send("PUT", base + "/v3/os-services/disable", json: disable)
            #expect(status == 503, "\(base): \(fault)")
            #expect((fault["serviceUnavailable"] as? [String: Any])?["message"] is String, "\(base): \(fault)")
        }
        #expect(host.process.isRunning && first.process.isRunning && second.process.isRunning)

        for member in lost { try cluster.restart(member) }
        #expect(waitUntil(seconds: 30) { cluster.acceptsWrites(through: cluster.members[survivor]) })
        let back = ContinuousClock.now
        // The host's new lease (granted within half a second) and its next tick, while each watch
        // resumes after its retry pause (at most 2 s, once more when its first try meets a restarted
        // member that has no leader yet): a few seconds, inside one tick of 10 s or more.
        for base in [firstBase, secondBase] {
            #expect(
                api.waitFor(base + "/v3/scheduler-stats/get_pools", timeout: 20) {
                    listsBackend("silver", $0) && listsBackend("gold", $0)
                } != nil,
                "host stderr: \(host.stderr)")
        }
        let converged = ContinuousClock.now - back
        #expect(converged < .seconds(Self.tick + 5), "converged after \(converged)")
        for base in [firstBase, secondBase] {
            #expect(
                waitUntil(seconds: 5) { Self.staleMarker(base + "/v3/scheduler-stats/get_pools") == nil },
                "\(base) still says stale")
            // The refused decision changed nothing: gold is enabled and listed.
            let services = try api.get(base + "/v3/os-services").json
            #expect(service(hostOf("gold"), in: services)?["status"] as? String == "enabled", "\(services)")
        }
        // Nothing flaps afterwards: the old lease's expiry removes nothing the new one rewrote.
        let after = try #require(Self.pools(firstBase))
        let flap = Self.holdsSteady(
            schedulers: [firstBase, secondBase], expected: after, host: hostBase, seconds: Self.hostDownTime + 2)
        #expect(flap == nil)
    }

    @Test func aHungMemberStallsNeitherTheHostNorTheSchedulersWatch() throws {
        let cluster = try EtcdCluster()
        let victim = try Self.follower(cluster)
        // One second per request: a renewal to the hung member fails over long before the 3 s TTL.
        let url = Self.backendURL(cluster, first: victim, query: "timeout=1")
        let scene = try Scene(backendURL: url, label: "cluster-hung")
        defer { scene.stop() }
        let (first, firstBase, second, secondBase) = (scene.first, scene.firstBase, scene.second, scene.secondBase)
        let (host, hostBase, config) = (scene.host, scene.hostBase, scene.config)
        let api = JSONClient()
        let before = try #require(Self.pools(firstBase))

        cluster.pause(victim)
        defer { cluster.resume(victim) }
        // Its connections stay open and silent; nothing an operator sees stalls or changes.
        let deviation = Self.holdsSteady(
            schedulers: [firstBase, secondBase], expected: before, host: hostBase, seconds: 4 * Self.tick)
        #expect(deviation == nil)
        let hung = ContinuousClock.now
        try FileManager.default.createDirectory(
            atPath: config.shareDirectory("silver"), withIntermediateDirectories: true)
        for (base, scheduler) in [(firstBase, first), (secondBase, second)] {
            #expect(
                api.waitFor(base + "/v3/scheduler-stats/get_pools", timeout: 20) {
                    listsBackend("silver", $0) && listsBackend("gold", $0)
                } != nil,
                "host stderr: \(host.stderr)\nscheduler stderr: \(scheduler.stderr)")
        }
        // A tick, the driver's re-initialization, and at most one quiet probe with its timeout.
        #expect(ContinuousClock.now - hung < .seconds(10))
        #expect(!host.stderr.contains("cluster lease lost"), "the lease held: \(host.stderr)")
    }

    @Test func aKilledSchedulerLeavesTheOtherAnsweringAndARestartedOneCatchesUpFromEtcdAlone() throws {
        let cluster = try EtcdCluster()
        let url = cluster.backendURL
        let scene = try Scene(backendURL: url, label: "cluster-scheduler")
        defer { scene.stop() }
        let (first, firstBase, secondBase) = (scene.first, scene.firstBase, scene.secondBase)
        let (hostBase, config, dir) = (scene.hostBase, scene.config, scene.directory)
        let api = JSONClient()
        let before = try #require(Self.pools(secondBase))
        let port = try #require(URLComponents(string: firstBase)?.port)

        first.signal(SIGKILL)
        _ = first.waitForExit(timeout: 10)
        #expect(
            Self.holdsSteady(schedulers: [secondBase], expected: before, host: hostBase, seconds: 2 * Self.tick) == nil)
        // A change while it is gone reaches the survivor...
        try FileManager.default.createDirectory(
            atPath: config.shareDirectory("silver"), withIntermediateDirectories: true)
        let now = try #require(
            api.waitFor(secondBase + "/v3/scheduler-stats/get_pools", timeout: 20) { listsBackend("silver", $0) })
        // ...and a new scheduler on the old port, with no state and no report posted to it, lists
        // the same pools from etcd alone.
        let (restarted, restartedBase) = try Self.startClusterScheduler(backendURL: url, directory: dir, port: port)
        defer { restarted.stop() }
        #expect(restartedBase == firstBase)
        #expect(
            api.waitFor(restartedBase + "/v3/scheduler-stats/get_pools", timeout: 20) {
                poolNames($0).sorted() == poolNames(now).sorted()
            } != nil,
            "restarted: \(Self.pools(restartedBase) ?? []), survivor: \(poolNames(now))")
    }
}
