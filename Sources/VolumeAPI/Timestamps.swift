// The two time formats of the API, both written by the one Cinder timestamp formatter
// (`CapabilityTimestamp`, which also dates the tick's reports): microseconds cut, never rounded.

import Foundation
import Scheduler

/// Formats instants for JSON. Cinder's os-services answer uses naive UTC with microseconds and no
/// zone (`2026-11-24T17:40:00.000000`), which cinderclient parses; everything volumed adds uses
/// RFC 3339 UTC (`2026-11-24T17:40:00.000000Z`).
enum Timestamps {
    /// `2026-11-24T17:40:00.000000`, Cinder's `updated_at`.
    static func cinder(_ date: Date) -> String {
        CapabilityTimestamp(date).description
    }

    /// `2026-11-24T17:40:00.000000Z`.
    static func iso8601(_ date: Date) -> String {
        CapabilityTimestamp(date).description + "Z"
    }
}
