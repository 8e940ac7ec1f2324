import Coordination
import CurlClient
import Foundation
import ServiceDecisions
import SharedTestSupport
import Supervision
import Testing

/// Operator decisions in cluster mode (issue 14), with real `volumed serve` and `volumed scheduler`
/// processes on a real three-member etcd: a decision sent to any scheduler is stored in etcd and in
/// force on every scheduler and on the host; it outlives the host's process and its local file;
/// without quorum it is refused with nothing changed, and schedulers say their view is stale; a
/// host's existing state file is carried over where etcd has no decision.
@Suite("Cluster mode: operator decisions in etcd", .serialized, .offCooperativePool)
struct DecisionsClusterModeTests {
    static let gold = hostOf("gold")
    static let silver = hostOf("silver")

    func coordination(_ cluster: EtcdCluster) -> String {
        "\n[coordination]\nbackend_url = \(cluster.backendURL)\n"
    }

    /// `volumed serve` with NFS backends `names`, in cluster mode, its state under `<directory>/state`.
    func startHost(_ cluster: EtcdCluster, directory: String, backends names: [String] = ["gold"]) throws -> (
        VolumedProcess, String
    ) {
        var config = FaultConfig(directory: directory, defaults: ["service_down_time": "3"])
        for name in names { try config.addNfs(name) }
        let path = directory + "/volumed.conf"
        try (config.text + coordination(cluster)).write(toFile: path, atomically: true, encoding: .utf8)
        let host = try VolumedProcess(["serve", "--config", path])
        guard let base = host.waitForURL() else {
            host.stop()
            throw FaultTestError("volumed printed no URL; stderr: \(host.stderr)")
        }
        return (host, base)
    }

    func scheduler(_ cluster: EtcdCluster, directory: String) throws -> (VolumedProcess, String) {
        // A long service_down_time: pools never go stale on their own during a test.
        try startScheduler(directory: directory, extra: "service_down_time = 60\n" + coordination(cluster))
    }

    /// The os-services entry of `host` in a list, if any.
    func service(_ host: String, _ document: [String: Any]) -> [String: Any]? {
        (document["services"] as? [[String: Any]])?.first {
            $0["host"] as? String == host && $0["binary"] as? String == "cinder-volume"
        }
    }

    func entry(_ host: String, has field: String, _ value: String) -> ([String: Any]) -> Bool {
        { document in service(host, document).map { "\($0[field] ?? "nil")" == value } ?? false }
    }

    func stale(_ url: String) -> String? {
        (try? JSONClient().client.get(url))?.headers.first {
            $0.name.lowercased() == "x-volumed-cluster-stale"
        }?.value
    }

