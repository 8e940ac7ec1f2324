import Foundation
import SharedTestSupport
import Testing

@testable import Supervision

/// A counter several threads bump.
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var notes: [String] = []

    func add(_ note: String? = nil) {
        lock.withLock {
            count += 1
            if let note, notes.count < 10 { notes.append(note) }
        }
    }
    var value: Int { lock.withLock { count } }
    var messages: [String] { lock.withLock { notes } }
}

@Suite("Snapshot versions", .offCooperativePool)
struct SnapshotVersionTests {
    @Test("the version bumps exactly once per visible change, and never without one")
    func exactBumps() async throws {
        let clock = ManualClock()
        let publisher = RecordingPublisher()
        let set = try makeSet(tick: 3600, publisher: publisher, clock: clock)
        #expect(set.snapshot().version == 0)
        #expect(set.snapshot().backends.isEmpty)

        let broken = ScriptedDriver.failing(100, with: DriverError(.configError, "volume_group missing"))
        try set.addBackend(BackendDefinition(id: "a", volumeBackendName: "nfs", driver: broken))
        #expect(set.snapshot().version == 1)
        try set.setServiceStatus(id: "a", disabled: true, reason: "maintenance")
        #expect(set.snapshot().version == 2)
        try set.setServiceStatus(id: "a", disabled: true, reason: "maintenance")
        #expect(set.snapshot().version == 2, "the same status again changes nothing")
        let first = set.snapshot()
        let second = set.snapshot()
        #expect(first.version == second.version)
        #expect(
            first.backends.withUnsafeBufferPointer { $0.baseAddress }
                == second.backends.withUnsafeBufferPointer { $0.baseAddress },
            "reads between changes share one immutable value")
        try set.setServiceStatus(id: "a", disabled: false, reason: "ignored when enabling")
        #expect(set.snapshot().version == 3)
        #expect(set.snapshot().backend(id: "a")?.adminState == AdminState(disabled: false, disabledReason: nil))
        try set.replaceBackend(BackendDefinition(id: "a", volumeBackendName: "lvm", driver: broken))
        #expect(set.snapshot().version == 4)
        #expect(throws: SupervisionError.backendNotFound("nope")) { try set.removeBackend(id: "nope") }
        #expect(set.currentVersion == 4)

        set.start()
        defer { set.stop() }
        #expect(await waitUntil { set.snapshot().state("a") == .failed })
        #expect(set.snapshot().version == 6, "start-up, then the failed initialization")

        clock.advance(by: 1)
        set.tick()
        #expect(await waitUntil { publisher.calls == 1 && !set.isPublishing })
        #expect(set.currentVersion == 8, "one bump for the heartbeat, one for the recorded publish outcome")
        #expect(set.snapshot().backend(id: "a")?.counters.publishesOK == 1)

        set.tick()
        #expect(await waitUntil { publisher.calls == 2 && !set.isPublishing })
        #expect(set.currentVersion == 9, "same instant, same state: only the publish outcome changed")
        #expect(set.snapshot().backend(id: "a")?.updatedAt == clock.wall)

        set.stop()
        #expect(set.currentVersion == 10)
        #expect(set.snapshot().running == false)
        set.tick()
        #expect(set.currentVersion == 10, "no heartbeat once stopped")
    }

    @Test("snapshots read from many threads during fast ticks are consistent and versions never go back")
    func concurrentReads() async throws {
        let set = try makeSet(tick: 0.01)
        for n in 0..<20 {
            let driver =
                n % 3 == 0
                ? ScriptedDriver.failing(1_000) : ScriptedDriver(stats: sampleStats("b\(n)", free: Double(n)))
            try set.addBackend(
                BackendDefinition(
                    id: String(format: "b%02d", n), volumeBackendName: "nfs", driver: driver,
                    settings: fastSettings(limit: 0)))
        }
        let ids = (0..<20).map { String(format: "b%02d", $0) }
        set.start()
        defer { set.stop() }

        let problems = LockedCounter()
        let finished = LockedCounter()
        let satisfied = LockedCounter()
        for _ in 0..<4 {
            let thread = Thread {
                var last: ServiceSnapshot?
                var distinct = 0
                let deadline = Date().addingTimeInterval(30)
                while distinct < 30 && Date() < deadline {
                    let snapshot = set.snapshot()
                    if snapshot.backends.map(\.id) != ids { problems.add("ids \(snapshot.backends.map(\.id))") }
                    if let last {
                        if snapshot.version < last.version {
                            problems.add("version went back \(last.version) -> \(snapshot.version)")
                        }
                        if snapshot.version == last.version && snapshot.backends != last.backends {
                            problems.add("content changed without a version bump at \(snapshot.version)")
                        }
                        if snapshot.version != last.version { distinct += 1 }
                    }
                    last = snapshot
                    usleep(100)  // a reader polling hard, but not a busy loop
                }
                if distinct >= 30 { satisfied.add() }
                finished.add()
            }
            thread.start()
        }
        #expect(await waitUntil(seconds: 60) { finished.value == 4 })
        #expect(problems.value == 0, "\(problems.messages)")
        #expect(satisfied.value == 4, "every reader saw at least 30 versions")
    }
}

@Suite("Tick rounds", .offCooperativePool)
struct TickRoundTests {
    @Test("removing a backend whose stats call hangs still lets its tick round go out")
    func removalSettlesRound() async throws {
        let gate = Gate()
        defer { gate.release() }
        let clock = ManualClock()
        let publisher = RecordingPublisher()
        let set = try makeSet(tick: 3600, publisher: publisher, clock: clock)
        try set.addBackend(
            BackendDefinition(id: "a", volumeBackendName: "nfs", driver: ScriptedDriver(), settings: fastSettings()))
        let hanging = ScriptedDriver(statsSteps: [.succeed, .hang(gate)])
        try set.addBackend(
            BackendDefinition(
                id: "h", volumeBackendName: "nfs", driver: hanging, settings: fastSettings(statsTimeout: 3600)))
        set.start()
        defer { set.stop() }
        #expect(await waitUntil { publisher.batches.count == 2 && !set.isPublishing })

        clock.advance(by: 10)
        let tickTime = clock.wall
        set.tick()
        #expect(await waitUntil { hanging.statsCallCount == 2 })
        try set.removeBackend(id: "h")
        #expect(
            await waitUntil(seconds: 10) {
                publisher.batches.contains { $0.map(\.host) == ["node1@a"] && $0.first?.timestamp == tickTime }
            })
        #expect(await waitUntil { publisher.lastReport(host: "node1@h")?.backendState == .down })
    }

    @Test(
        "service settings are validated",
        arguments: [
            (ServiceSettings(host: ""), "host must be non-empty with no '@', '#' or whitespace, got \"\""),
            (ServiceSettings(host: "a@b"), "host must be non-empty with no '@', '#' or whitespace, got \"a@b\""),
            (
                ServiceSettings(host: "node1", backendStatsPollingInterval: 0),
                "backend_stats_polling_interval must be a positive number of seconds, got 0.0"
            ),
        ])
    func serviceSettings(settings: ServiceSettings, message: String) {
        #expect(throws: SupervisionError.invalidSettings(message)) {
            _ = try SupervisorSet(settings: settings, publisher: RecordingPublisher(), logger: quietLogger)
        }
    }
}
