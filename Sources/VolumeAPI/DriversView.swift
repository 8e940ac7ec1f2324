// GET /drivers, /drivers/{id} and /drivers/{id}/events: what volumed adds over Cinder.

import Foundation
import Supervision

/// Encodes the supervisor's view of each backend: its state, attempts, last error and last
/// publish — what Cinder never exposes and operators most need when a driver will not come up.
enum DriversView {
    static func list(_ snapshot: ServiceSnapshot) -> EncodedView {
        var json = JSONWriter(reservingCapacity: 64 + 900 * snapshot.backends.count)
        json.beginObject()
        json.key("drivers")
        json.beginArray()
        for backend in snapshot.backends { write(backend, to: &json) }
        json.endArray()
        json.endObject()
        return EncodedView(body: json.bytes)
    }

    /// `{"driver": {...}}`.
    static func single(_ backend: BackendSnapshot) -> EncodedView {
        var json = JSONWriter(reservingCapacity: 1024)
        json.beginObject()
        json.key("driver")
        write(backend, to: &json)
        json.endObject()
        return EncodedView(body: json.bytes)
    }

    /// `{"events": [...]}`, newest first.
    static func events(_ backend: BackendSnapshot) -> EncodedView {
        var json = JSONWriter(reservingCapacity: 64 + 160 * backend.transitions.count)
        json.beginObject()
        json.member("id", backend.id)
        json.key("events")
        json.beginArray()
        for transition in backend.transitions.reversed() {
            json.beginObject()
            json.member("at", Timestamps.iso8601(transition.at))
            json.member("from", transition.from?.rawValue)
            json.member("to", transition.to.rawValue)
            json.member("reason", transition.reason)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return EncodedView(body: json.bytes)
    }

    static func write(_ backend: BackendSnapshot, to json: inout JSONWriter) {
        json.beginObject()
        json.member("id", backend.id)
        json.member("host", backend.host)
        json.member("volume_driver", backend.volumeDriver)
        json.member("volume_backend_name", backend.volumeBackendName)
        json.member("state", backend.state.rawValue)
        json.member("initialized", backend.initialized)
        json.member("reinit_attempts", backend.reinitAttempts)
        json.member("reinit_limit", backend.reinitLimit)
        json.key("last_error")
        write(backend.lastError, to: &json)
        json.member("next_reinit_at", backend.nextReinitAt.map(Timestamps.iso8601))
        json.key("last_publish")
        if let publish = backend.lastPublish {
            json.beginObject()
            json.member("at", Timestamps.iso8601(publish.at))
            json.member("ok", publish.ok)
            json.member("error", publish.error)
            json.endObject()
        } else {
            json.null()
        }
        json.key("capabilities")
        if let stats = backend.capabilities { CapabilitiesJSON.write(stats, to: &json) } else { json.null() }
        json.endObject()
    }
}

extension DriversView {
    /// `{"class", "kind", "message", "at"}` or null.
    static func write(_ error: ErrorRecord?, to json: inout JSONWriter) {
        guard let error else {
            json.null()
            return
        }
        json.beginObject()
        json.member("class", error.errorClass.rawValue)
        json.member("kind", error.kind.rawValue)
        json.member("message", error.message)
        json.member("at", Timestamps.iso8601(error.at))
        json.endObject()
    }
}

/// A driver's stats under Cinder's capability keys, as `get_volume_stats` would return them.
enum CapabilitiesJSON {
    static func write(_ stats: VolumeStats, to json: inout JSONWriter) {
        json.beginObject()
        json.member("volume_backend_name", stats.volumeBackendName)
        json.member("vendor_name", stats.vendorName)
        json.member("driver_version", stats.driverVersion)
        json.member("storage_protocol", stats.storageProtocol)
        json.key("total_capacity_gb")
        write(stats.totalCapacityGB, to: &json)
        json.key("free_capacity_gb")
        write(stats.freeCapacityGB, to: &json)
        json.member("reserved_percentage", stats.reservedPercentage)
        json.key("pools")
        json.beginArray()
        for pool in stats.pools {
            json.beginObject()
            json.member("pool_name", pool.poolName)
            json.key("total_capacity_gb")
            write(pool.totalCapacityGB, to: &json)
            json.key("free_capacity_gb")
            write(pool.freeCapacityGB, to: &json)
            json.member("reserved_percentage", pool.reservedPercentage)
            json.member("thin_provisioning_support", pool.thinProvisioningSupport)
            json.member("thick_provisioning_support", pool.thickProvisioningSupport)
            json.member("max_over_subscription_ratio", pool.maxOverSubscriptionRatio)
            json.member("QoS_support", pool.qosSupport)
            json.member("multiattach", pool.multiattach)
            json.endObject()
        }
        json.endArray()
        json.endObject()
    }

    static func write(_ capacity: Capacity, to json: inout JSONWriter) {
        switch capacity {
        case .gib(let value) where value.isNaN: json.string("unknown")
        case .gib(let value) where value.isInfinite && value > 0: json.string("infinite")
        case .gib(let value): json.double(value)
        case .unknown: json.string("unknown")
        case .infinite: json.string("infinite")
        }
    }
}
