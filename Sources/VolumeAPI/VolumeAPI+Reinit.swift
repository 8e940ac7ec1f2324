// POST /drivers/{id}/reinit[?wait=SECONDS]: an operator's "try again now".

import Foundation
import HTTPServer
import Supervision
import Synchronization

extension VolumeAPI {
    /// Starts a re-initialization now with the attempt counter reset: 202 with the driver, 404 for
    /// an unknown id, 409 while one is running, 503 when supervision is not running. With
    /// `?wait=SECONDS` the answer waits (without holding a thread) until the initialization
    /// finished — 200 with the driver as it ended — or the wait ran out — 202 as it stands.
    func reinit(_ request: HTTPRequest) throws(OpenStackFault) -> HTTPResponse {
        try access.authorizeMutation(request)
        let id = request.pathParameters["id"] ?? ""
        let wait = try RequestInput.seconds(request, "wait", maximum: Self.maxReinitWait) ?? 0
        audit(request, "driver re-initialization", ["backend": "\(id)"])
        guard wait > 0 else {
            let result = supervisors.reinit(id: id)
            if let refusal = Self.refusal(result, id: id) { throw refusal }
            guard let backend = supervisors.snapshot().backend(id: id) else {
                throw .itemNotFound("Driver \(id) could not be found.")
            }
            return HTTPResponse(status: .accepted, body: DriversView.single(backend).body)
        }
        let supervisors = self.supervisors
        return .deferred { responder in
            let rendezvous = ReinitRendezvous(responder: responder, id: id)
            let result = supervisors.reinit(id: id, waitUpTo: wait) { outcome in rendezvous.finish(outcome) }
            rendezvous.started(result)
        }
    }

    /// The fault for every result but `started`.
    static func refusal(_ result: ReinitResult, id: String) -> OpenStackFault? {
        switch result {
        case .started:
            return nil
        case .notFound:
            return .itemNotFound("Driver \(id) could not be found.")
        case .alreadyRunning:
            return .conflict("Driver \(id) is already initializing; wait for it to finish.")
        case .notRunning:
            return .serviceUnavailable("Supervision is not running, so no re-initialization can start.")
        }
    }
}

/// Joins the two halves of a waited re-initialization — the immediate result and the later
/// outcome — which may arrive in either order on different threads, and answers once.
final class ReinitRendezvous: Sendable {
    private let responder: Responder
    private let id: String
    private let state = Mutex<(result: ReinitResult?, outcome: ReinitWaitOutcome?)>((nil, nil))

    init(responder: Responder, id: String) {
        self.responder = responder
        self.id = id
    }

    func started(_ result: ReinitResult) {
        if let refusal = VolumeAPI.refusal(result, id: id) {
            responder.respond(refusal.response())
            return
        }
        let outcome = state.withLock { state -> ReinitWaitOutcome? in
            state.result = result
            return state.outcome
        }
        if let outcome { answer(outcome) }
    }

    func finish(_ outcome: ReinitWaitOutcome) {
        let result = state.withLock { state -> ReinitResult? in
            state.outcome = outcome
            return state.result
        }
        if result == .started { answer(outcome) }
    }

    private func answer(_ outcome: ReinitWaitOutcome) {
        switch outcome {
        case .finished(let backend):
            responder.respond(HTTPResponse(status: .ok, body: DriversView.single(backend).body))
        case .timedOut(let backend):
            responder.respond(HTTPResponse(status: .accepted, body: DriversView.single(backend).body))
        case .removed:
            responder.respond(
                OpenStackFault.itemNotFound(
                    "Driver \(id) was removed, or supervision stopped, before its initialization finished."
                ).response())
        }
    }
}
