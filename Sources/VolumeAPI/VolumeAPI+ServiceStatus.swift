// PUT /v3/os-services/{action}: Cinder's service actions (enable/disable here; log levels and
// replication in their own files).

import Foundation
import HTTPServer
import JSON
import Scheduler
import ServiceDecisions
import Supervision

extension VolumeAPI {
    /// The actions of Cinder's `PUT os-services/{action}`.
    enum ServiceAction: String {
        case enable
        case disable
        case disableLogReason = "disable-log-reason"
        case setLog = "set-log"
        case getLog = "get-log"
        case freeze
        case thaw
        case failoverHost = "failover_host"
        case failover

        /// The microversion that introduced the action; below it the action does not exist.
        var introduced: APIVersion {
            switch self {
            case .setLog, .getLog: return .logLevel
            case .failover: return .replicationCluster
            case .enable, .disable, .disableLogReason, .freeze, .thaw, .failoverHost: return .minimum
            }
        }
    }

    /// Cinder's `check_string_length(reason, min_length=1, max_length=255, allow_all_spaces=False)`.
    static let disabledReasonLengths = 1...255

    /// Enables or disables a backend's service with Cinder's body and answer. A disabled backend
    /// stays supervised; the scheduler is told at once and leaves it out of `get_pools`. The answer
    /// is 200 only once the decision is durable; 503 (nothing changed) when it cannot be.
    func updateService(_ request: HTTPRequest) throws(OpenStackFault) -> HTTPResponse {
        try access.authorizeMutation(request)
        let actionName = request.pathParameters["action"] ?? ""
        let version = request.apiVersion
        guard let action = ServiceAction(rawValue: actionName), version >= action.introduced else {
            if let action = ServiceAction(rawValue: actionName) {
                throw .itemNotFound(
                    "The os-services action '\(actionName)' needs microversion \(action.introduced) or later; this request is at \(version)."
                )
            }
            throw .itemNotFound("Unknown os-services action '\(actionName)'.")
        }
        let body = try RequestInput.jsonObject(request)
        switch action {
        case .enable, .disable, .disableLogReason:
            return try updateServiceStatus(request, action: action, body: body)
        case .setLog:
            return try setLogLevels(body)
        case .getLog:
            return try logLevels(body)
        case .freeze, .thaw:
            return try freezeOrThaw(request, action: action, body: body)
        case .failoverHost, .failover:
            return try failover(body, action: action)
        }
    }

    /// enable, disable, disable-log-reason.
    func updateServiceStatus(_ request: HTTPRequest, action: ServiceAction, body: JSONValue) throws(OpenStackFault)
        -> HTTPResponse
    {
        let update = try ServiceUpdate(body, action: action)
        let (host, reason, service, binary, binaryKey) = (
            update.host, update.reason, update.service, update.binary, update.binaryKey
        )
        guard binaryKey == ServicesView.volumeBinary else {
            if binaryKey == ServicesView.schedulerBinary && host == settings.host && runsScheduler {
                throw .badRequest(
                    "The cinder-scheduler service of volumed cannot be disabled; only cinder-volume services can.")
            }
            throw .itemNotFound("Service host=\(host) binary=\(binaryKey) could not be found.")
        }
        guard let backend = supervisors.snapshot().backends.first(where: { $0.host == host }) else {
            throw .itemNotFound("Service host=\(host) binary=\(binaryKey) could not be found.")
        }
        let decision: OperatorDecision = action == .enable ? .enable : .disable(reason: reason)
        audit(request, "os-services \(action.rawValue)", ["host": "\(host)"])
        // Answered once the decision is durable and applied, from the decisions' writer: the event
        // loop never waits for the disk.
        return .deferred { [decisions] responder in
            decisions.record(decision, backendID: backend.id) { result in
                switch result {
                case .success(let status):
                    responder.respond(
                        Self.serviceAnswer(status, action: action, host: host, service: service, binary: binary))
                case .failure(let error):
                    responder.respond(Self.notDurable(error).response())
                }
            }
        }
    }

    /// The body of enable, disable and disable-log-reason, as Cinder reads it.
    struct ServiceUpdate {
        var host: String
        /// disable-log-reason's `disabled_reason`.
        var reason: String?
        /// Both as sent (empty when absent): Cinder echoes them.
        var service: String
        var binary: String
        /// Cinder: `binary` wins, the deprecated `service` is its fallback.
        var binaryKey: String

        init(_ body: JSONValue, action: ServiceAction) throws(OpenStackFault) {
            host = try RequestInput.requiredString(body, "host")
            reason = action == .disableLogReason ? try VolumeAPI.disabledReason(body) : nil
            service = try RequestInput.optionalString(body, "service") ?? ""
            binary = try RequestInput.optionalString(body, "binary") ?? ""
            binaryKey = binary.isEmpty ? service : binary
            guard !binaryKey.isEmpty else {
                throw .badRequest("Missing required element 'binary' in request body.")
            }
        }
    }

    /// Cinder's answer to an os-services update.
    static func serviceAnswer(
        _ status: AdminState, action: ServiceAction, host: String, service: String,
        binary: String
    ) -> HTTPResponse {
        var json = JSONWriter(style: .pythonDumps)
        json.beginObject()
        json.member("disabled", status.disabled)
        json.member("status", status.status.rawValue)
        json.member("host", host)
        json.member("service", service)
        json.member("binary", binary)
        if action == .disableLogReason { json.member("disabled_reason", status.disabledReason) }
        json.endObject()
        return HTTPResponse(status: .ok, body: json.bytes)
    }

    /// 503 for a decision that was not made durable, saying why and whether anything changed.
    static func notDurable(_ error: DecisionStoreError) -> OpenStackFault {
        if error.nothingChanged {
            return .serviceUnavailable("The decision could not be made durable: \(error); nothing was changed.")
        }
        return .serviceUnavailable(
            "The decision could not be confirmed durable: \(error); it was not applied, "
                + "and may or may not be in force after a restart.")
    }

    /// `disabled_reason`: a string of 1 to 255 code points, not only whitespace (Unicode White_Space).
    static func disabledReason(_ body: JSONValue) throws(OpenStackFault) -> String {
        let reason = try RequestInput.requiredString(body, "disabled_reason")
        let length = reason.unicodeScalars.count
        guard disabledReasonLengths.contains(length) else {
            throw .badRequest("Invalid element 'disabled_reason': it must be 1 to 255 characters long, got \(length).")
        }
        // Per code point, as Python's `isspace` looks at it: a space followed by a combining mark is
        // one Swift Character that counts as whitespace, yet carries a code point that is not.
        guard reason.unicodeScalars.contains(where: { !$0.properties.isWhitespace }) else {
            throw .badRequest("Invalid element 'disabled_reason': it must not be only spaces.")
        }
        return reason
    }
}
