/// The randomness behind backoff jitter, injected so tests can pin backoff times exactly.
/// `nextUnit()` returns a value in `0...1`; values outside are clamped by the caller.
package protocol JitterSource: Sendable {
    func nextUnit() -> Double
}

/// Uniform jitter from the system's random number generator.
package struct SystemJitter: JitterSource {
    package init() {}
    package func nextUnit() -> Double { Double.random(in: 0...1) }
}
