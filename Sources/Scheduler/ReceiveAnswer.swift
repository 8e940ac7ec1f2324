/// The reports of one `POST /v3/scheduler/capabilities` body, validated one by one.
import JSON

package struct ReportBatch: Sendable, Equatable {
    /// False for a body that is one report rather than `{"reports": [...]}`.
    package var isBatch: Bool
    /// Reports in the body, valid or not.
    package var count: Int
    /// The valid reports, in body order, each with its position.
    package var reports: [IndexedReport]
    /// The reports refused as invalid.
    package var refused: [ReportRefusal]

    /// The valid reports alone, in body order.
    package var valid: [CapabilityReport] { reports.map(\.report) }
}

/// A report and its position in the body (`reports[index]`; 0 for a single-report body).
package struct IndexedReport: Sendable, Equatable {
    package var index: Int
    package var report: CapabilityReport

    package init(index: Int, report: CapabilityReport) {
        self.index = index
        self.report = report
    }
}

/// A report the scheduler did not store, and why; the publisher records it in the backend's
/// `last_publish` so an operator sees that the scheduler is ignoring this backend.
package struct ReportRefusal: Sendable, Equatable {
    package enum Reason: String, Sendable, CaseIterable {
        /// Failed validation, including a timestamp too far ahead of the scheduler's clock.
        case invalid
        /// The stored report for the host is newer (a late, reordered delivery).
        case olderThanStored = "older_than_stored"
        /// The store holds as many backends or pools as it may; the report names a new one.
        case storeFull = "store_full"
    }

    /// Position in the body's `reports` (0 for a single-report body).
    package var index: Int
    /// The report's `host`, when it had a readable one.
    package var host: String?
    package var reason: Reason
    package var message: String

    package init(index: Int, host: String?, reason: Reason, message: String) {
        self.index = index
        self.host = host
        self.reason = reason
        self.message = message
    }
}

/// What the scheduler answers to a capability body it could read: 204 when every report was
/// stored, else 200 with `{"accepted": N, "refused": [{"index", "host", "reason", "message"}]}`.
/// Written by the scheduler and read back by the publisher, so both sides share one shape.
package enum ReceiveAnswer {
    package static func encode(_ summary: ReceiveSummary) -> [UInt8] {
        var json = JSONWriter(style: .compact, reservingCapacity: 64 + 160 * summary.refused.count)
        json.beginObject()
        json.member("accepted", summary.accepted)
        json.key("refused")
        json.beginArray()
        for refusal in summary.refused {
            json.beginObject()
            json.member("index", refusal.index)
            json.member("host", refusal.host)
            json.member("reason", refusal.reason.rawValue)
            json.member("message", refusal.message)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.bytes
    }

    /// Longest refusal message kept from an answer: it ends up in every refused backend's
    /// `last_publish` and log line, whatever a (possibly foreign) scheduler sent.
    static let maxMessageLength = 1000

    /// The refusals of a 200 answer; nil when the body is not such an answer.
    package static func refusals(in body: [UInt8]) -> [ReportRefusal]? {
        guard let document = try? JSONParser.parse(body), case .array(let items) = document["refused"] else {
            return nil
        }
        var refusals: [ReportRefusal] = []
        for item in items {
            guard let index = item["index"]?.numberValue, index >= 0, index < Double(Int32.max),
                let reasonText = item["reason"]?.stringValue
            else { return nil }
            refusals.append(
                ReportRefusal(
                    index: Int(index), host: item["host"]?.stringValue,
                    reason: ReportRefusal.Reason(rawValue: reasonText) ?? .invalid,
                    message: String((item["message"]?.stringValue ?? reasonText).prefix(maxMessageLength))))
        }
        return refusals
    }
}
