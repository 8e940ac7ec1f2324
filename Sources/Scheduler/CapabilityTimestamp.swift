import Foundation

/// A report's UTC time with microsecond precision, the unit Cinder's timestamps carry, so "newer" is an
/// exact integer comparison and the time is written back as `2026-11-24T17:40:00.000000`.
package struct CapabilityTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    package let microsecondsSinceEpoch: Int64

    package init(microsecondsSinceEpoch: Int64) {
        self.microsecondsSinceEpoch = microsecondsSinceEpoch
    }

    /// `date` cut to the microsecond at or before it: Cinder's rule, as Python's `isoformat` drops
    /// what is below a microsecond rather than rounding it. The fraction is taken apart from the
    /// whole seconds, so a time just under a second never rounds up into the next one. Times outside
    /// years 1 to 9999 (no clock gives them) are clamped to those ends rather than trapping.
    package init(_ date: Date) {
        let since1970 = date.timeIntervalSince1970
        let whole = since1970.rounded(.down)
        guard whole.isFinite, abs(whole) < 1e15 else {
            microsecondsSinceEpoch = since1970 > 0 ? Self.representable.upperBound : Self.representable.lowerBound
            return
        }
        let micros = min(max(Int64(((since1970 - whole) * 1_000_000).rounded(.down)), 0), 999_999)
        let value = Int64(whole) * 1_000_000 + micros
        microsecondsSinceEpoch = min(max(value, Self.representable.lowerBound), Self.representable.upperBound)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]` (a space may stand for the `T`, as Python's
    /// `str(datetime)` writes it). Without an offset the time is UTC. Fractions beyond microseconds are
    /// truncated. Returns nil for anything else, including impossible dates and times that fall outside
    /// years 1 to 9999 once the offset is applied (Python's `datetime` range, so Cinder can read every
    /// time written back).
    package init?(parsing text: String) {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ width: Int) -> Int? {
            guard index + width <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<(index + width)] {
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            index += width
            return value
        }
        func expect(_ allowed: UInt8...) -> Bool {
            guard index < bytes.count, allowed.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect(UInt8(ascii: "-")), let month = number(2), expect(UInt8(ascii: "-")),
            let day = number(2), expect(UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")),
            let hour = number(2), expect(UInt8(ascii: ":")), let minute = number(2), expect(UInt8(ascii: ":")),
            let second = number(2)
        else { return nil }
        guard year >= 1, (1...12).contains(month), (1...Self.daysIn(month: month, year: year)).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }

        var micros = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                if digits < 6 { micros = micros * 10 + Int(bytes[index] - 0x30) }
                digits += 1
                index += 1
            }
            guard digits > 0, digits <= 9 else { return nil }
            if digits < 6 {
                for _ in digits..<6 { micros *= 10 }
            }
        }

        var offsetSeconds = 0
        if index < bytes.count {
            if expect(UInt8(ascii: "Z"), UInt8(ascii: "z")) {
                offsetSeconds = 0
            } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
                index += 1
                guard let offsetHours = number(2), expect(UInt8(ascii: ":")), let offsetMinutes = number(2),
                    offsetHours < 24, offsetMinutes < 60
                else { return nil }
                offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
            }
        }
        guard index == bytes.count else { return nil }

        let days = Self.daysSinceEpoch(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        let value = seconds * 1_000_000 + Int64(micros)
        guard Self.representable.contains(value) else { return nil }
        microsecondsSinceEpoch = value
    }

    /// 0001-01-01T00:00:00.000000 to 9999-12-31T23:59:59.999999, in microseconds since the epoch.
    static let representable: ClosedRange<Int64> =
        Int64(daysSinceEpoch(year: 1, month: 1, day: 1)) * 86_400_000_000...Int64(
            daysSinceEpoch(year: 10_000, month: 1, day: 1)) * 86_400_000_000 - 1

    package var date: Date {
        Date(timeIntervalSince1970: Double(microsecondsSinceEpoch) / 1_000_000)
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffff`, in UTC, without an offset (Cinder's format).
    package var description: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(26)
        appendText(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `description`'s UTF-8 to `out` without building a string: the one Cinder timestamp
    /// formatter of volumed (the API's `updated_at` and the tick's reports, 1,000 a second, use it).
    package func appendText(to out: inout [UInt8]) {
        let micros = Int(microsecondsSinceEpoch.mod(1_000_000))
        let totalSeconds = (microsecondsSinceEpoch - Int64(micros)) / 1_000_000
        let secondOfDay = Int(totalSeconds.mod(86_400))
        let days = Int((totalSeconds - Int64(secondOfDay)) / 86_400)
        let (year, month, day) = Self.civilDate(daysSinceEpoch: days)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        digits(year, 4)
        out.append(UInt8(ascii: "-"))
        digits(month, 2)
        out.append(UInt8(ascii: "-"))
        digits(day, 2)
        out.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2)
        out.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2)
        out.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2)
        out.append(UInt8(ascii: "."))
        digits(micros, 6)
    }

    package static func < (lhs: CapabilityTimestamp, rhs: CapabilityTimestamp) -> Bool {
        lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch
    }

    private static func isLeap(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 in the proleptic Gregorian calendar (eras of 400 years, March-based years).
    static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of `daysSinceEpoch`.
    static func civilDate(daysSinceEpoch: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = daysSinceEpoch + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension Int64 {
    /// The remainder with the sign of the divisor (so times before 1970 format correctly).
    fileprivate func mod(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
