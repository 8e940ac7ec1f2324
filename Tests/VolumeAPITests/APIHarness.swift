import Clocks
import Foundation
import HTTPServer
import Logging
import Scheduler
import ServiceDecisions
import SharedTestSupport
import Supervision
import VolumeService

@testable import VolumeAPI

/// The system clocks shifted by an offset the test sets, to age heartbeats without waiting.
final class OffsetClock: ServiceClock, @unchecked Sendable {
    private let lock = NSLock()
    private var offset: TimeInterval = 0

    func now() -> ClockReading { SystemClock().now().advanced(by: lock.withLock { offset }) }
    func shift(by seconds: TimeInterval) { lock.withLock { offset += seconds } }
}

/// Collects values handed to a callback from other threads.
final class Recorder<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Value] = []

    func append(_ value: Value) { lock.withLock { stored.append(value) } }
    var values: [Value] { lock.withLock { stored } }
}

/// Accepts every batch and keeps it, standing in for the scheduler where a test only looks at
/// the volume side.
final class RecordingPublisher: CapabilityPublisher, @unchecked Sendable {
    private let lock = NSLock()
    private var batches: [[BackendReport]] = []

    func publishServiceCapabilities(_ reports: [BackendReport]) throws -> PublishOutcome {
        lock.withLock { batches.append(reports) }
        return .allAccepted
    }

    var reports: [BackendReport] { lock.withLock { Array(batches.joined()) } }
}

let quietLogger: Logger = {
    var logger = Logger(label: "volumed.api.tests", factory: { _ in SwiftLogNoOpLogHandler() })
    logger.logLevel = .critical
    return logger
}()

/// One backend the harness supervises.
struct TestBackend {
    var id: String
    var driver: TestDriver
    var settings: BackendSettings

    init(_ id: String, storagePresent: Bool = true, misconfigured: Bool = false, reinitDriverCount: Int = 3) {
        self.id = id
        self.driver = TestDriver(backendName: id, storagePresent: storagePresent, misconfigured: misconfigured)
        self.settings = BackendSettings(
            reinitDriverCount: reinitDriverCount, driverInitTimeout: 30, statsTimeout: 30,
            reinitBackoffMax: 0.4)
    }
}

/// A real volume service in the test process: supervisors over test drivers, the API on a real
/// HTTP server bound to an ephemeral loopback port.
final class APIHarness: @unchecked Sendable {
    static let host = "node1"

    let supervisors: SupervisorSet
    let api: VolumeAPI
    let server: HTTPServer
    let clock = OffsetClock()
    /// The decisions' state file lives here (removed by `stop`).
    let stateDirectory: String
    let stateFile: ServiceStateFile
    let decisions: OperatorDecisions
    let drivers: [String: TestDriver]
    let port: Int
    /// The in-process scheduler's store, when the harness runs one.
    let store: CapabilityStore?

    /// - Parameter withScheduler: run the scheduler in process; unless `publisher` is given, reports
    ///   go into its store through an `InProcessPublisher`.
    init(
        _ backends: [TestBackend], tick: TimeInterval = 0.2, adminToken: String? = nil,
        serviceDownTime: TimeInterval = 60,
        withScheduler: Bool = false, publisher: (any CapabilityPublisher)? = nil, startSupervision: Bool = true,
        decisionStore: ((ServiceStateFile) -> any OperatorDecisionStore)? = nil,
        authStrategy: AuthStrategy = .adminToken, publicEndpoint: String? = nil, logLevels: LogLevelRegistry? = nil
    ) throws {
        let store = withScheduler ? CapabilityStore(serviceDownTime: serviceDownTime) : nil
        self.store = store
        let publisher = publisher ?? store.map { InProcessPublisher(store: $0) } ?? RecordingPublisher()
        supervisors = try SupervisorSet(
            settings: ServiceSettings(host: Self.host, backendStatsPollingInterval: tick),
            publisher: publisher, logger: quietLogger)
        stateDirectory = temporaryDirectory("api")
        stateFile = try ServiceStateFile(directory: stateDirectory)
        decisions = try OperatorDecisions(
            store: decisionStore?(stateFile) ?? stateFile, supervisors: supervisors, host: Self.host,
            logger: quietLogger)
        for backend in backends {
            try decisions.addBackend(
                BackendDefinition(
                    id: backend.id, volumeBackendName: backend.id,
                    driver: backend.driver, settings: backend.settings))
        }
        drivers = Dictionary(uniqueKeysWithValues: backends.map { ($0.id, $0.driver) })
        var settings = VolumeAPISettings(
            host: Self.host, availabilityZone: "az1", serviceDownTime: serviceDownTime,
            adminToken: adminToken)
        settings.authStrategy = authStrategy
        settings.publicEndpoint = publicEndpoint
        api = VolumeAPI(
            supervisors: supervisors, decisions: decisions, capabilityStore: store, settings: settings,
            clock: clock, logger: quietLogger,
            logLevels: logLevels, openStack: OpenStackProtocol(accessLogger: quietLogger))
        var router = Router()
        api.register(on: &router)
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopCount = 1
        configuration.renderError = OpenStackFault.render
        let metrics = api.requestMetrics
        server = HTTPServer(
            configuration: configuration, router: router, logger: quietLogger,
            onResponse: { metrics.record($0) }, hooks: api.openStack.hooks)
        try server.start()
        port = server.localPort ?? 0
        if startSupervision { supervisors.start() }
    }

