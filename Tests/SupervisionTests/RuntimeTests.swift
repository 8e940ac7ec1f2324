import Foundation
import SharedTestSupport
import Testing

@testable import Supervision

/// Settings short enough for tests on a loaded machine, with waits that stay generous.
func fastSettings(limit: Int = 3, initTimeout: TimeInterval = 30, statsTimeout: TimeInterval = 30) -> BackendSettings {
    BackendSettings(
        reinitDriverCount: limit, driverInitTimeout: initTimeout, statsTimeout: statsTimeout,
        enableUnsupportedDriver: false, reinitBackoffMax: 0.1)
}

/// For a driver held on a gate that the test itself releases: its init timeout must never fire first.
/// Async tests can wait tens of seconds for a cooperative thread while the rest of the suite's
/// blocking tests run beside them on two cores (a 30 s timeout was seen firing that way).
func hangSettings() -> BackendSettings { fastSettings(initTimeout: 3600) }

extension SupervisorSet {
    func abandonedCalls(_ id: String) -> Int { withState { state, _ in state.record(id)?.abandonedCalls.count ?? -1 } }
    var isPublishing: Bool { withState { state, _ in state.publishInFlight } }
}

@Suite("Supervisor set at run time", .offCooperativePool)
struct RuntimeTests {
    @Test("a hung driver does not delay another backend's recovery")
    func hungDriverDoesNotBlockOthers() async throws {
        let gate = Gate()
        defer { gate.release() }
        let hung = ScriptedDriver(name: "lvm", initSteps: [.hang(gate)])
        let flaky = ScriptedDriver.failing(2)
        let set = try makeSet(tick: 0.05)
        try set.addBackend(
            BackendDefinition(id: "hung", volumeBackendName: "lvm", driver: hung, settings: hangSettings()))
        try set.addBackend(
            BackendDefinition(id: "flaky", volumeBackendName: "nfs", driver: flaky, settings: fastSettings()))
        set.start()
        defer { set.stop() }

        #expect(await waitUntil { set.snapshot().state("flaky") == .ready })
        let snapshot = set.snapshot()
        #expect(snapshot.state("hung") == .initializing)
        #expect(hung.returned == 0, "the hung call is still hung while the other backend recovered")
        #expect(flaky.initCalls == 3)
        #expect(
            snapshot.backend(id: "flaky")?.transitions.map(\.to) == [
                .initializing, .retrying, .initializing, .retrying, .initializing, .ready,
            ])

