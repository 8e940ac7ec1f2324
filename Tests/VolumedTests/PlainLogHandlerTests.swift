import Logging
import Testing
import VolumeService

/// The log lines an operator greps: one event per line, the backend first, the transition readable
/// from left to right.
@Suite(.offCooperativePool) struct PlainLogHandlerTests {
    @Test func aTransitionReadsFromLeftToRight() {
        let line = PlainLogHandler.line(
            timestamp: "2026-11-26T14:41:58.952Z", level: .warning, message: "driver state changed",
            metadata: [
                "backend": "lvm-1", "to": "retrying", "from": "initializing", "reason": "vgs failed",
                "reinit_attempts": "1", "error_kind": "backend_unavailable",
            ],
            label: "volumed.supervision")
        #expect(
            line == "2026-11-26T14:41:58.952Z warning [lvm-1] driver state changed from=initializing to=retrying "
                + "reason=\"vgs failed\" error_kind=backend_unavailable reinit_attempts=1 (volumed.supervision)\n")
    }

    @Test func aMultiLineErrorStaysOneLine() {
        let line = PlainLogHandler.line(
            timestamp: "T", level: .error, message: "first\nsecond",
            metadata: ["reason": "Volume group \"vg\" not found\n  Cannot process volume group vg\tnow\u{1B}[0m"],
            label: "x")
        #expect(
            line
                == #"T error first\nsecond reason="Volume group \"vg\" not found\n  Cannot process volume group vg\tnow\u{1B}[0m" (x)"#
                + "\n")
        #expect(line.filter { $0 == "\n" }.count == 1)
    }
}
