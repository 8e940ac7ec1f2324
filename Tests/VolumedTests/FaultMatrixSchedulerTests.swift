import Foundation
import SharedTestSupport
import Testing

/// The fault matrix, scheduler side: the scheduler missing at start, restarted, slow beyond the
/// client timeout, answering 500. Publishing fails and says so in `last_publish`, the tick and the
/// heartbeat go on, and no driver state ever changes because of it.
@Suite(.offCooperativePool) struct FaultMatrixSchedulerTests {
    static func config(_ dir: String, schedulerURL: String, extra: [String: String] = [:]) throws -> FaultConfig {
        var config = FaultConfig(
            directory: dir, defaults: ["scheduler_url": schedulerURL].merging(extra) { _, new in new })
        try config.addNfs("gold")
        try config.addNfs("silver")
        return config
    }

    @Test func schedulerDownAtStartThenUp() throws {
        let dir = temporaryDirectory("sched-late")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = try #require(Loopback.reservePort())
        let config = try Self.config(dir, schedulerURL: "http://127.0.0.1:\(port)/v3/scheduler/capabilities")
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()

        let failing = api.waitFor(base + "/drivers") { document in
            lastPublishOK("gold", document) == false && lastPublishOK("silver", document) == false
        }
        let gold = try #require(failing.flatMap { driver("gold", in: $0) }, "stderr: \(volumed.stderr)")
        #expect(gold["state"] as? String == "ready")
        #expect(
            ((gold["last_publish"] as? [String: Any])?["error"] as? String)?.contains("unreachable") == true, "\(gold)")
        #expect(volumed.waitForOutput(timeout: 30) { _, err in err.contains("publishing capabilities failed") })

