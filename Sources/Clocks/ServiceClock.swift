import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A point on the monotonic clock, in nanoseconds since an unspecified start (boot, on Linux).
/// Only differences mean anything; unlike `Date`, it never steps when an operator or NTP sets the
/// system clock, so every deadline, timeout, backoff and staleness is measured on it.
package struct MonotonicInstant: Sendable, Hashable, Comparable {
    package let nanoseconds: Int64

    package init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    /// `CLOCK_MONOTONIC`, the clock Dispatch timers run on, so a deadline and the timer that checks
    /// it agree.
    package static func now() -> MonotonicInstant {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return MonotonicInstant(nanoseconds: Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }

    /// This instant moved by `seconds` (rounded to the nanosecond; saturating, never trapping).
    package func advanced(by seconds: TimeInterval) -> MonotonicInstant {
        let delta = (seconds * 1e9).rounded()
        guard delta.isFinite, abs(delta) < 9e18 else {
            return MonotonicInstant(nanoseconds: seconds > 0 ? .max : .min)
        }
        let (sum, overflow) = nanoseconds.addingReportingOverflow(Int64(delta))
        guard !overflow else { return MonotonicInstant(nanoseconds: delta > 0 ? .max : .min) }
        return MonotonicInstant(nanoseconds: sum)
    }

    /// Seconds from `earlier` to this instant (negative when `earlier` is later).
    package func seconds(since earlier: MonotonicInstant) -> TimeInterval {
        Double(nanoseconds &- earlier.nanoseconds) / 1e9
    }

    package static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }
}

/// One reading of both clocks, taken together: `wall` for what is displayed or sent to another host
/// (Cinder's timestamps, `updated_at`, a report's date), `monotonic` for every duration and deadline.
package struct ClockReading: Sendable, Hashable {
    package let wall: Date
    package let monotonic: MonotonicInstant

    package init(wall: Date, monotonic: MonotonicInstant) {
        self.wall = wall
        self.monotonic = monotonic
    }

    /// The reading `seconds` later on both clocks: what a deadline reads as, on the monotonic clock
    /// to decide and on the wall clock to show.
    package func advanced(by seconds: TimeInterval) -> ClockReading {
        ClockReading(wall: wall.addingTimeInterval(seconds), monotonic: monotonic.advanced(by: seconds))
    }

    /// Seconds elapsed since `earlier`, on the monotonic clock.
    package func seconds(since earlier: ClockReading) -> TimeInterval {
        monotonic.seconds(since: earlier.monotonic)
    }
}

/// The time source of every module of volumed, injected so tests move time by hand (and can step
/// the wall clock alone, as an operator or NTP does) while the service uses `SystemClock`.
package protocol ServiceClock: Sendable {
    func now() -> ClockReading
}

/// The system's clocks: `Date()` and `CLOCK_MONOTONIC`.
package struct SystemClock: ServiceClock {
    package init() {}
    package func now() -> ClockReading { ClockReading(wall: Date(), monotonic: .now()) }
}
