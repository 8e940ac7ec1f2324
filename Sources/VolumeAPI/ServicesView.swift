// GET /v3/os-services: Cinder's services list, shaped by the request's microversion.

import Foundation
import JSON
import Scheduler
import Supervision

/// Encodes the os-services list. A service is `up` when its heartbeat is within
/// `service_down_time` of now (Cinder compares the absolute difference, so a heartbeat from a
/// clock that runs ahead also counts as down); because that depends on the clock, every encode
/// also says until when its up/down states hold, and the cache re-encodes past that instant.
enum ServicesView {
    static let volumeBinary = "cinder-volume"
    static let schedulerBinary = "cinder-scheduler"

    /// `?host=` and `?binary=` (or Cinder's deprecated `?service=`), exact matches; empty means no filter.
    struct Filter: Sendable, Equatable {
        var host: String?
        var binary: String?

        func admits(host: String, binary: String) -> Bool {
            (self.host == nil || self.host == host) && (self.binary == nil || self.binary == binary)
        }

        /// A cache key part that tells every filter apart (NUL never survives query decoding).
        var cacheKey: String { "\(host ?? "")\u{0}\(binary ?? "")" }
    }

    /// The members that depend on the microversion, as in Cinder's services controller.
    struct Fields: Sendable, Equatable {
        /// `cluster` (3.7).
        var cluster: Bool
        /// `backend_state` of volume services (3.49).
        var backendState: Bool

        init(_ version: APIVersion) {
            cluster = version >= .clusterSupport
            backendState = version >= .backendStateReport
        }

        /// A cache key part that tells the shapes apart.
        var cacheKey: String { (cluster ? "c" : "-") + (backendState ? "b" : "-") + "\u{0}" }
    }

    /// The in-process scheduler's entry, when this process also runs the scheduler.
    struct SchedulerEntry: Sendable {
        var heartbeat: Date
        /// When the heartbeat next advances (the view changes then).
        var nextHeartbeat: Date
    }

    static func encode(
        _ snapshot: ServiceSnapshot, settings: VolumeAPISettings, scheduler: SchedulerEntry?, filter: Filter,
        fields: Fields = Fields(.maximum), now: Date
    ) -> (EncodedView, ViewValidity) {
        var validity = ViewValidity(version: snapshot.version, validFrom: now)
        var json = JSONWriter(style: .pythonDumps, reservingCapacity: 128 + 420 * snapshot.backends.count)
        json.beginObject()
        json.key("services")
        json.beginArray()
        if let scheduler, filter.admits(host: settings.host, binary: schedulerBinary) {
            let up = isUp(heartbeat: scheduler.heartbeat, now: now, settings: settings, validity: &validity)
            validity.validBefore = min(validity.validBefore, scheduler.nextHeartbeat)
            json.beginObject()
            json.member("binary", schedulerBinary)
            json.member("host", settings.host)
            json.member("zone", settings.availabilityZone)
            json.member("status", "enabled")
            json.member("state", up ? "up" : "down")
            json.member("updated_at", Timestamps.cinder(scheduler.heartbeat))
            json.nullMember("disabled_reason")
            if fields.cluster { json.nullMember("cluster") }
            json.endObject()
        }
        for backend in snapshot.backends where filter.admits(host: backend.host, binary: volumeBinary) {
            let up = isUp(heartbeat: backend.updatedAt, now: now, settings: settings, validity: &validity)
            writeVolumeService(
                into: &json, binary: volumeBinary, host: backend.host, zone: settings.availabilityZone,
                adminState: backend.adminState,
                up: up, updatedAt: backend.updatedAt, backendState: backend.backendState.rawValue, fields: fields)
        }
        json.endArray()
        json.endObject()
        return (EncodedView(body: json.bytes), validity)
    }

    /// One service row in Cinder's shape, as a host lists its own and a scheduler the cluster's.
    /// `backendState` nil: a service that has none (written only at microversions that show it).
    static func writeVolumeService(
        into json: inout JSONWriter, binary: String, host: String, zone: String, adminState: AdminState, up: Bool,
        updatedAt: Date, backendState: String?, fields: Fields
    ) {
        json.beginObject()
        json.member("binary", binary)
        json.member("host", host)
        json.member("zone", zone)
        json.member("status", adminState.status.rawValue)
        json.member("state", up ? "up" : "down")
        json.member("updated_at", Timestamps.cinder(updatedAt))
        json.member("disabled_reason", adminState.disabledReason)
        if fields.backendState, let backendState { json.member("backend_state", backendState) }
        if fields.cluster { json.nullMember("cluster") }
        json.member("replication_status", "disabled")
        json.nullMember("active_backend_id")
        json.member("frozen", adminState.frozen)
        json.endObject()
    }

    /// Cinder's liveness rule, narrowing `validity` to the instant this answer would flip.
    static func isUp(heartbeat: Date, now: Date, settings: VolumeAPISettings, validity: inout ViewValidity) -> Bool {
        let downTime = settings.serviceDownTime
        let up = abs(now.timeIntervalSince(heartbeat)) <= downTime
        if up {
            // Goes down just after heartbeat + down time; re-encoding at that exact instant is harmless.
            validity.validBefore = min(validity.validBefore, heartbeat.addingTimeInterval(downTime))
        } else if heartbeat.addingTimeInterval(-downTime) > now {
            // A heartbeat ahead of our clock: up once the clock catches up to within the down time.
            validity.validBefore = min(validity.validBefore, heartbeat.addingTimeInterval(-downTime))
        }
        return up
    }
}
