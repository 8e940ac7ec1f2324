import Supervision

/// What the factory hands over for a backend whose section could not produce a working driver
/// (unknown `volume_driver`, missing or bad options). Every call throws the captured
/// unrecoverable error, so the backend is supervised like any other: it shows as failed with
/// `config_error` or `driver_not_supported`, is never retried by itself, and a reload that fixes
/// the section replaces it with a real driver.
package final class InvalidBackendDriver: VolumeDriver {
    package let volumeDriverName: String
    /// The error every call throws.
    package let error: DriverError

    package init(volumeDriverName: String, error: DriverError) {
        self.volumeDriverName = volumeDriverName
        self.error = error
    }

    /// True so the supervisor reports the real reason (the configuration) rather than support.
    package var supported: Bool { true }

    package func doSetup() throws { throw error }
    package func checkForSetupError() throws { throw error }
    package func getVolumeStats() throws -> VolumeStats { throw error }
}