    @Test func aDecisionSentToOneSchedulerIsInForceOnTheOtherAndOnTheHost() throws {
        let cluster = try EtcdCluster()
        let dir = temporaryDirectory("cluster-decide")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (first, a) = try scheduler(cluster, directory: dir)
        defer { first.stop() }
        let (second, b) = try scheduler(cluster, directory: dir)
        defer { second.stop() }
        let (host, hostBase) = try startHost(cluster, directory: dir)
        defer { host.stop() }
        let api = JSONClient()
        for base in [a, b] {
            #expect(
                api.waitFor(base + "/v3/os-services", timeout: 30, entry(Self.gold, has: "state", "up")) != nil,
                "\(base); host stderr: \(host.stderr)")
            #expect(
                api.waitFor(base + "/v3/scheduler-stats/get_pools", timeout: 30) { listsBackend("gold", $0) } != nil)
        }
        // The whole list, Cinder's shape at the newest microversion, filters included.
        let listed = try #require(
            api.waitFor(a + "/v3/os-services?host=\(Self.gold)&binary=cinder-volume") { _ in true })
        let gold = try #require(service(Self.gold, listed))
        #expect(gold["status"] as? String == "enabled")
        #expect(gold["zone"] as? String == "nova")
        #expect(gold["backend_state"] as? String == "up")
        #expect(gold["frozen"] as? Bool == false)
        #expect(gold["replication_status"] as? String == "disabled")
        #expect((listed["services"] as? [Any])?.count == 1)
        #expect(try api.get(a + "/v3/os-services?host=nobody@gold").json["services"] as? [Any] != nil)
        #expect((try api.get(a + "/v3/os-services?host=nobody@gold").json["services"] as? [Any])?.isEmpty == true)

        let disabled = try api.send(
            "PUT", a + "/v3/os-services/disable-log-reason",
            json: ["host": Self.gold, "binary": "cinder-volume", "disabled_reason": "maintenance"])
        #expect(disabled.status == 200, "\(disabled.json)")
        #expect(disabled.json["status"] as? String == "disabled")
        #expect(disabled.json["disabled_reason"] as? String == "maintenance")
        // Scheduler B, the host's own API, and both get_pools.
        #expect(
            api.waitFor(b + "/v3/os-services", timeout: 10, entry(Self.gold, has: "disabled_reason", "maintenance"))
                != nil)
        #expect(
            api.waitFor(hostBase + "/v3/os-services", timeout: 10, entry(Self.gold, has: "status", "disabled")) != nil)
        for base in [a, b] {
            #expect(
                api.waitFor(base + "/v3/scheduler-stats/get_pools", timeout: 10) { !listsBackend("gold", $0) } != nil)
        }

        // freeze on B, seen frozen on A and on the host; thaw on the host's own API, seen on A and B.
        #expect(try api.send("PUT", b + "/v3/os-services/freeze", json: ["host": Self.gold]).status == 200)
        #expect(api.waitFor(a + "/v3/os-services", timeout: 10, entry(Self.gold, has: "frozen", "1")) != nil)
        #expect(api.waitFor(hostBase + "/v3/os-services", timeout: 10, entry(Self.gold, has: "frozen", "1")) != nil)
        let thawed = try api.send("PUT", hostBase + "/v3/os-services/thaw", json: ["host": Self.gold])
        #expect(thawed.status == 200, "\(thawed.json)")
        for base in [a, b] {
            #expect(
                api.waitFor(base + "/v3/os-services", timeout: 10, entry(Self.gold, has: "status", "enabled")) != nil)
            #expect(
                api.waitFor(base + "/v3/scheduler-stats/get_pools", timeout: 10) { listsBackend("gold", $0) } != nil)
        }
        // A service the cluster does not know is 404; the host API's own actions are not the scheduler's.
        #expect(
            try api.send(
                "PUT", a + "/v3/os-services/disable", json: ["host": "nobody@gold", "binary": "cinder-volume"]
            ).status == 404)
        #expect(try api.send("PUT", a + "/v3/os-services/failover_host", json: ["host": Self.gold]).status == 404)
    }

    @Test func aDecisionOutlivesTheHostsProcessAndItsLocalFile() throws {
        let cluster = try EtcdCluster()
        let dir = temporaryDirectory("cluster-restart")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (first, a) = try scheduler(cluster, directory: dir)
        defer { first.stop() }
        var (host, hostBase) = try startHost(cluster, directory: dir)
        defer { host.stop() }
        let api = JSONClient()
        #expect(api.waitFor(a + "/v3/os-services", timeout: 30, entry(Self.gold, has: "state", "up")) != nil)
        #expect(
            try api.send("PUT", a + "/v3/os-services/disable", json: ["host": Self.gold, "binary": "cinder-volume"])
                .status == 200)
        #expect(
            api.waitFor(hostBase + "/v3/os-services", timeout: 10, entry(Self.gold, has: "status", "disabled")) != nil)

        host.signal(SIGTERM)
        #expect(host.waitForExit(timeout: 30) == 0, "stderr: \(host.stderr)")
        // Gone, not forgotten: listed down from its last-seen record, with its decision.
        let down = api.waitFor(a + "/v3/os-services", timeout: 10, entry(Self.gold, has: "state", "down"))
        #expect(down.flatMap { service(Self.gold, $0)?["status"] as? String } == "disabled")
        // The host's local copy goes too: only etcd can tell the restarted host.
        try? FileManager.default.removeItem(atPath: dir + "/state/service-state.json")
        (host, hostBase) = try startHost(cluster, directory: dir)
        #expect(
            api.waitFor(hostBase + "/v3/os-services", timeout: 20, entry(Self.gold, has: "status", "disabled")) != nil,
            "stderr: \(host.stderr)")
        #expect(api.waitFor(a + "/v3/os-services", timeout: 30, entry(Self.gold, has: "state", "up")) != nil)
        #expect(
            api.waitFor(a + "/v3/scheduler-stats/get_pools", timeout: 5) { _ in true }.map { !listsBackend("gold", $0) }
                == true)
    }

    @Test func withoutQuorumDecisionsAreRefusedAndSchedulersSayTheyAreStale() throws {
        let cluster = try EtcdCluster()
        let dir = temporaryDirectory("cluster-quorum")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (first, a) = try scheduler(cluster, directory: dir)
        defer { first.stop() }
        // A scheduler whose own staleness (2 s) is shorter than the outage below.
        let (quick, q) = try startScheduler(
            directory: dir, extra: "service_down_time = 2\n" + coordination(cluster))
        defer { quick.stop() }
        let (host, hostBase) = try startHost(cluster, directory: dir)
        defer { host.stop() }
        let api = JSONClient()
        let pools = a + "/v3/scheduler-stats/get_pools"
        #expect(api.waitFor(q + "/v3/scheduler-stats/get_pools", timeout: 30) { listsBackend("gold", $0) } != nil)
        #expect(api.waitFor(a + "/v3/os-services", timeout: 30, entry(Self.gold, has: "state", "up")) != nil)
        #expect(api.waitFor(pools, timeout: 30) { listsBackend("gold", $0) } != nil)
        #expect(stale(pools) == nil)
        #expect(stale(a + "/v3/os-services") == nil)

        cluster.kill(0)
        cluster.kill(1)
        #expect(waitUntil(seconds: 30) { stale(pools) != nil }, "scheduler stderr: \(first.stderr)")
        #expect(stale(a + "/v3/os-services") != nil)
        let metrics = String(decoding: try JSONClient().client.get(a + "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("volumed_scheduler_cluster_stale_seconds "))
        #expect(!metrics.contains("volumed_scheduler_cluster_stale_seconds 0\n"), "\(metrics)")
        // What it last saw is still answered, also past a service_down_time of silence.
        #expect(listsBackend("gold", try api.get(pools).json))
        let quickPools = q + "/v3/scheduler-stats/get_pools"
        #expect(waitUntil(seconds: 30) { (stale(quickPools).flatMap { Int($0) } ?? 0) >= 3 })
        #expect(listsBackend("gold", try api.get(quickPools).json))
        for base in [a, hostBase] {
            let refused = try api.send(
                "PUT", base + "/v3/os-services/disable", json: ["host": Self.gold, "binary": "cinder-volume"])
            #expect(refused.status == 503, "\(base): \(refused.json)")
            let message = (refused.json["serviceUnavailable"] as? [String: Any])?["message"] as? String ?? ""
            #expect(message.contains("etcd") && message.contains("nothing was changed"), "\(message)")
        }
        #expect(service(Self.gold, try api.get(hostBase + "/v3/os-services").json)?["status"] as? String == "enabled")
        #expect(host.process.isRunning)

        try cluster.restart(0)
        try cluster.restart(1)
        #expect(waitUntil(seconds: 30) { stale(pools) == nil }, "scheduler stderr: \(first.stderr)")
        #expect(service(Self.gold, try api.get(a + "/v3/os-services").json)?["status"] as? String == "enabled")
        #expect(listsBackend("gold", try api.get(pools).json))
        // And decisions are taken again.
        #expect(
            try api.send("PUT", a + "/v3/os-services/disable", json: ["host": Self.gold, "binary": "cinder-volume"])
                .status == 200)
    }

    @Test func aHostsStateFileIsCarriedOverWhereEtcdHasNoDecision() throws {
        let cluster = try EtcdCluster()
        let dir = temporaryDirectory("cluster-carry")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Before cluster mode: gold and silver disabled in the host's own file.
        try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
        try """
        {"version": 2, "services": [
          {"host": "\(Self.gold)", "binary": "cinder-volume", "disabled": true, "disabled_reason": "from the file", "frozen": false},
          {"host": "\(Self.silver)", "binary": "cinder-volume", "disabled": true, "disabled_reason": "before the cluster", "frozen": false}
        ]}
        """.write(toFile: dir + "/state/service-state.json", atomically: true, encoding: .utf8)
        // The cluster already decided about silver: enabled.
        let etcd = try EtcdClient(configuration: .init(endpoints: cluster.clientURLs))
        try ClusterDecisions(client: etcd, layout: ClusterLayout()!)
            .store(AdminState(), for: ServiceKey(host: Self.silver, binary: "cinder-volume"))

        let (first, a) = try scheduler(cluster, directory: dir)
        defer { first.stop() }
        let (host, hostBase) = try startHost(cluster, directory: dir, backends: ["gold", "silver"])
        defer { host.stop() }
        let api = JSONClient()
        for base in [a, hostBase] {
            #expect(
                api.waitFor(base + "/v3/os-services", timeout: 30) { document in
                    entry(Self.gold, has: "disabled_reason", "from the file")(document)
                        && entry(Self.silver, has: "status", "enabled")(document)
                } != nil, "\(base); host stderr: \(host.stderr)")
        }
        #expect(host.stderr.contains("carried an operator decision of the local state file over into etcd"))
        #expect(host.stderr.contains("etcd's is in force"))
        // The file is now the copy of what etcd holds.
        #expect(
            waitUntil(seconds: 10) {
                let text = (try? String(contentsOfFile: dir + "/state/service-state.json", encoding: .utf8)) ?? ""
                return text.contains("from the file") && !text.contains("before the cluster")
            })
    }
}
