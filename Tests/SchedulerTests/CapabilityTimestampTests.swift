import Foundation
import Scheduler
import Testing

@Suite("Capability timestamps")
struct CapabilityTimestampTests {
    @Test func parsesCinderFormat() throws {
        let stamp = try #require(CapabilityTimestamp(parsing: "2026-11-24T17:40:00.000000"))
        #expect(stamp.microsecondsSinceEpoch == 1_795_542_000_000_000)
        #expect(stamp.description == "2026-11-24T17:40:00.000000")
    }

    @Test(arguments: [
        ("2026-11-24T17:40:00", "2026-11-24T17:40:00.000000"),
        ("2026-11-24 17:40:00.5", "2026-11-24T17:40:00.500000"),
        ("2026-11-24T17:40:00.123456789Z", "2026-11-24T17:40:00.123456"),
        ("2026-11-24T19:40:00.000001+02:00", "2026-11-24T17:40:00.000001"),
        ("2026-11-24T12:10:00-05:30", "2026-11-24T17:40:00.000000"),
        ("2024-02-29T00:00:00", "2024-02-29T00:00:00.000000"),
        ("2000-03-01T00:00:00", "2000-03-01T00:00:00.000000"),
        ("1969-12-31T23:59:59.999999", "1969-12-31T23:59:59.999999"),
    ])
    func normalizesToUTCMicroseconds(input: String, expected: String) throws {
        #expect(try #require(CapabilityTimestamp(parsing: input)).description == expected)
    }

    @Test(arguments: [
        "", "2026-11-24", "2026-13-01T00:00:00", "2026-02-29T00:00:00", "2026-04-31T00:00:00",
        "2026-11-24T24:00:00", "2026-11-24T17:60:00", "2026-11-24T17:40:60", "2026-11-24T17:40:00.",
        "2026-11-24T17:40:00.1234567890", "2026-11-24T17:40:00+0200", "2026-11-24T17:40:00 ", "26-11-24T17:40:00",
        "2026-11-24X17:40:00", "0000-01-01T00:00:00",
        // In range as written, but outside years 1...9999 once the offset is applied.
        "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59.999999-00:01",
    ])
    func refusesOtherText(input: String) {
        #expect(CapabilityTimestamp(parsing: input) == nil)
    }

    /// Python's datetime (and so Cinder) holds years 1 to 9999 only; the edges still parse and write back.
    @Test func keepsTheEdgesOfPythonsRange() throws {
        #expect(
            try #require(CapabilityTimestamp(parsing: "0001-01-01T01:00:00+01:00")).description
                == "0001-01-01T00:00:00.000000")
        #expect(
            try #require(CapabilityTimestamp(parsing: "9999-12-31T22:59:59.999999-01:00")).description
                == "9999-12-31T23:59:59.999999")
    }

    @Test func ordersAndConvertsDates() throws {
        let earlier = try #require(CapabilityTimestamp(parsing: "2026-11-24T17:40:00.000001"))
        let later = try #require(CapabilityTimestamp(parsing: "2026-11-24T17:40:00.000002"))
        #expect(earlier < later)
        let date = Date(timeIntervalSince1970: 1_795_542_000.25)
        #expect(CapabilityTimestamp(date).description == "2026-11-24T17:40:00.250000")
        #expect(CapabilityTimestamp(date).date == date)
    }
}