        gate.release()
        #expect(await waitUntil { set.snapshot().state("hung") == .ready })
        #expect(hung.initCalls == 1)
    }

    @Test("an initialization past driver_init_timeout fails with `timeout`, and its late success is ignored")
    func initTimeoutAndLateResult() async throws {
        let gate = Gate()
        defer { gate.release() }
        let driver = ScriptedDriver(
            initSteps: [.hang(gate)], thenInit: .fail(DriverError(.backendUnavailable, "no route")))
        let set = try makeSet(tick: 0.05)
        try set.addBackend(
            BackendDefinition(
                id: "slow", volumeBackendName: "nfs", driver: driver,
                settings: fastSettings(limit: 1, initTimeout: 1.0)))
        set.start()
        defer { set.stop() }

        #expect(await waitUntil { set.snapshot().state("slow") == .exhausted })
        #expect(set.abandonedCalls("slow") == 1)
        gate.release()
        #expect(await waitUntil { set.abandonedCalls("slow") == 0 })
        let backend = try #require(set.snapshot().backend(id: "slow"))
        #expect(backend.state == .exhausted)
        #expect(backend.initialized == false)
        #expect(backend.transitions.map(\.to) == [.initializing, .retrying, .initializing, .exhausted])
        #expect(backend.counters.failuresByKind == [.timeout: 1, .backendUnavailable: 1])
        #expect(backend.lastError?.kind == .backendUnavailable)
        #expect(driver.initCalls == 2)
    }

    @Test("a stats call that hangs or throws takes the driver to retrying; it then comes back")
    func statsFailuresAtRunTime() async throws {
        let gate = Gate()
        defer { gate.release() }
        let hanging = ScriptedDriver(statsSteps: [.succeed, .hang(gate)])
        let throwing = ScriptedDriver(statsSteps: [
            .succeed, .fail(DriverError(.backendUnavailable, "export vanished")),
        ])
        let set = try makeSet(tick: 0.05)
        try set.addBackend(
            BackendDefinition(
                id: "hang", volumeBackendName: "nfs", driver: hanging,
                settings: fastSettings(limit: 0, statsTimeout: 1.5)))
        try set.addBackend(
            BackendDefinition(id: "throw", volumeBackendName: "nfs", driver: throwing, settings: fastSettings(limit: 0))
        )
        set.start()
        defer { set.stop() }

        for id in ["hang", "throw"] {
            #expect(
                await waitUntil {
                    (set.snapshot().backend(id: id)?.transitions.map(\.to) ?? []).starts(with: [
                        .initializing, .ready, .retrying, .initializing, .ready,
                    ])
                })
        }
        let snapshot = set.snapshot()
        #expect(snapshot.backend(id: "hang")?.counters.failuresByKind == [.timeout: 1])
        #expect(snapshot.backend(id: "hang")?.lastError?.message == "get_volume_stats did not finish within 1.5s")
        #expect(snapshot.backend(id: "throw")?.counters.failuresByKind == [.backendUnavailable: 1])
        #expect(
            snapshot.backend(id: "throw")?.transitions[2].reason
                == "recoverable backend_unavailable: export vanished; next attempt in 0.05s")
    }

    @Test("a driver recovers once the file it needs appears")
    func fileAppears() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("volumed-sup-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let driver = FileGatedDriver(path: path)
        let set = try makeSet(tick: 0.05)
        try set.addBackend(
            BackendDefinition(id: "gated", volumeBackendName: "gated", driver: driver, settings: fastSettings(limit: 0))
        )
        set.start()
        defer { set.stop() }

        // Between two attempts it is `retrying`; a read can land inside an attempt (`initializing`).
        #expect(await waitUntil { driver.checkCalls >= 3 && set.snapshot().state("gated") == .retrying })
        #expect(set.snapshot().backend(id: "gated")?.initialized == false)
        #expect(FileManager.default.createFile(atPath: path, contents: Data("share\n".utf8)))
        #expect(await waitUntil { set.snapshot().backend(id: "gated")?.capabilities == sampleStats("gated") })
        #expect(set.snapshot().state("gated") == .ready)
    }

    @Test("reports: ready backends up with stats, failed and exhausted ones down with no capacity")
    func reportsPerState() async throws {
        let publisher = RecordingPublisher()
        let set = try makeSet(tick: 0.05, publisher: publisher)
        try set.addBackend(
            BackendDefinition(id: "ok", volumeBackendName: "nfs", driver: ScriptedDriver(), settings: fastSettings()))
        try set.addBackend(
            BackendDefinition(
                id: "bad", volumeBackendName: "nfs",
                driver: ScriptedDriver.failing(1, with: DriverError(.configError, "nfs_shares_config missing")),
                settings: fastSettings()))
        try set.addBackend(
            BackendDefinition(
                id: "gone", volumeBackendName: "nfs", driver: ScriptedDriver.failing(100),
                settings: fastSettings(limit: 1)))
        set.start()
        defer { set.stop() }

        #expect(
            await waitUntil {
                publisher.batches.contains { batch in
                    Set(batch.map(\.host)) == ["node1@ok", "node1@bad", "node1@gone"]
                        && batch.first { $0.host == "node1@gone" }?.backendState == .down
                        && set.snapshot().state("gone") == .exhausted
                }
            })
        let ok = try #require(publisher.lastReport(host: "node1@ok"))
        #expect(ok.backendState == .up)
        #expect(ok.capabilities == sampleStats())
        #expect(ok.backendID == "ok")
        let bad = try #require(publisher.lastReport(host: "node1@bad"))
        #expect(bad.backendState == .down)
        #expect(bad.capabilities == nil)
        #expect(set.snapshot().state("bad") == .failed)
    }

    @Test("a failing scheduler changes no driver state and the loop goes on")
    func failingPublisher() async throws {
        let publisher = RecordingPublisher(.fail)
        let driver = ScriptedDriver()
        let set = try makeSet(tick: 0.05, publisher: publisher)
        try set.addBackend(
            BackendDefinition(id: "a", volumeBackendName: "nfs", driver: driver, settings: fastSettings()))
        set.start()
        defer { set.stop() }

        #expect(await waitUntil { (set.snapshot().backend(id: "a")?.counters.publishesFailed ?? 0) >= 5 })
        let backend = try #require(set.snapshot().backend(id: "a"))
        #expect(backend.state == .ready)
        #expect(backend.transitions.map(\.to) == [.initializing, .ready])
        #expect(backend.lastPublish?.ok == false)
        #expect(backend.lastPublish?.error == "scheduler answered 503")
        #expect(backend.counters.publishesOK == 0)
        #expect(driver.statsCallCount >= 5)

        publisher.setMode(.accept)
        #expect(await waitUntil { set.snapshot().backend(id: "a")?.lastPublish?.ok == true })
        #expect(set.snapshot().backend(id: "a")?.transitions.map(\.to) == [.initializing, .ready])
        #expect(publisher.lastReport(host: "node1@a")?.capabilities == sampleStats())
    }

    @Test("a slow scheduler does not stall the tick: publishes are coalesced")
    func slowPublisherCoalesces() async throws {
        let gate = Gate()
        defer { gate.release() }
        let publisher = RecordingPublisher(.block(gate))
        let set = try makeSet(tick: 0.05, publisher: publisher)
        try set.addBackend(
            BackendDefinition(id: "a", volumeBackendName: "nfs", driver: ScriptedDriver(), settings: fastSettings()))
        try set.addBackend(
            BackendDefinition(
                id: "b", volumeBackendName: "nfs",
                driver: ScriptedDriver.failing(1, with: DriverError(.missingLibrary, "no lvm2")),
                settings: fastSettings()))
        set.start()
        defer { set.stop() }

        let firstBeat = try #require(set.snapshot().backend(id: "a")?.updatedAt)
        #expect(await waitUntil { set.snapshot().publishesCoalesced >= 5 })
        let snapshot = set.snapshot()
        #expect(publisher.calls == 1, "one publish in flight, the rest waiting merged")
        #expect(try #require(snapshot.backend(id: "a")?.updatedAt) > firstBeat, "heartbeats go on")
        #expect(snapshot.state("a") == .ready)
        #expect(snapshot.state("b") == .failed)

        gate.release()
        #expect(await waitUntil { publisher.batches.count >= 3 })
        let second = publisher.batches[1]
        #expect(second.map(\.host) == ["node1@a", "node1@b"], "the coalesced batch holds one (newest) report per host")
        #expect(await waitUntil { set.snapshot().backend(id: "a")?.lastPublish?.ok == true })
    }

    @Test("manual reinit: resets the budget and reports when it finished, timed out, or found nothing")
    func manualReinitWithWait() async throws {
        let gate = Gate()
        defer { gate.release() }
        let set = try makeSet(tick: 0.05)
        try set.addBackend(
            BackendDefinition(
                id: "ex", volumeBackendName: "nfs", driver: ScriptedDriver.failing(2), settings: fastSettings(limit: 1))
        )
        try set.addBackend(
            BackendDefinition(
                id: "hung", volumeBackendName: "nfs", driver: ScriptedDriver(initSteps: [.hang(gate)]),
                settings: hangSettings()))
        #expect(set.reinit(id: "ex") == .notRunning)
        set.start()
        defer { set.stop() }

        #expect(await waitUntil { set.snapshot().state("ex") == .exhausted })
        let (result, outcome) = await set.reinit(id: "ex", waitUpTo: 20)
        #expect(result == .started)
        guard case .finished(let backend) = outcome else {
            Issue.record("expected the reinit to finish, got \(outcome)")
            return
        }
        #expect(backend.state == .ready)
        #expect(backend.capabilities == sampleStats())
        #expect(backend.reinitAttempts == 0)
        #expect(backend.transitions.suffix(2).map(\.reason).first == "manual re-initialization")

        let (missing, missingOutcome) = await set.reinit(id: "nope", waitUpTo: 5)
        #expect(missing == .notFound)
        #expect(missingOutcome == .removed)

        let (running, runningOutcome) = await set.reinit(id: "hung", waitUpTo: 0.2)
        #expect(running == .alreadyRunning)
        guard case .timedOut(let hungBackend) = runningOutcome else {
            Issue.record("expected a timeout, got \(runningOutcome)")
            return
        }
        #expect(hungBackend.state == .initializing)
    }

    @Test("set management while running: add, replace, remove")
    func setManagement() async throws {
        let publisher = RecordingPublisher()
        let set = try makeSet(tick: 0.05, publisher: publisher)
        try set.addBackend(
            BackendDefinition(id: "a", volumeBackendName: "nfs", driver: ScriptedDriver(), settings: fastSettings()))
        #expect(throws: SupervisionError.duplicateBackend("a")) {
            try set.addBackend(BackendDefinition(id: "a", volumeBackendName: "nfs", driver: ScriptedDriver()))
        }
        #expect(throws: SupervisionError.invalidBackendID("a@b")) {
            try set.addBackend(BackendDefinition(id: "a@b", volumeBackendName: "nfs", driver: ScriptedDriver()))
        }
        #expect(throws: SupervisionError.invalidBackendID("")) {
            try set.addBackend(BackendDefinition(id: "", volumeBackendName: "nfs", driver: ScriptedDriver()))
        }
        set.start()
        defer { set.stop() }
        try set.addBackend(
            BackendDefinition(id: "b", volumeBackendName: "nfs", driver: ScriptedDriver(), settings: fastSettings()))
        #expect(await waitUntil { set.snapshot().state("a") == .ready && set.snapshot().state("b") == .ready })
        #expect(set.snapshot().backends.map(\.id) == ["a", "b"])

        let replacement = ScriptedDriver.failing(100, name: "lvm")
        try set.replaceBackend(
            BackendDefinition(
                id: "b", volumeBackendName: "lvm-1", driver: replacement, settings: fastSettings(limit: 1)))
        #expect(await waitUntil { set.snapshot().state("b") == .exhausted })
        let b = try #require(set.snapshot().backend(id: "b"))
        #expect(b.volumeDriver == "lvm")
        #expect(b.volumeBackendName == "lvm-1")
        #expect(b.reinitLimit == 1)
        #expect(replacement.initCalls == 2)
        #expect(
            b.transitions.map(\.to) == [.initializing, .ready, .initializing, .retrying, .initializing, .exhausted])
        #expect(b.transitions[2].reason == "configuration changed")

        try set.removeBackend(id: "a")
        #expect(set.snapshot().backends.map(\.id) == ["b"])
        #expect(await waitUntil { publisher.lastReport(host: "node1@a")?.backendState == .down })
        #expect(throws: SupervisionError.backendNotFound("a")) { try set.removeBackend(id: "a") }
        #expect(throws: SupervisionError.backendNotFound("zz")) {
            try set.replaceBackend(BackendDefinition(id: "zz", volumeBackendName: "nfs", driver: ScriptedDriver()))
        }

        let disabled = try set.setServiceStatus(id: "b", disabled: true, reason: "maintenance")
        #expect(disabled.adminState == AdminState(disabled: true, disabledReason: "maintenance"))
        #expect(await waitUntil { publisher.lastReport(host: "node1@b")?.adminState.disabled == true })
        #expect(throws: SupervisionError.backendNotFound("a")) {
            try set.setServiceStatus(id: "a", disabled: false, reason: nil)
        }
    }

    @Test("reports the scheduler rejected are recorded per backend")
    func partialRejection() async throws {
        let publisher = RecordingPublisher(.reject(["node1@b": "stale timestamp"]))
        let set = try makeSet(tick: 0.05, publisher: publisher)
        try set.addBackend(
            BackendDefinition(id: "a", volumeBackendName: "nfs", driver: ScriptedDriver(), settings: fastSettings()))
        try set.addBackend(
            BackendDefinition(id: "b", volumeBackendName: "nfs", driver: ScriptedDriver(), settings: fastSettings()))
        set.start()
        defer { set.stop() }

        #expect(
            await waitUntil {
                let snapshot = set.snapshot()
                return (snapshot.backend(id: "a")?.counters.publishesOK ?? 0) >= 2
                    && (snapshot.backend(id: "b")?.counters.publishesFailed ?? 0) >= 2
            })
        let snapshot = set.snapshot()
        #expect(snapshot.backend(id: "a")?.lastPublish?.ok == true)
        #expect(snapshot.backend(id: "a")?.counters.publishesFailed == 0)
        #expect(snapshot.backend(id: "b")?.lastPublish?.ok == false)
        #expect(snapshot.backend(id: "b")?.lastPublish?.error == "stale timestamp")
        #expect(snapshot.backend(id: "b")?.counters.publishesOK == 0)
        #expect(snapshot.state("b") == .ready)
    }

    @Test("a driver whose calls keep hanging is not given a new thread past the bound")
    func hungCallsAreBounded() async throws {
        let gate = Gate()
        defer { gate.release() }
        let bound = SupervisorSet.maxAbandonedCallsPerBackend
        let driver = ScriptedDriver(initSteps: Array(repeating: .hang(gate), count: bound))
        let set = try makeSet(tick: 0.05)
        try set.addBackend(
            BackendDefinition(
                id: "stuck", volumeBackendName: "nfs", driver: driver,
                settings: fastSettings(limit: 0, initTimeout: 0.1)))
        set.start()
        defer { set.stop() }

        #expect(
            await waitUntil {
                set.snapshot().backend(id: "stuck")?.lastError?.message
                    == "\(bound) earlier calls into the driver are still running past their timeout"
            })
        // A call is abandoned 0.1 s after it was handed to a driver thread, which on a loaded machine
        // may be before that thread entered the driver: the driver's own count can lag behind.
        #expect(await waitUntil { driver.initCalls == bound })
        #expect(set.abandonedCalls("stuck") == bound)
        #expect(set.snapshot().state("stuck") == .retrying)

        gate.release()
        #expect(await waitUntil { set.snapshot().state("stuck") == .ready })
        #expect(driver.initCalls == bound + 1)
        #expect(await waitUntil { set.abandonedCalls("stuck") == 0 })
    }
}