    func stop() {
        supervisors.stop()
        server.shutdown(gracePeriod: .seconds(2))
        try? FileManager.default.removeItem(atPath: stateDirectory)
    }

    /// The state file's text ("" when none was written).
    var savedState: String {
        (try? String(contentsOfFile: stateFile.path, encoding: .utf8)) ?? ""
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Reads at volumed's newest microversion unless `headers` say otherwise (the shapes most tests
    /// read: `backend_state` needs 3.49).
    static let newest = [("OpenStack-API-Version", "volume latest")]

    func get(_ path: String, headers: [(String, String)] = APIHarness.newest) throws -> RawResponse {
        try RawClient.request(port: port, method: "GET", path: path, headers: headers)
    }

    func send(
        _ method: String, _ path: String, json: String? = nil, token: String? = nil,
        headers: [(String, String)] = []
    ) throws -> RawResponse {
        var all = headers
        if let token { all.append(("X-Auth-Token", token)) }
        if json != nil { all.append(("Content-Type", "application/json")) }
        return try RawClient.request(
            port: port, method: method, path: path, headers: all,
            body: json.map { Array($0.utf8) } ?? (method == "GET" ? nil : []))
    }

    /// The pool names of `GET /v3/scheduler-stats/get_pools`.
    func poolNames() throws -> [String] {
        (try get("/v3/scheduler-stats/get_pools").json["pools"] as? [[String: Any]] ?? []).compactMap {
            $0["name"] as? String
        }
    }

    /// The driver object of `GET /drivers/{id}`.
    func driver(_ id: String) throws -> [String: Any] {
        try get("/drivers/\(id)").json["driver"] as? [String: Any] ?? [:]
    }

    func driverState(_ id: String) throws -> String? {
        try driver(id)["state"] as? String
    }

    /// Waits until `GET /drivers/{id}` shows `state`.
    func waitForState(_ id: String, _ state: String, seconds: Double = 20) throws -> Bool {
        try waitUntil(seconds: seconds) { try driverState(id) == state }
    }

    /// Waits until the supervision loop has ticked `count` more times, for a test whose claim is that
    /// ticks change nothing (a tick missed between two polls only makes the wait longer).
    @discardableResult
    func waitForTicks(_ count: Int, seconds: Double = 20) -> Bool {
        var last = supervisors.lastTickAt()
        var seen = 0
        return waitUntil(seconds: seconds) {
            let now = supervisors.lastTickAt()
            if now != last {
                seen += 1
                last = now
            }
            return seen >= count
        }
    }
}

/// The entries of `{"services": [...]}`.
func services(_ response: RawResponse) -> [[String: Any]] {
    response.json["services"] as? [[String: Any]] ?? []
}

/// `{"<fault>": {"code", "message"}}` split into its parts.
func fault(_ response: RawResponse) -> (name: String, code: Int, message: String)? {
    guard let (name, value) = response.json.first, response.json.count == 1,
        let inner = value as? [String: Any], let code = inner["code"] as? Int, let message = inner["message"] as? String
    else { return nil }
    return (name, code, message)
}
