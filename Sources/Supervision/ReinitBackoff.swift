import Foundation

/// When the next automatic re-initialization is due: exponential in the attempts already used,
/// based on the tick interval, capped by `reinit_backoff_max`, with "equal jitter" (the upper half
/// of the delay is random) so that many backends behind one dead array do not retry in lockstep.
/// The result is never shorter than one tick, even when the cap is, so a short tick cannot make the
/// service hammer a dead backend.
package enum ReinitBackoff {
    /// - Parameters:
    ///   - attemptsUsed: automatic re-initializations already used in this failure episode (0 after
    ///     the first failure).
    ///   - jitter: a value in `0...1` (clamped); 1 gives the full exponential delay, 0 half of it.
    package static func delay(attemptsUsed: Int, tickInterval: TimeInterval, cap: TimeInterval, jitter: Double)
        -> TimeInterval
    {
        let exponent = Double(min(max(attemptsUsed, 0), 60))
        let exponential = min(cap, tickInterval * pow(2, exponent))
        let unit = jitter.isFinite ? min(max(jitter, 0), 1) : 1
        let jittered = exponential * (0.5 + 0.5 * unit)
        return max(tickInterval, jittered)
    }
}
