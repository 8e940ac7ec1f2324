import Foundation

/// Polls `condition` every 20 ms until it holds or `seconds` pass; returns whether it held. The one
/// bounded wait of the test targets: tests await a condition instead of sleeping a fixed time. The
/// deadline is on the monotonic clock, so a step of the wall clock neither cuts nor stretches it.
/// Blocks its thread: in an `async` test the overload below is chosen, which suspends instead.
package func waitUntil(seconds: Double = 20, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

/// `waitUntil` for `async` tests: polls every 10 ms with `Task.sleep`, so the wait holds no thread of
/// Swift's cooperative pool (two threads on two cores) while other tests need it.
package func waitUntil(seconds: Double = 20, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try condition()
}

/// External programs a test runs. A test that needs one declares it with
/// `.enabled(if: Tool.available("python3"), "python3 is not installed; scripts/setup --test installs it")`,
/// so a machine without it shows the test as skipped with the reason, never as passed;
/// `scripts/setup --test` installs every one.
package enum Tool {
    package static let python3 = path("python3")
    package static let curl = path("curl")

    /// The executable `name` on `PATH` (or in the usual Debian directories), or nil.
    package static func path(_ name: String) -> String? {
        let directories =
            (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Whether every one of `names` is installed.
    package static func available(_ names: String...) -> Bool {
        names.allSatisfy { path($0) != nil }
    }
}
