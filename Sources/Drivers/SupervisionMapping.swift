import Config
import Foundation
import Supervision

/// The step from a configuration to what the supervisor runs, in one place so the wiring (start-up
/// and SIGHUP alike) stays a loop over `configuration.backends`.
extension DriverFactory {
    /// The supervised backend for `backend`: its driver from `makeDriver` (an `InvalidBackendDriver`
    /// for a broken section, which the supervisor shows as failed) and its settings.
    package static func makeBackendDefinition(for backend: BackendSection, service: ServiceOptions) -> BackendDefinition
    {
        BackendDefinition(
            id: backend.name, volumeBackendName: backend.volumeBackendName,
            driver: makeDriver(for: backend, service: service), settings: BackendSettings(backend))
    }
}

extension BackendSettings {
    /// The supervision settings of a backend section (its own values over `[backend_defaults]`
    /// over `[DEFAULT]`, as `BackendSection` resolved them).
    package init(_ backend: BackendSection) {
        self.init(
            reinitDriverCount: backend.reinitDriverCount, driverInitTimeout: backend.driverInitTimeout,
            statsTimeout: backend.driverStatsTimeout, enableUnsupportedDriver: backend.enableUnsupportedDriver,
            reinitBackoffMax: backend.reinitBackoffMax)
    }
}

extension ServiceSettings {
    /// The service-wide supervision settings of `[DEFAULT]`.
    package init(_ options: ServiceOptions) {
        self.init(host: options.host, backendStatsPollingInterval: options.backendStatsPollingInterval)
    }
}
