/// A storage backend driver, in Cinder's vocabulary, so that operators and reviewers who know
/// `cinder.volume.driver.VolumeDriver` recognise every step.
///
/// Every call may block (mounting checks, running LVM's tools, talking to an array over HTTP).
/// The supervisor never calls a driver on the tick's or the HTTP server's threads: it runs each call
/// on the backend's own queue and bounds initialization with `driver_init_timeout`, so a hung call
/// costs one thread and never stalls another backend.
package protocol VolumeDriver: AnyObject, Sendable {
    /// The name operators configured (`nfs`, `lvm`, `rest`, or a Cinder class path), for display.
    var volumeDriverName: String { get }
    /// Whether the driver is supported; an unsupported one only starts with
    /// `enable_unsupported_driver = true` (Cinder's `SUPPORTED` flag).
    var supported: Bool { get }
    /// First half of initialization (Cinder's `do_setup`): prepare connections and local state.
    func doSetup() throws
    /// Second half of initialization (Cinder's `check_for_setup_error`): verify the backend is usable.
    func checkForSetupError() throws
    /// The backend's capabilities now (Cinder's `get_volume_stats(refresh=True)`).
    /// Throwing means the backend went away: the supervisor takes the driver out of `ready`.
    func getVolumeStats() throws -> VolumeStats
}
