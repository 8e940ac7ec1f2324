// GET /healthz and /readyz.

import Foundation
import JSON
import Scheduler
import Supervision

/// Liveness and readiness for orchestrators. Liveness only says the process serves HTTP; readiness
/// says every configured backend's driver is `ready` (and supervision is running), and lists the
/// ones that are not with their state and last error, so a failing probe explains itself.
enum HealthViews {
    static let healthz: EncodedView = {
        var json = JSONWriter(style: .pythonDumps)
        json.beginObject()
        json.member("status", "ok")
        json.endObject()
        return EncodedView(body: json.bytes)
    }()

    static func readyz(_ snapshot: ServiceSnapshot) -> EncodedView {
        let notReady = snapshot.backends.filter { $0.state != .ready }
        let ready = snapshot.running && notReady.isEmpty
        var json = JSONWriter(style: .pythonDumps, reservingCapacity: 128 + 300 * notReady.count)
        json.beginObject()
        json.member("ready", ready)
        json.member("running", snapshot.running)
        json.member("backends", snapshot.backends.count)
        json.key("not_ready")
        json.beginArray()
        for backend in notReady {
            json.beginObject()
            json.member("id", backend.id)
            json.member("host", backend.host)
            json.member("state", backend.state.rawValue)
            json.key("last_error")
            DriversView.write(backend.lastError, to: &json)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return EncodedView(body: json.bytes, status: ready ? .ok : .serviceUnavailable)
    }
}
