// The two time formats of the API.

import Foundation

/// Formats instants for JSON. Cinder's os-services answer uses naive UTC with microseconds and no
/// zone (`2026-11-24T17:40:00.000000`), which cinderclient parses; everything volumed adds uses
/// RFC 3339 UTC (`2026-11-24T17:40:00.000000Z`). Done by hand with `gmtime_r` because a
/// `DateFormatter` per request (or a shared one behind a lock) would dominate the encode cost.
enum Timestamps {
    /// `2026-11-24T17:40:00.000000`, Cinder's `updated_at`.
    static func cinder(_ date: Date) -> String {
        format(date, zoneSuffix: "")
    }

    /// `2026-11-24T17:40:00.000000Z`.
    static func iso8601(_ date: Date) -> String {
        format(date, zoneSuffix: "Z")
    }

    private static func format(_ date: Date, zoneSuffix: String) -> String {
        let interval = date.timeIntervalSince1970
        guard interval.isFinite, abs(interval) < 253_402_300_800 else {
            // Beyond year 9999 the format has no room; clamp to its ends rather than emit garbage.
            return (interval < 0 ? "0001-01-01T00:00:00.000000" : "9999-12-31T23:59:59.999999") + zoneSuffix
        }
        var seconds = interval.rounded(.down)
        var micros = Int(((interval - seconds) * 1_000_000).rounded())
        if micros >= 1_000_000 {
            micros -= 1_000_000
            seconds += 1
        }
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var text = ""
        text.reserveCapacity(28)
        text += pad(Int(parts.tm_year) + 1900, 4)
        text += "-" + pad(Int(parts.tm_mon) + 1, 2)
        text += "-" + pad(Int(parts.tm_mday), 2)
        text += "T" + pad(Int(parts.tm_hour), 2)
        text += ":" + pad(Int(parts.tm_min), 2)
        text += ":" + pad(Int(parts.tm_sec), 2)
        text += "." + pad(micros, 6)
        text += zoneSuffix
        return text
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
