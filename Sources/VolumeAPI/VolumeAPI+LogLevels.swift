// PUT /v3/os-services/set-log and get-log (microversion 3.32): volumed's own log levels at run time.

import HTTPServer
import JSON
import Logging
import Scheduler
import Supervision

extension VolumeAPI {
    static let apiBinary = "cinder-api"
    /// The binaries Cinder's log actions know (`constants.LOG_BINARIES`); volumed runs no backup
    /// service, so `cinder-backup` selects nothing.
    static let logBinaries = [ServicesView.schedulerBinary, ServicesView.volumeBinary, "cinder-backup", apiBinary]

    /// One service whose log levels an action selected.
    struct LogTarget {
        var host: String
        var binary: String
    }

    /// `set-log`: `{"level", "binary"?, "server"?, "prefix"?}` -> 202. Every service volumed runs
    /// (the API, the scheduler, each backend's volume service) lives in this one process and shares
    /// its loggers, so a change for any selected service is a change of the process's levels for
    /// `prefix`; nothing changes when the filters select no service.
    func setLogLevels(_ body: JSONValue) throws(OpenStackFault) -> HTTPResponse {
        let levelName = try RequestInput.optionalString(body, "level") ?? ""
        guard let level = LogLevelRegistry.level(named: levelName) else {
            throw .badRequest(
                "Invalid input received: '\(levelName)' is not a valid log level (DEBUG, INFO, WARNING, ERROR, CRITICAL, or TRACE, NOTICE)."
            )
        }
        let prefix = try Self.logPrefix(body)
        let targets = try logTargets(body)
        guard let logLevels else {
            throw .notImplemented("This process was started without run-time log levels.")
        }
        if !targets.isEmpty {
            logLevels.set(prefix: prefix, level: level)
            logger.notice(
                "log level changed through the API",
                metadata: [
                    "prefix": "\(prefix)", "level": "\(LogLevelRegistry.name(of: level))",
                    "services": "\(targets.map { "\($0.binary)@\($0.host)" }.joined(separator: ","))",
                ])
        }
        return HTTPResponse(status: .accepted, body: [])
    }

    /// `get-log`: `{"binary"?, "server"?, "prefix"?}` -> 200
    /// `{"log_levels": [{"host", "binary", "levels": {"<logger>": "<LEVEL>"}}]}`.
    func logLevels(_ body: JSONValue) throws(OpenStackFault) -> HTTPResponse {
        let prefix = try Self.logPrefix(body)
        let targets = try logTargets(body)
        let levels = logLevels?.levels(prefix: prefix) ?? []
        var json = JSONWriter(style: .pythonDumps)
        json.beginObject()
        json.key("log_levels")
        json.beginArray()
        for target in targets {
            json.beginObject()
            json.member("host", target.host)
            json.member("binary", target.binary)
            json.key("levels")
            json.beginObject()
            for entry in levels { json.member(entry.label, LogLevelRegistry.name(of: entry.level)) }
            json.endObject()
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return HTTPResponse(status: .ok, body: json.bytes)
    }

    /// `prefix`: a logger-name prefix, absent or empty for every logger (at most 255 characters).
    static func logPrefix(_ body: JSONValue) throws(OpenStackFault) -> String {
        let prefix = try RequestInput.optionalString(body, "prefix") ?? ""
        guard prefix.unicodeScalars.count <= 255 else {
            throw .badRequest("Invalid input received: 'prefix' must be at most 255 characters long.")
        }
        return prefix
    }

    /// The services a log action selects, as Cinder's `_log_params_binaries_services`: `binary`
    /// absent, empty or `*` means all; `cinder-api` means only the API (listed only without a
    /// `server`); `server` selects services by host (`node1` also matches `node1@backend`); only
    /// services that are up count.
    func logTargets(_ body: JSONValue) throws(OpenStackFault) -> [LogTarget] {
        let binary = try RequestInput.optionalString(body, "binary") ?? ""
        let server = try RequestInput.optionalString(body, "server") ?? ""
        let binaries: [String]
        if binary.isEmpty || binary == "*" {
            binaries = Self.logBinaries
        } else if Self.logBinaries.contains(binary) {
            binaries = [binary]
        } else {
            throw .badRequest("Invalid input received: \(binary) is not a valid binary.")
        }
        func hostMatches(_ host: String) -> Bool {
            server.isEmpty || host == server || host.hasPrefix(server + "@")
        }
        var targets: [LogTarget] = []
        if binaries.contains(Self.apiBinary) && server.isEmpty {
            targets.append(LogTarget(host: settings.host, binary: Self.apiBinary))
        }
        if binary == Self.apiBinary { return targets }
        if binaries.contains(ServicesView.schedulerBinary) && runsScheduler && hostMatches(settings.host) {
            targets.append(LogTarget(host: settings.host, binary: ServicesView.schedulerBinary))
        }
        if binaries.contains(ServicesView.volumeBinary) {
            let snapshot = supervisors.snapshot()
            let now = clock.now().wall
            for backend in snapshot.backends
            where hostMatches(backend.host)
                && abs(now.timeIntervalSince(backend.updatedAt)) <= settings.serviceDownTime
            {
                targets.append(LogTarget(host: backend.host, binary: ServicesView.volumeBinary))
            }
        }
        return targets
    }
}
