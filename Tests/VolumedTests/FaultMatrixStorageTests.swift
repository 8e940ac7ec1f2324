import Foundation
import SharedTestSupport
import Testing

/// The fault matrix, storage side: storage that is late or flaps, a driver setup that hangs, each
/// error kind once, and an exhausted budget brought back by hand. Each case watches the driver
/// states and attempts (`/drivers`), os-services and the in-process scheduler's `get_pools`.
@Suite(.offCooperativePool) struct FaultMatrixStorageTests {
    @Test func storageLateAtStartComesUpByItself() throws {
        let dir = temporaryDirectory("late")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir, defaults: ["reinit_driver_count": "0", "osapi_volume_workers": "1"])
        try config.addNfs("late", present: false)
        try config.addNfs("steady")
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()
        // The URL (stdout) can reach us before the start-up log line (stderr) does.
        volumed.waitForOutput(timeout: 10) { _, err in err.contains("eventLoops=") }
        #expect(
            volumed.stderr.contains("eventLoops=1"),
            "osapi_volume_workers sets the API's event loops: \(volumed.stderr)")

        // Retrying while the storage is missing: several automatic attempts, never listed.
        let retrying = api.waitFor(base + "/drivers") { document in
            state("late", document) == "retrying"
                && (driver("late", in: document)?["reinit_attempts"] as? Int ?? 0) >= 2
                && state("steady", document) == "ready"
        }
        let late = try #require(retrying.flatMap { driver("late", in: $0) }, "stderr: \(volumed.stderr)")
        #expect(late["initialized"] as? Bool == false)
        #expect(late["reinit_limit"] as? Int == 0)
        #expect(late["next_reinit_at"] is String)
        #expect(lastError("late", retrying!)?["kind"] as? String == "backend_unavailable")
        #expect(lastError("late", retrying!)?["class"] as? String == "recoverable")
        let pools = api.waitFor(base + "/v3/scheduler-stats/get_pools") { listsBackend("steady", $0) }
        #expect(pools.map { listsBackend("late", $0) } == false)
        let services = try api.get(base + "/v3/services").json
        #expect(service(hostOf("late"), in: services)?["backend_state"] as? String == "down")
        #expect(
            service(hostOf("late"), in: services)?["state"] as? String == "up",
            "the process is alive: heartbeat goes on")
        #expect(service(hostOf("steady"), in: services)?["backend_state"] as? String == "up")

        try FileManager.default.createDirectory(
            atPath: config.shareDirectory("late"), withIntermediateDirectories: true)
        let ready = api.waitFor(base + "/drivers") { state("late", $0) == "ready" }
        #expect(driver("late", in: ready ?? [:])?["initialized"] as? Bool == true, "stderr: \(volumed.stderr)")
        #expect(
            api.waitFor(base + "/v3/scheduler-stats/get_pools") {
                listsBackend("late", $0) && listsBackend("steady", $0)
            } != nil)
        #expect(
            api.waitFor(base + "/v3/services") { service(hostOf("late"), in: $0)?["backend_state"] as? String == "up" }
                != nil)
        let history = api.transitions(base, "late")
        #expect(history.first == "initializing" && history.last == "ready", "\(history)")
        #expect(history.filter { $0 == "retrying" }.count >= 2, "\(history)")
        #expect(api.transitions(base, "steady") == ["initializing", "ready"])
    }

    @Test func storageFlappingWhilePublished() throws {
        let dir = temporaryDirectory("flap")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir, defaults: ["reinit_driver_count": "0"])
        try config.addNfs("flappy")
        try config.addNfs("steady")
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()
        let share = config.shareDirectory("flappy")

        #expect(
            api.waitFor(base + "/v3/scheduler-stats/get_pools") {
                listsBackend("flappy", $0) && listsBackend("steady", $0)
            } != nil,
            "stderr: \(volumed.stderr)")
        for cycle in 1...2 {
            // Down: the share disappears; the stats call fails, the backend leaves the pools.
            #expect(rmdir(share) == 0, "rmdir \(share): \(String(cString: strerror(errno)))")
            let down = api.waitFor(base + "/drivers") { state("flappy", $0) == "retrying" }
            #expect(lastError("flappy", down ?? [:])?["kind"] as? String == "backend_unavailable", "cycle \(cycle)")
            #expect(state("steady", down ?? [:]) == "ready")
            #expect(
                api.waitFor(base + "/v3/scheduler-stats/get_pools") {
                    !listsBackend("flappy", $0) && listsBackend("steady", $0)
                } != nil,
                "cycle \(cycle): get_pools still lists flappy")
            #expect(
                api.waitFor(base + "/v3/services") {
                    service(hostOf("flappy"), in: $0)?["backend_state"] as? String == "down"
                } != nil)

            // Up again: recreated, re-initialized by itself, listed again.
            try FileManager.default.createDirectory(atPath: share, withIntermediateDirectories: true)
            let up = api.waitFor(base + "/drivers") { state("flappy", $0) == "ready" }
            #expect(up != nil, "cycle \(cycle): never ready again; stderr: \(volumed.stderr)")
            #expect(
                api.waitFor(base + "/v3/scheduler-stats/get_pools") { listsBackend("flappy", $0) } != nil,
                "cycle \(cycle)")
        }
        let history = api.transitions(base, "flappy")
        #expect(history.filter { $0 == "ready" }.count == 3, "\(history)")
        #expect(history.last == "ready")
        #expect(api.transitions(base, "steady") == ["initializing", "ready"])
    }

    /// `vgs` never answers (it waits on a gate) and `lvm_tool_timeout` is far beyond
    /// `driver_init_timeout`: the supervisor's own timeout classifies it, the other backend and
    /// the API carry on, and SIGTERM still ends the process with 0.
    @Test func driverSetupThatHangsForever() throws {
        let dir = temporaryDirectory("hang")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vgs = try VgsStandIn.gated(directory: dir + "/tools", group: "vg-stuck")
        vgs.closeGate()
        defer { vgs.release() }
        var config = FaultConfig(directory: dir, defaults: ["driver_init_timeout": "1", "reinit_driver_count": "2"])
        config.addLvm("stuck", toolsDirectory: vgs.directory, toolTimeout: 120)
        try config.addNfs("steady")
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()

        let timedOut = api.waitFor(base + "/drivers") { document in
            lastError("stuck", document)?["kind"] as? String == "timeout" && state("steady", document) == "ready"
        }
        let error = try #require(timedOut.flatMap { lastError("stuck", $0) }, "stderr: \(volumed.stderr)")
        #expect(error["class"] as? String == "recoverable")
        #expect((error["message"] as? String)?.contains("driver_init_timeout") == true, "\(error)")
        // Every attempt hangs the same way until the budget of 2 is spent.
        let exhausted = api.waitFor(base + "/drivers") { state("stuck", $0) == "exhausted" }
        #expect(driver("stuck", in: exhausted ?? [:])?["reinit_attempts"] as? Int == 2, "stderr: \(volumed.stderr)")
        #expect(lastError("stuck", exhausted ?? [:])?["kind"] as? String == "timeout")
        #expect(vgs.calls == 3, "one first initialization and two automatic re-initializations")
        #expect(volumed.waitForOutput(timeout: 30) { _, err in err.contains("driver call timed out") })

        // The API answers throughout, and the healthy backend is published.
        for _ in 0..<20 {
            #expect(try api.get(base + "/v3/services").status == 200)
        }
        #expect(
            api.waitFor(base + "/v3/scheduler-stats/get_pools") {
                listsBackend("steady", $0) && !listsBackend("stuck", $0)
            } != nil)
        #expect(api.transitions(base, "steady") == ["initializing", "ready"])

        volumed.signal(SIGTERM)
        #expect(volumed.waitForExit(timeout: 30) == 0, "stderr: \(volumed.stderr)")
    }

    /// Storage that hangs after the driver came up: `get_volume_stats` runs past
    /// `driver_stats_timeout`, the backend leaves `ready` with a `timeout`, the other backend's
    /// reports keep going out every tick, and once the storage answers again the driver is back.
    @Test func statsCallThatHangs() throws {
        let dir = temporaryDirectory("stats-hang")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vgs = try VgsStandIn.gated(directory: dir + "/tools", group: "vg-lvm")
        defer { vgs.release() }
        var config = FaultConfig(
            directory: dir,
            defaults: [
                "driver_stats_timeout": "1", "reinit_driver_count": "0",
                "driver_init_timeout": "1",
            ])
        config.addLvm("lvm", toolsDirectory: vgs.directory, toolTimeout: 120)
        try config.addNfs("steady")
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()
        #expect(
            api.waitFor(base + "/v3/scheduler-stats/get_pools") {
                listsBackend("lvm", $0) && listsBackend("steady", $0)
            } != nil,
            "stderr: \(volumed.stderr)")

        vgs.closeGate()
        let hung = api.waitFor(base + "/drivers") { state("lvm", $0) == "retrying" }
        let error = try #require(hung.flatMap { lastError("lvm", $0) }, "stderr: \(volumed.stderr)")
        #expect(error["kind"] as? String == "timeout")
        #expect((error["message"] as? String)?.contains("get_volume_stats") == true, "\(error)")
        #expect(
            api.waitFor(base + "/v3/scheduler-stats/get_pools") {
                !listsBackend("lvm", $0) && listsBackend("steady", $0)
            } != nil)
        // The healthy backend's publishes keep advancing while the calls into lvm hang.
        let published = { (document: [String: Any]) in
            (driver("steady", in: document)?["last_publish"] as? [String: Any])?["at"] as? String ?? ""
        }
        let first = published(try api.get(base + "/drivers").json)
        let later = api.waitFor(base + "/drivers") { published($0) > first && lastPublishOK("steady", $0) == true }
        #expect(later != nil, "publishing stalled behind the hung stats call")

        vgs.release()
        #expect(api.waitFor(base + "/drivers") { state("lvm", $0) == "ready" } != nil, "stderr: \(volumed.stderr)")
        #expect(api.waitFor(base + "/v3/scheduler-stats/get_pools") { listsBackend("lvm", $0) } != nil)
        #expect(api.transitions(base, "steady") == ["initializing", "ready"])
    }

    /// One backend per error kind, each failing once: unrecoverable ones stay `failed` with no
    /// attempt ever made; recoverable ones are retried once and come up.
    @Test func eachErrorKindOnce() throws {
        let dir = temporaryDirectory("kinds")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir, defaults: ["reinit_driver_count": "3"])
        // config_error: a required option missing.
        config.add("misconfigured", "volume_driver = nfs\nvolume_backend_name = misconfigured\n")
        // driver_not_supported: an unknown driver, and a known one marked unsupported.
        config.add("unknown", "volume_driver = cinder.volume.drivers.acme.AcmeDriver\n")
        config.add("unsupported", "volume_driver = rest\nsan_api_url = http://127.0.0.1:9/api\n")
        // missing_library: LVM's tools are not there.
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        config.addLvm("nolvm", toolsDirectory: dir + "/empty")
        // backend_unavailable, timeout, other: the first vgs call fails so, later calls answer.
        let unavailable = try VgsStandIn(
            directory: dir + "/t-unavailable",
            script: """
                if [ "$n" = 0 ]; then echo '  Volume group "vg-unavailable" not found' >&2; exit 5; fi
                echo '\(VgsStandIn.report("vg-unavailable"))'
                """)
        let slow = try VgsStandIn(
            directory: dir + "/t-slow",
            script: """
                if [ "$n" = 0 ]; then sleep 20; fi
                echo '\(VgsStandIn.report("vg-slow"))'
                """)
        let garbled = try VgsStandIn(
            directory: dir + "/t-garbled",
            script: """
                if [ "$n" = 0 ]; then echo 'this is not a vgs report'; exit 0; fi
                echo '\(VgsStandIn.report("vg-garbled"))'
                """)
        config.addLvm("unavailable", toolsDirectory: unavailable.directory)
        config.addLvm("slow", toolsDirectory: slow.directory, toolTimeout: 0.5)
        config.addLvm("garbled", toolsDirectory: garbled.directory)
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()

        let expectations: [(id: String, kind: String, errorClass: String)] = [
            ("misconfigured", "config_error", "unrecoverable"), ("unknown", "driver_not_supported", "unrecoverable"),
            ("unsupported", "driver_not_supported", "unrecoverable"), ("nolvm", "missing_library", "unrecoverable"),
            ("unavailable", "backend_unavailable", "recoverable"), ("slow", "timeout", "recoverable"),
            ("garbled", "other", "recoverable"),
        ]
        let settled = api.waitFor(base + "/drivers") { document in
            expectations.allSatisfy {
                state($0.id, document) == ($0.errorClass == "unrecoverable" ? "failed" : "ready")
            }
        }
        let document = try #require(settled, "stderr: \(volumed.stderr)")
        // Several more ticks: nothing retries an unrecoverable error by itself.
        // Nothing to await (the claim is that nothing happens): the scenario lets 1.5 s of ticks pass.
        let startedAt = Date()
        _ = waitUntil(seconds: 3) { Date().timeIntervalSince(startedAt) >= 1.5 }
        let later = try api.get(base + "/drivers").json
        let pools = try #require(
            api.waitFor(base + "/v3/scheduler-stats/get_pools") { document in
                ["unavailable", "slow", "garbled"].allSatisfy { listsBackend($0, document) }
            })
        for (id, kind, errorClass) in expectations {
            let error = lastError(id, document)
            #expect(error?["kind"] as? String == kind, "\(id): \(String(describing: error))")
            #expect(error?["class"] as? String == errorClass, "\(id)")
            let history = api.transitions(base, id)
            if errorClass == "unrecoverable" {
                #expect(state(id, later) == "failed", "\(id)")
                #expect(driver(id, in: later)?["reinit_attempts"] as? Int == 0, "\(id)")
                #expect(driver(id, in: later)?["next_reinit_at"] is NSNull, "\(id)")
                #expect(history == ["initializing", "failed"], "\(id): \(history)")
                #expect(!listsBackend(id, pools), "\(id)")
            } else {
                #expect(state(id, later) == "ready", "\(id)")
                #expect(
                    driver(id, in: later)?["reinit_attempts"] as? Int == 1, "\(id): one automatic re-initialization")
                #expect(history == ["initializing", "retrying", "initializing", "ready"], "\(id): \(history)")
            }
        }
        #expect(
            (lastError("unsupported", document)?["message"] as? String)?.contains("enable_unsupported_driver") == true)
        #expect((lastError("slow", document)?["message"] as? String)?.contains("was killed") == true)
        for stand in [unavailable, slow, garbled] { #expect(stand.calls >= 2) }
    }

    /// The budget runs out while the storage is missing; fixing the storage alone does not bring
    /// the driver back, an operator's `POST /drivers/{id}/reinit?wait=10` does, with attempts reset.
    @Test func budgetExhaustedThenManualReinit() throws {
        let dir = temporaryDirectory("budget")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir, defaults: ["reinit_driver_count": "2"])
        try config.addNfs("gold", present: false)
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()

        let exhausted = api.waitFor(base + "/drivers") { state("gold", $0) == "exhausted" }
        let gold = try #require(exhausted.flatMap { driver("gold", in: $0) }, "stderr: \(volumed.stderr)")
        #expect(gold["reinit_attempts"] as? Int == 2)
        #expect(gold["reinit_limit"] as? Int == 2)
        #expect(gold["next_reinit_at"] is NSNull)
        #expect(lastError("gold", exhausted!)?["kind"] as? String == "backend_unavailable")
        #expect(
            api.transitions(base, "gold") == [
                "initializing", "retrying", "initializing", "retrying", "initializing", "exhausted",
            ])

        // Storage fixed: still exhausted after many ticks (no automatic attempt is left).
        try FileManager.default.createDirectory(
            atPath: config.shareDirectory("gold"), withIntermediateDirectories: true)
        let fixedAt = Date()  // nothing to await (the claim is that nothing happens): 1.5 s of ticks pass
        _ = waitUntil(seconds: 3) { Date().timeIntervalSince(fixedAt) >= 1.5 }
        let still = try api.get(base + "/drivers").json
        #expect(state("gold", still) == "exhausted")
        #expect(driver("gold", in: still)?["reinit_attempts"] as? Int == 2)

        let reinit = try api.send("POST", base + "/drivers/gold/reinit?wait=10")
        #expect(reinit.status == 200, "\(reinit.json)")
        let answered = reinit.json["driver"] as? [String: Any]
        #expect(answered?["state"] as? String == "ready")
        #expect(answered?["reinit_attempts"] as? Int == 0)
        #expect(answered?["initialized"] as? Bool == true)
        #expect(api.waitFor(base + "/v3/scheduler-stats/get_pools") { listsBackend("gold", $0) } != nil)
        #expect(try api.send("POST", base + "/drivers/nosuch/reinit?wait=1").status == 404)
    }
}