@Suite("The driver pool under hung drivers", .offCooperativePool)
struct DriverPoolBoundTests {
    @Test("many hung drivers never take the driver pool past its cap; it serves again once they return")
    func manyHungDriversStayUnderThePoolCap() async throws {
        let gate = Gate()
        defer { gate.release() }
        let publisher = RecordingPublisher()
        // Half-second ticks: a publish jumps the queue and may wake a parked worker, so at a 50 ms
        // tick a fresh publish at the head kept the watchdog from counting its refusals for 20 s
        // on CI's machine (the cap still held).
        let set = try makeSet(tick: 0.5, publisher: publisher)
        let count = 40
        for index in 0..<count {
            try set.addBackend(
                BackendDefinition(
                    id: "hung-\(index)", volumeBackendName: "nfs", driver: ScriptedDriver(initSteps: [.hang(gate)]),
                    settings: hangSettings()))
        }
        set.start()
        defer { set.stop() }

        let cap = SupervisorSet.maxDriverThreads
        #expect(cap < 32)
        // The watchdog reached the cap and kept asking for more workers, in vain.
        #expect(await waitUntil { set.driverThreads.currentStatistics.growthRefusedAtCap >= 3 })
        let atCap = set.driverThreads.currentStatistics
        #expect(atCap.peakThreads <= cap + 1, "one worker over the cap, for a publish only")
        #expect(atCap.busyWorkers >= cap)
        // While every worker hangs, the tick's reports still go out: the scheduler hears the
        // backends are down.
        let published = publisher.batches.count
        #expect(await waitUntil { publisher.batches.count >= published + 3 })
        #expect(publisher.lastReport(host: "node1@hung-\(count - 1)")?.backendState == .down)

        gate.release()
        #expect(await waitUntil { (0..<count).allSatisfy { set.snapshot().state("hung-\($0)") == .ready } })
        #expect(set.driverThreads.currentStatistics.peakThreads <= cap + 1)
    }
}
