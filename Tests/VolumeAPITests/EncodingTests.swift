import Foundation
import Supervision
import Testing
import VolumeService

@testable import VolumeAPI

@Suite("encoding", .offCooperativePool)
struct EncodingTests {
    @Test("timestamps in Cinder's format and RFC 3339 UTC")
    func timestamps() {
        let date = Date(timeIntervalSince1970: 1_795_542_000.25)  // 2026-11-24T17:40:00.25Z
        #expect(Timestamps.cinder(date) == "2026-11-24T17:40:00.250000")
        #expect(Timestamps.iso8601(date) == "2026-11-24T17:40:00.250000Z")
        #expect(Timestamps.cinder(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000000")
        #expect(Timestamps.iso8601(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500000Z")
        #expect(Timestamps.cinder(Date(timeIntervalSince1970: 1e12)) == "9999-12-31T23:59:59.999999")
    }

    /// One rule for every timestamp volumed writes, Cinder's: what is below a microsecond is cut
    /// (Python's `isoformat`), never rounded up. The API once rounded to the nearest microsecond
    /// while the reports cut, so one instant could read 02.000000 on `GET /v3/services` and
    /// 01.999999 in the report the scheduler got.
    @Test("the API and the reports write one instant the same way, microseconds cut")
    func oneTimestampRule() {
        for seconds in [1.9999999, 1_795_542_000.0000005, 1_795_714_799.999999, -0.0000001] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(Timestamps.cinder(date) == CapabilityReportEncoding.cinderTimestamp(date))
        }
        #expect(Timestamps.iso8601(Date(timeIntervalSince1970: 1.9999999)) == "1970-01-01T00:00:01.999999Z")
        #expect(Timestamps.cinder(Date(timeIntervalSince1970: -0.0000001)) == "1969-12-31T23:59:59.999999")
    }

    @Test("ETags are quoted, stable for equal bytes and different for different bytes")
    func entityTags() {
        let a = EncodedView(body: Array("{\"a\": 1}".utf8))
        let b = EncodedView(body: Array("{\"a\": 1}".utf8))
        let c = EncodedView(body: Array("{\"a\": 2}".utf8))
        #expect(a.etag == b.etag)
        #expect(a.etag != c.etag)
        #expect(a.etag.wholeMatch(of: /"[0-9a-f]{16}-[0-9a-f]+"/) != nil)
    }

    @Test("the view cache rebuilds on a new version or outside the clock window, and stays bounded")
    func viewCache() {
        let cache = ViewCache(capacity: 3)
        var builds = 0
        let t0 = Date(timeIntervalSince1970: 1000)
        func get(_ key: String, _ version: UInt64, _ now: Date) -> String {
            let view = cache.view(key, version: version, now: now) {
                builds += 1
                return (
                    EncodedView(body: Array("\(key)\(version)#\(builds)".utf8)),
                    ViewValidity(version: version, validFrom: now, validBefore: now.addingTimeInterval(10))
                )
            }
            return String(decoding: view.body, as: UTF8.self)
        }
        #expect(get("a", 1, t0) == "a1#1")
        #expect(get("a", 1, t0.addingTimeInterval(5)) == "a1#1")
        #expect(get("a", 1, t0.addingTimeInterval(10)) == "a1#2")  // window ended
        #expect(get("a", 1, t0.addingTimeInterval(9)) == "a1#3")  // clock went back before the window
        #expect(get("a", 2, t0.addingTimeInterval(9)) == "a2#4")  // new version
        #expect(get("b", 2, t0) == "b2#5")
        #expect(get("c", 2, t0) == "c2#6")
        #expect(cache.count == 3)
        // Full with current entries: a new key is served but not stored, the others stay cached.
        #expect(get("d", 2, t0) == "d2#7")
        #expect(get("d", 2, t0) == "d2#8")
        #expect(cache.count == 3)
        #expect(get("a", 2, t0.addingTimeInterval(9)) == "a2#4")
        // A new version makes the older entries evictable.
        #expect(get("e", 3, t0) == "e3#9")
        #expect(cache.count == 1)
        #expect(get("e", 3, t0) == "e3#9")
    }

    @Test("os-services up/down follows Cinder's absolute-age rule and bounds the cache window")
    func liveness() {
        let settings = VolumeAPISettings(host: "h", serviceDownTime: 60)
        let now = Date(timeIntervalSince1970: 10_000)
        var validity = ViewValidity(version: 1, validFrom: now)
        #expect(
            ServicesView.isUp(heartbeat: now.addingTimeInterval(-60), now: now, settings: settings, validity: &validity)
        )
        #expect(validity.validBefore == now)
        validity = ViewValidity(version: 1, validFrom: now)
        #expect(
            ServicesView.isUp(heartbeat: now.addingTimeInterval(-10), now: now, settings: settings, validity: &validity)
        )
        #expect(validity.validBefore == now.addingTimeInterval(50))
        #expect(
            !ServicesView.isUp(
                heartbeat: now.addingTimeInterval(-61), now: now, settings: settings, validity: &validity))
        #expect(validity.validBefore == now.addingTimeInterval(50))
        #expect(
            !ServicesView.isUp(heartbeat: now.addingTimeInterval(70), now: now, settings: settings, validity: &validity)
        )
        #expect(validity.validBefore == now.addingTimeInterval(10))
    }
}
