import Clocks
import Foundation
import Logging
import SharedTestSupport

@testable import Supervision

/// Jitter pinned to one value, so backoff times are exact.
struct FixedJitter: JitterSource {
    var value: Double
    func nextUnit() -> Double { value }
}

struct UntypedFailure: Error, CustomStringConvertible {
    var description: String { "socket reset" }
}

/// What a scripted driver call does.
enum Step: Sendable {
    case succeed
    case fail(DriverError)
    case failUntyped
    case hang(Gate)
}

func sampleStats(_ name: String = "backend", free: Double = 80) -> VolumeStats {
    VolumeStats(
        volumeBackendName: name, vendorName: "Open Source", driverVersion: "1.0", storageProtocol: "nfs",
        totalCapacityGB: .gib(100), freeCapacityGB: .gib(free), reservedPercentage: 0,
        pools: [PoolStats(poolName: "_pool0", totalCapacityGB: .gib(100), freeCapacityGB: .gib(free))])
}

/// A driver that follows a script: the nth initialization does `initSteps[n]` (then `thenInit`),
/// the nth stats call does `statsSteps[n]` (then `thenStats`). Counts every call.
final class ScriptedDriver: VolumeDriver, @unchecked Sendable {
    let volumeDriverName: String
    let supported: Bool
    private let lock = NSLock()
    private var initSteps: [Step]
    private let thenInit: Step
    private var statsSteps: [Step]
    private let thenStats: Step
    private let stats: VolumeStats
    private(set) var setupCalls = 0
    private(set) var checkCalls = 0
    private(set) var statsCalls = 0
    private(set) var returnedCalls = 0

    init(
        name: String = "nfs", supported: Bool = true, initSteps: [Step] = [], thenInit: Step = .succeed,
        statsSteps: [Step] = [], thenStats: Step = .succeed, stats: VolumeStats = sampleStats()
    ) {
        self.volumeDriverName = name
        self.supported = supported
        self.initSteps = initSteps
        self.thenInit = thenInit
        self.statsSteps = statsSteps
        self.thenStats = thenStats
        self.stats = stats
    }

    /// Fails `count` times with `error`, then succeeds.
    static func failing(
        _ count: Int, with error: DriverError = DriverError(.backendUnavailable, "array unreachable"),
        name: String = "nfs"
    ) -> ScriptedDriver {
        ScriptedDriver(name: name, initSteps: Array(repeating: .fail(error), count: count))
    }

    var initCalls: Int { lock.withLock { setupCalls } }
    var statsCallCount: Int { lock.withLock { statsCalls } }
    var returned: Int { lock.withLock { returnedCalls } }

    func doSetup() throws {
        let step: Step = lock.withLock {
            setupCalls += 1
            return initSteps.isEmpty ? thenInit : initSteps.removeFirst()
        }
        try perform(step)
    }

    func checkForSetupError() throws {
        lock.withLock { checkCalls += 1 }
    }

    func getVolumeStats() throws -> VolumeStats {
        let step: Step = lock.withLock {
            statsCalls += 1
            return statsSteps.isEmpty ? thenStats : statsSteps.removeFirst()
        }
        try perform(step)
        return stats
    }

    private func perform(_ step: Step) throws {
        defer { lock.withLock { returnedCalls += 1 } }
        switch step {
        case .succeed: return
        case .fail(let error): throw error
        case .failUntyped: throw UntypedFailure()
        case .hang(let gate): gate.wait()
        }
    }
}

/// A driver whose setup check passes only once a file exists (an operator mounting a share).
final class FileGatedDriver: VolumeDriver, @unchecked Sendable {
    let volumeDriverName = "nfs"
    let supported = true
    let path: String
    private let lock = NSLock()
    private var checks = 0

    init(path: String) { self.path = path }

    var checkCalls: Int { lock.withLock { checks } }

    func doSetup() throws {}

    func checkForSetupError() throws {
        lock.withLock { checks += 1 }
        guard FileManager.default.fileExists(atPath: path) else {
            throw DriverError(.backendUnavailable, "\(path) is not there yet")
        }
    }

    func getVolumeStats() throws -> VolumeStats { sampleStats("gated") }
}

/// Records every batch; optionally fails, or blocks until released.
final class RecordingPublisher: CapabilityPublisher, @unchecked Sendable {
    enum Mode {
        case accept, fail
        case block(Gate)
        case reject([String: String])
    }
    private let lock = NSLock()
    private var mode: Mode
    private var recorded: [[BackendReport]] = []
    private var started = 0

    init(_ mode: Mode = .accept) { self.mode = mode }

    var batches: [[BackendReport]] { lock.withLock { recorded } }
    var calls: Int { lock.withLock { started } }
    func setMode(_ newMode: Mode) { lock.withLock { mode = newMode } }

    /// The newest report for a host, across all batches.
    func lastReport(host: String) -> BackendReport? {
        lock.withLock { recorded.joined().last { $0.host == host } }
    }

    struct SchedulerDown: Error, CustomStringConvertible {
        var description: String { "scheduler answered 503" }
    }

    func publishServiceCapabilities(_ reports: [BackendReport]) throws -> PublishOutcome {
        let current: Mode = lock.withLock {
            started += 1
            return mode
        }
        switch current {
        case .accept:
            lock.withLock { recorded.append(reports) }
            return .allAccepted
        case .fail:
            throw SchedulerDown()
        case .block(let gate):
            gate.wait()
            lock.withLock { recorded.append(reports) }
            return .allAccepted
        case .reject(let rejected):
            lock.withLock { recorded.append(reports) }
            return PublishOutcome(rejected: rejected)
        }
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "volumed.supervision.tests", factory: { _ in SwiftLogNoOpLogHandler() })
    logger.logLevel = .critical
    return logger
}()

func makeSet(
    tick: TimeInterval, publisher: RecordingPublisher = RecordingPublisher(),
    clock: any ServiceClock = SystemClock(), jitter: Double = 1
) throws -> SupervisorSet {
    try SupervisorSet(
        settings: ServiceSettings(host: "node1", backendStatsPollingInterval: tick), publisher: publisher,
        clock: clock, jitter: FixedJitter(value: jitter), logger: quietLogger)
}

extension ServiceSnapshot {
    func state(_ id: String) -> DriverState? { backend(id: id)?.state }
}
