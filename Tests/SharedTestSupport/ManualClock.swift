import Clocks
import Foundation
import Synchronization

/// A clock a test moves by hand. `advance(by:)` moves both clocks, as time passing does;
/// `stepWall(by:)` moves only the wall clock, as an operator or NTP setting the system clock does,
/// so a test can check that no deadline follows the step.
package final class ManualClock: ServiceClock {
    private let current: Mutex<ClockReading>

    /// Starts at `wall`, with the monotonic clock at an arbitrary instant unrelated to it (as on a
    /// real host), so a test cannot pass by confusing the two.
    package init(_ wall: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        current = Mutex(ClockReading(wall: wall, monotonic: MonotonicInstant(nanoseconds: 42_000_000_000)))
    }

    package func now() -> ClockReading { current.withLock { $0 } }

    /// The wall-clock time now.
    package var wall: Date { now().wall }

    package func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.advanced(by: seconds) }
    }

    package func stepWall(by seconds: TimeInterval) {
        current.withLock { $0 = ClockReading(wall: $0.wall.addingTimeInterval(seconds), monotonic: $0.monotonic) }
    }
}
