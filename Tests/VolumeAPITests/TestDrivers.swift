import Foundation
import SharedTestSupport
import Supervision

func sampleStats(_ name: String, total: Double = 100, free: Double = 80) -> VolumeStats {
    VolumeStats(
        volumeBackendName: name, vendorName: "Open Source", driverVersion: "1.0", storageProtocol: "nfs",
        totalCapacityGB: .gib(total), freeCapacityGB: .gib(free), reservedPercentage: 0,
        pools: [
            PoolStats(
                poolName: name, totalCapacityGB: .gib(total), freeCapacityGB: .gib(free),
                thinProvisioningSupport: true, maxOverSubscriptionRatio: 20)
        ])
}

/// A driver whose storage comes and goes under the test's control, like an NFS share that is not
/// mounted yet: `checkForSetupError` and `getVolumeStats` fail with `backend_unavailable` while
/// `storagePresent` is false. `misconfigured` makes setup fail with an unrecoverable
/// `config_error` instead; `setupGate` makes the next `doSetup` wait until the gate opens.
final class TestDriver: VolumeDriver, @unchecked Sendable {
    let volumeDriverName: String
    let supported: Bool
    let backendName: String
    private let lock = NSLock()
    private var present: Bool
    private var misconfiguredFlag: Bool
    private var gate: Gate?
    private var setups = 0

    init(
        backendName: String, storagePresent: Bool = true, misconfigured: Bool = false,
        volumeDriverName: String = "cinder.volume.drivers.nfs.NfsDriver", supported: Bool = true
    ) {
        self.backendName = backendName
        self.present = storagePresent
        self.misconfiguredFlag = misconfigured
        self.volumeDriverName = volumeDriverName
        self.supported = supported
    }

    var storagePresent: Bool {
        get { lock.withLock { present } }
        set { lock.withLock { present = newValue } }
    }

    var misconfigured: Bool {
        get { lock.withLock { misconfiguredFlag } }
        set { lock.withLock { misconfiguredFlag = newValue } }
    }

    var setupCalls: Int { lock.withLock { setups } }

    /// The next `doSetup` blocks until the returned gate is released.
    func holdNextSetup() -> Gate {
        let gate = Gate()
        lock.withLock { self.gate = gate }
        return gate
    }

    func doSetup() throws {
        let (gate, misconfigured) = lock.withLock { () -> (Gate?, Bool) in
            setups += 1
            defer { self.gate = nil }
            return (self.gate, misconfiguredFlag)
        }
        gate?.wait()
        if misconfigured {
            throw DriverError(.configError, "nfs_shares_config /etc/cinder/shares.txt does not exist")
        }
    }

    func checkForSetupError() throws {
        guard storagePresent else {
            throw DriverError(.backendUnavailable, "share 10.0.0.9:/gold is not mounted")
        }
    }

    func getVolumeStats() throws -> VolumeStats {
        guard storagePresent else {
            throw DriverError(.backendUnavailable, "share 10.0.0.9:/gold is not mounted")
        }
        return sampleStats(backendName)
    }
}
