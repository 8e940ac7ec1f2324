import Foundation

/// How one backend is supervised. Cinder's option names are given for each field, so a
/// configuration layer maps `[backend]` sections onto this without guessing.
package struct BackendSettings: Sendable, Equatable {
    /// `reinit_driver_count`: automatic re-initializations allowed after the first failed start
    /// (0 = unlimited). Manual re-initialization resets the count.
    package var reinitDriverCount: Int
    /// `driver_init_timeout`: seconds `doSetup` + `checkForSetupError` may take before the attempt
    /// counts as a recoverable failure of kind `timeout`.
    package var driverInitTimeout: TimeInterval
    /// Seconds one `getVolumeStats` call may take before it counts as a recoverable `timeout`.
    package var statsTimeout: TimeInterval
    /// `enable_unsupported_driver`: let a driver whose `supported` is false start anyway.
    package var enableUnsupportedDriver: Bool
    /// `reinit_backoff_max`: the longest wait between two automatic re-initializations, in seconds.
    package var reinitBackoffMax: TimeInterval

    package static let defaultReinitDriverCount = 3
    package static let defaultDriverInitTimeout: TimeInterval = 60
    package static let defaultStatsTimeout: TimeInterval = 30
    package static let defaultReinitBackoffMax: TimeInterval = 300

    package init(
        reinitDriverCount: Int = BackendSettings.defaultReinitDriverCount,
        driverInitTimeout: TimeInterval = BackendSettings.defaultDriverInitTimeout,
        statsTimeout: TimeInterval = BackendSettings.defaultStatsTimeout,
        enableUnsupportedDriver: Bool = false,
        reinitBackoffMax: TimeInterval = BackendSettings.defaultReinitBackoffMax
    ) {
        self.reinitDriverCount = reinitDriverCount
        self.driverInitTimeout = driverInitTimeout
        self.statsTimeout = statsTimeout
        self.enableUnsupportedDriver = enableUnsupportedDriver
        self.reinitBackoffMax = reinitBackoffMax
    }

    /// Rejects values the supervisor cannot honour, with the option's Cinder name in the message.
    package func validate() throws(SupervisionError) {
        if reinitDriverCount < 0 {
            throw .invalidSettings("reinit_driver_count must be 0 (unlimited) or more, got \(reinitDriverCount)")
        }
        try Self.requirePositive(driverInitTimeout, "driver_init_timeout")
        try Self.requirePositive(statsTimeout, "stats_timeout")
        try Self.requirePositive(reinitBackoffMax, "reinit_backoff_max")
    }

    static func requirePositive(_ value: TimeInterval, _ name: String) throws(SupervisionError) {
        guard value.isFinite, value > 0 else {
            throw .invalidSettings("\(name) must be a positive number of seconds, got \(value)")
        }
    }
}

/// Settings shared by every backend of the service.
package struct ServiceSettings: Sendable, Equatable {
    /// Cinder's `host`: each backend reports as `<host>@<backend id>`.
    package var host: String
    /// `backend_stats_polling_interval`: seconds between publish ticks (fractions allowed).
    /// Also the base of the re-initialization backoff, so retries never come faster than ticks.
    package var backendStatsPollingInterval: TimeInterval

    package static let defaultBackendStatsPollingInterval: TimeInterval = 60

    package init(
        host: String, backendStatsPollingInterval: TimeInterval = ServiceSettings.defaultBackendStatsPollingInterval
    ) {
        self.host = host
        self.backendStatsPollingInterval = backendStatsPollingInterval
    }

    package func validate() throws(SupervisionError) {
        if host.isEmpty || host.contains(where: { $0 == "@" || $0 == "#" || $0.isWhitespace }) {
            throw .invalidSettings("host must be non-empty with no '@', '#' or whitespace, got \"\(host)\"")
        }
        try BackendSettings.requirePositive(backendStatsPollingInterval, "backend_stats_polling_interval")
    }
}

/// What a backend is: its section name, its driver and how it is supervised. Handed to
/// `SupervisorSet.addBackend` and `replaceBackend` by the wiring layer (after the driver factory ran).
package struct BackendDefinition: Sendable {
    /// The `enabled_backends` entry / section name; unique within the service.
    package var id: String
    /// `volume_backend_name`, shown in the API (the driver's stats carry their own copy).
    package var volumeBackendName: String
    package var driver: any VolumeDriver
    package var settings: BackendSettings

    package init(
        id: String, volumeBackendName: String, driver: any VolumeDriver, settings: BackendSettings = BackendSettings()
    ) {
        self.id = id
        self.volumeBackendName = volumeBackendName
        self.driver = driver
        self.settings = settings
    }
}

/// Why a call on the supervisor set was refused. Never thrown for driver failures: those become state.
package enum SupervisionError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidSettings(String)
    case invalidBackendID(String)
    case duplicateBackend(String)
    case backendNotFound(String)

    package var description: String {
        switch self {
        case .invalidSettings(let why): return "invalid supervision settings: \(why)"
        case .invalidBackendID(let id):
            return "invalid backend id \"\(id)\": it must be non-empty and contain no '@', '#' or whitespace"
        case .duplicateBackend(let id): return "backend \"\(id)\" is already supervised"
        case .backendNotFound(let id): return "no backend \"\(id)\""
        }
    }
}
