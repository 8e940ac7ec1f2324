import Foundation
import JSON
import Scheduler
import Supervision
import VolumeAPI

/// The wire form of tick reports, shared by the publisher and the tests that read what it sent:
/// `{"reports": [{"host", "service", "timestamp", "capabilities": {"backend_state", "status", ...}}]}`,
/// with the driver's stats under Cinder's capability names when the backend is up.
///
/// Written straight into bytes: with 1,000 backends this runs every tick, and going through
/// `JSONEncoder` and `JSONSerialization` (sorted keys compare through ICU) cost about three
/// quarters of the volume service's CPU per tick (see BENCHMARKS.md, "Profile").
package enum CapabilityReportEncoding {
    package static let serviceBinary = "cinder-volume"

    /// Why a report cannot be written as JSON.
    package enum Failure: Error, Equatable, CustomStringConvertible {
        /// A capacity or ratio, by its capability name, that is not a finite number.
        case notFinite(name: String, value: Double)

        package var description: String {
            switch self {
            case .notFinite(let name, let value): "\(name) is not a finite number: \(value)"
            }
        }
    }

    /// Cinder's timestamp format (`2026-11-24T17:40:00.000000`, UTC, microseconds).
    package static func cinderTimestamp(_ date: Date) -> String {
        CapabilityTimestamp(date).description
    }

    /// A batch body for `POST /v3/scheduler/capabilities`.
    package static func batchBody(_ reports: some Collection<BackendReport>) throws(Failure) -> [UInt8] {
        var json = JSONWriter(style: .compact, reservingCapacity: 64 + reports.count * 900)
        json.beginObject()
        json.key("reports")
        json.beginArray()
        for report in reports { try write(report, to: &json) }
        json.endArray()
        json.endObject()
        return json.bytes
    }

    /// One report as one object, the form a cluster keeps under `reports/<host@backend>` in etcd
    /// (the scheduler reads it with the same parser as a posted report).
    package static func reportBody(_ report: BackendReport) throws(Failure) -> [UInt8] {
        var json = JSONWriter(style: .compact, reservingCapacity: 900)
        try write(report, to: &json)
        return json.bytes
    }

    /// Reports per request: bounds a request's size well under the scheduler's body limit (1 MiB by
    /// default) even with 1,000 backends and several pools each.
    package static let reportsPerBatch = 200

    /// Publishes `reports` in batches of `reportsPerBatch` through `send`, which returns the
    /// scheduler's refusals of its batch or throws when the batch did not reach it. Throws the last
    /// failure when no batch got through; otherwise the outcome names every report not taken.
    package static func publishInBatches<Failure: Error>(
        _ reports: [BackendReport], send: (ArraySlice<BackendReport>) throws(Failure) -> [ReportRefusal]
    ) throws(Failure) -> PublishOutcome {
        var outcome = PublishOutcome()
        var lastFailure: Failure?
        var start = 0
        while start < reports.count {
            let batch = reports[start..<min(start + reportsPerBatch, reports.count)]
            start += reportsPerBatch
            do {
                outcome.refused.merge(refusedHosts(try send(batch), batch: batch)) { $1 }
            } catch {
                lastFailure = error
                for report in batch { outcome.rejected[report.host] = "\(error)" }
            }
        }
        if outcome.rejected.count == reports.count, let lastFailure { throw lastFailure }
        return outcome
    }

    /// The scheduler's refusals of a batch (`ReceiveAnswer`), by the host of the report each names
    /// by position, as `PublishOutcome.refused` records them.
    static func refusedHosts(
        _ refusals: [ReportRefusal], batch: some Collection<BackendReport>
    ) -> [String: String] {
        let reports = Array(batch)
        var refused: [String: String] = [:]
        for refusal in refusals where reports.indices.contains(refusal.index) {
            refused[reports[refusal.index].host] =
                "the scheduler refused the report (\(refusal.reason.rawValue)): \(refusal.message)"
        }
        return refused
    }

    private static func write(
        _ report: BackendReport, to json: inout JSONWriter
    ) throws(Failure) {
        if let stats = report.capabilities { try checkFinite(stats) }
        json.beginObject()
        json.member("host", report.host)
        json.member("service", serviceBinary)
        json.key("timestamp")
        json.preformattedString { CapabilityTimestamp(report.timestamp).appendText(to: &$0) }
        json.key("capabilities")
        json.beginObject()
        json.member("backend_state", report.backendState.rawValue)
        json.member("status", report.adminState.status.rawValue)
        if let reason = report.adminState.disabledReason {
            json.member("disabled_reason", reason)
        }
        if report.adminState.frozen { json.member("frozen", true) }
        if let stats = report.capabilities {
            CapabilitiesJSON.writeMembers(stats, to: &json)
        }
        json.endObject()
        json.endObject()
    }

    /// The scheduler must receive numbers it can compare: a capacity or ratio that is not finite is
    /// refused, by name, rather than sent as a word or null.
    private static func checkFinite(_ stats: VolumeStats) throws(Failure) {
        func check(_ name: String, _ value: Double) throws(Failure) {
            guard value.isFinite else { throw .notFinite(name: name, value: value) }
        }
        func check(_ name: String, _ capacity: Capacity) throws(Failure) {
            if case .gib(let value) = capacity { try check(name, value) }
        }
        try check("total_capacity_gb", stats.totalCapacityGB)
        try check("free_capacity_gb", stats.freeCapacityGB)
        for pool in stats.pools {
            try check("total_capacity_gb", pool.totalCapacityGB)
            try check("free_capacity_gb", pool.freeCapacityGB)
            try check("max_over_subscription_ratio", pool.maxOverSubscriptionRatio)
        }
    }
}
