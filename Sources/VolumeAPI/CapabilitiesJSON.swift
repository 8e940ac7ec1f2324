// A driver's stats as JSON, shared by GET /drivers and the capability reports the tick publishes.

import JSON
import Scheduler
import Supervision

/// A driver's stats under Cinder's capability keys, as `get_volume_stats` returns them, in one place
/// so what `GET /drivers` shows and what the scheduler receives never drift apart.
package enum CapabilitiesJSON {
    /// `{"volume_backend_name": ..., "pools": [...]}`.
    static func write(_ stats: VolumeStats, to json: inout JSONWriter) {
        json.beginObject()
        writeMembers(stats, to: &json)
        json.endObject()
    }

    /// The members alone, for an object that holds more (a capability report adds `backend_state`
    /// and `status`). A capacity that is not a finite number is written as Cinder's word for it
    /// (`"unknown"` for NaN, `"infinite"` for +inf); a ratio that is not finite as null.
    package static func writeMembers(_ stats: VolumeStats, to json: inout JSONWriter) {
        json.member("volume_backend_name", stats.volumeBackendName)
        json.member("vendor_name", stats.vendorName)
        json.member("driver_version", stats.driverVersion)
        json.member("storage_protocol", stats.storageProtocol)
        writeCapacities(
            total: stats.totalCapacityGB, free: stats.freeCapacityGB,
            reservedPercentage: stats.reservedPercentage, to: &json)
        json.key("pools")
        json.beginArray()
        for pool in stats.pools {
            json.beginObject()
            json.member("pool_name", pool.poolName)
            writeCapacities(
                total: pool.totalCapacityGB, free: pool.freeCapacityGB,
                reservedPercentage: pool.reservedPercentage, to: &json)
            json.member("thin_provisioning_support", pool.thinProvisioningSupport)
            json.member("thick_provisioning_support", pool.thickProvisioningSupport)
            json.member("max_over_subscription_ratio", pool.maxOverSubscriptionRatio)
            json.member("QoS_support", pool.qosSupport)
            json.member("multiattach", pool.multiattach)
            json.endObject()
        }
        json.endArray()
    }

    /// The three capacity members a backend and each of its pools carry, in Cinder's order.
    private static func writeCapacities(
        total: Capacity, free: Capacity, reservedPercentage: Int, to json: inout JSONWriter
    ) {
        json.key("total_capacity_gb")
        write(total, to: &json)
        json.key("free_capacity_gb")
        write(free, to: &json)
        json.member("reserved_percentage", reservedPercentage)
    }

    private static func write(_ capacity: Capacity, to json: inout JSONWriter) {
        switch capacity {
        case .gib(let value) where value.isNaN: json.string("unknown")
        case .gib(let value) where value.isInfinite && value > 0: json.string("infinite")
        case .gib(let value): json.double(value)
        case .unknown: json.string("unknown")
        case .infinite: json.string("infinite")
        }
    }
}
