import Foundation
import Scheduler
import Supervision

/// Delivers each tick's reports straight into an in-process `CapabilityStore`, through the same
/// JSON body and validation a `POST /v3/scheduler/capabilities` goes through, without a socket.
/// (The product publishes over libcurl; these tests are about the API.)
final class InProcessPublisher: CapabilityPublisher, @unchecked Sendable {
    let store: CapabilityStore
    private let lock = NSLock()
    private var published = 0

    init(store: CapabilityStore) { self.store = store }

    var publishes: Int { lock.withLock { published } }

    func publishServiceCapabilities(_ reports: [BackendReport]) throws -> PublishOutcome {
        try store.receive(Self.body(reports))
        lock.withLock { published += 1 }
        return .allAccepted
    }

    /// `{"reports": [{"host", "service", "timestamp", "capabilities": {...}}]}` as issue 5 describes it.
    static func body(_ reports: [BackendReport]) throws -> [UInt8] {
        var entries: [[String: Any]] = []
        for report in reports {
            var capabilities: [String: Any] = [:]
            if let stats = report.capabilities {
                let encoded = try JSONEncoder().encode(stats)
                capabilities = try JSONSerialization.jsonObject(with: encoded) as? [String: Any] ?? [:]
            }
            capabilities["backend_state"] = report.backendState.rawValue
            capabilities["status"] = report.adminState.status.rawValue
            capabilities["disabled_reason"] = report.adminState.disabledReason ?? NSNull()
            if report.adminState.frozen { capabilities["frozen"] = true }
            entries.append([
                "host": report.host,
                "service": "cinder-volume",
                "timestamp": CapabilityTimestamp(report.timestamp).description,
                "capabilities": capabilities,
            ])
        }
        return Array(try JSONSerialization.data(withJSONObject: ["reports": entries]))
    }
}
