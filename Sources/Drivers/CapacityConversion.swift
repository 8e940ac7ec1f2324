import Supervision

extension Capacity {
    /// Bytes as GiB with two decimals, as Cinder drivers round their reports.
    static func gib(bytes: UInt64) -> Capacity {
        .gib(gibRounded(Double(bytes) / 1_073_741_824))
    }
}

/// A GiB figure rounded to two decimals.
func gibRounded(_ value: Double) -> Double {
    (value * 100).rounded() / 100
}
