// The `Date` header, formatted once a second instead of once a response.

#if canImport(Glibc)
    import Glibc
#endif

/// Holds `Date: <IMF-fixdate>\r\n` for the current second. Each event loop owns one and refreshes it
/// after every `epoll_wait`; formatting happens only when the second changes.
struct DateCache {
    private(set) var line: [UInt8] = []
    private var second: Int = -1

    init() { refresh() }

    mutating func refresh() {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &spec)
        let now = Int(spec.tv_sec)
        guard now != second else { return }
        second = now
        line = Array("Date: \(Self.imfFixdate(now))\r\n".utf8)
    }

    /// RFC 9110 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func imfFixdate(_ epochSeconds: Int) -> String {
        var time = time_t(epochSeconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
