import Foundation

/// A one-shot gate a driver call waits on until the test opens it, for tests that need a call to
/// hang (a slow `doSetup`, a hung `getVolumeStats`). Waits are bounded (60 s) so a forgotten gate
/// never keeps a thread forever.
package final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var open = false

    package init() {}

    package func release() {
        condition.lock()
        open = true
        condition.broadcast()
        condition.unlock()
    }

    package func wait() {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(60)
        while !open && condition.wait(until: deadline) {}
    }
}