        let (scheduler, schedulerBase) = try startScheduler(directory: dir, port: port)
        defer { scheduler.stop() }
        let publishing = api.waitFor(base + "/drivers") { document in
            lastPublishOK("gold", document) == true && lastPublishOK("silver", document) == true
        }
        #expect(publishing != nil, "stderr: \(volumed.stderr)")
        #expect(
            api.waitFor(schedulerBase + "/v3/scheduler-stats/get_pools") {
                listsBackend("gold", $0) && listsBackend("silver", $0)
            } != nil,
            "scheduler stderr: \(scheduler.stderr)")
        for id in ["gold", "silver"] {
            #expect(
                api.transitions(base, id) == ["initializing", "ready"], "\(id): publishing never touches driver state")
        }
    }

    @Test func schedulerRestartedMidRun() throws {
        let dir = temporaryDirectory("sched-restart")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var (scheduler, schedulerBase) = try startScheduler(directory: dir)
        defer { scheduler.stop() }
        let port = try #require(Loopback.port(of: schedulerBase))
        let config = try Self.config(dir, schedulerURL: schedulerBase + "/v3/scheduler/capabilities")
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()

        #expect(
            api.waitFor(schedulerBase + "/v3/scheduler-stats/get_pools") {
                listsBackend("gold", $0) && listsBackend("silver", $0)
            } != nil,
            "stderr: \(volumed.stderr)")
        #expect(api.waitFor(base + "/drivers") { lastPublishOK("gold", $0) == true } != nil)

        // The scheduler dies: publishes fail and are logged.
        scheduler.signal(SIGKILL)
        #expect(scheduler.waitForExit(timeout: 30) != 0)
        let failing = api.waitFor(base + "/drivers") {
            lastPublishOK("gold", $0) == false && lastPublishOK("silver", $0) == false
        }
        #expect(failing != nil, "stderr: \(volumed.stderr)")
        #expect(volumed.waitForOutput(timeout: 30) { _, err in err.contains("publishing capabilities failed") })

        // It comes back on the same port, empty: the next ticks fill it again.
        (scheduler, schedulerBase) = try startScheduler(directory: dir, port: port)
        #expect(
            api.waitFor(schedulerBase + "/v3/scheduler-stats/get_pools") {
                listsBackend("gold", $0) && listsBackend("silver", $0)
            } != nil,
            "scheduler stderr: \(scheduler.stderr)")
        #expect(
            api.waitFor(base + "/drivers") { lastPublishOK("gold", $0) == true && lastPublishOK("silver", $0) == true }
                != nil)
        for id in ["gold", "silver"] {
            #expect(api.transitions(base, id) == ["initializing", "ready"], "\(id)")
        }
    }

    /// A scheduler that takes 5 s per report against `scheduler_timeout = 0.5`: each publish gives up
    /// at the timeout, the next ticks publish again (the stand-in counts the attempts), and the
    /// heartbeat in os-services keeps advancing.
    @Test(.enabled(if: Tool.available("python3"), "python3 is not installed; scripts/setup --test installs it"))
    func schedulerSlowerThanTheClientTimeout() throws {
        let dir = temporaryDirectory("sched-slow")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let peer = try SchedulerStandIn(status: 204, delay: 5)
        defer { peer.stop() }
        let config = try Self.config(
            dir, schedulerURL: peer.capabilitiesURL,
            extra: ["scheduler_timeout": "0.5", "scheduler_connect_timeout": "0.5"])
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()

        let failing = api.waitFor(base + "/drivers") { lastPublishOK("gold", $0) == false }
        let error = (driver("gold", in: failing ?? [:])?["last_publish"] as? [String: Any])?["error"] as? String
        #expect(
            error?.lowercased().contains("timed out") == true, "\(String(describing: error)); stderr: \(volumed.stderr)"
        )

        let firstBeat = try #require(
            service(hostOf("gold"), in: try api.get(base + "/v3/services").json)?["updated_at"] as? String)
        #expect(
            waitUntil(seconds: 60) { peer.posts(using: api) >= 4 },
            "the tick stopped publishing: \(peer.posts(using: api)) posts")
        let advanced = api.waitFor(base + "/v3/services") { document in
            (service(hostOf("gold"), in: document)?["updated_at"] as? String ?? "") > firstBeat
        }
        #expect(service(hostOf("gold"), in: advanced ?? [:])?["state"] as? String == "up")
        #expect(service(hostOf("gold"), in: advanced ?? [:])?["backend_state"] as? String == "up")
        // The API never waits on the scheduler.
        for _ in 0..<10 { #expect(try api.get(base + "/drivers").status == 200) }
        for id in ["gold", "silver"] {
            #expect(api.transitions(base, id) == ["initializing", "ready"], "\(id)")
        }
    }

    @Test(.enabled(if: Tool.available("python3"), "python3 is not installed; scripts/setup --test installs it"))
    func schedulerAnswering500() throws {
        let dir = temporaryDirectory("sched-500")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let peer = try SchedulerStandIn(status: 500, delay: 0)
        defer { peer.stop() }
        let config = try Self.config(dir, schedulerURL: peer.capabilitiesURL)
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()

        let failing = api.waitFor(base + "/drivers") {
            lastPublishOK("gold", $0) == false && lastPublishOK("silver", $0) == false
        }
        let error = (driver("gold", in: failing ?? [:])?["last_publish"] as? [String: Any])?["error"] as? String
        #expect(error?.contains("answered 500") == true, "\(String(describing: error)); stderr: \(volumed.stderr)")
        #expect(error?.contains("scheduler stand-in failure") == true, "the scheduler's own words reach the operator")
        let before = peer.posts(using: api)
        #expect(waitUntil(seconds: 60) { peer.posts(using: api) >= before + 3 }, "publishing stopped after 500s")
        #expect(volumed.waitForOutput(timeout: 30) { _, err in err.contains("publishing capabilities failed") })
        for id in ["gold", "silver"] {
            #expect(api.transitions(base, id) == ["initializing", "ready"], "\(id)")
        }
    }
}
