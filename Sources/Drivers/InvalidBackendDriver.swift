import Supervision

/// What the factory hands over for a backend whose section could not produce a working driver
/// (unknown `volume_driver`, missing or bad options). Every call throws the captured
/// unrecoverable error, so the backend is supervised like any other: it shows as failed with
/// `config_error` or `driver_not_supported`, is never retried by itself, and a reload that fixes
/// the section replaces it with a real driver.
public final class InvalidBackendDriver: VolumeDriver {
    public let volumeDriverName: String
    /// The error every call throws.
    public let error: DriverError

    public init(volumeDriverName: String, error: DriverError) {
        self.volumeDriverName = volumeDriverName
        self.error = error
    }

    /// True so the supervisor reports the real reason (the configuration) rather than support.
    public var supported: Bool { true }

    public func doSetup() throws { throw error }
    public func checkForSetupError() throws { throw error }
    public func getVolumeStats() throws -> VolumeStats { throw error }
}
