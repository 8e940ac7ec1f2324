// GET /drivers, /drivers/{id} and /drivers/{id}/events: what volumed adds over Cinder.

import Foundation
import JSON
import Scheduler
import Supervision

/// Encodes the supervisor's view of each backend: its state, attempts, last error and last
/// publish — what Cinder never exposes and operators most need when a driver will not come up.
enum DriversView {
    static func list(_ snapshot: ServiceSnapshot) -> EncodedView {
        var json = JSONWriter(style: .pythonDumps, reservingCapacity: 64 + 900 * snapshot.backends.count)
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
        var json = JSONWriter(style: .pythonDumps, reservingCapacity: 1024)
        json.beginObject()
        json.key("driver")
        write(backend, to: &json)
        json.endObject()
        return EncodedView(body: json.bytes)
    }

    /// `{"events": [...]}`, newest first.
    static func events(_ backend: BackendSnapshot) -> EncodedView {
        var json = JSONWriter(style: .pythonDumps, reservingCapacity: 64 + 160 * backend.transitions.count)
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
            json.member("refused", publish.refused)
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
