import Foundation
import Logging
import Testing

@testable import Supervision

@Suite("transition log levels", .offCooperativePool)
struct TransitionLogPolicyTests {
    private let at = Date(timeIntervalSince1970: 1_800_000_000)

    private func transition(_ from: DriverState?, _ to: DriverState) -> StateTransition {
        StateTransition(at: at, from: from, to: to, reason: "test")
    }

    private func error(_ kind: ErrorKind, _ message: String) -> ErrorRecord {
        ErrorRecord(errorClass: .recoverable, kind: kind, message: message, at: at)
    }

    @Test("the same failure again and again: a warning, then debug, then a warning every 10th repeat")
    func repeatedFailureIsQuiet() {
        var policy = TransitionLogPolicy()
        let missing = error(.backendUnavailable, "share missing")
        #expect(policy.level(for: transition(nil, .initializing), lastError: nil) == (.info, nil))
        #expect(policy.level(for: transition(.initializing, .retrying), lastError: missing) == (.warning, nil))
        var levels: [Logger.Level] = []
        var repeats: [Int?] = []
        for _ in 1...20 {
            #expect(policy.level(for: transition(.retrying, .initializing), lastError: missing) == (.debug, nil))
            let (level, count) = policy.level(for: transition(.initializing, .retrying), lastError: missing)
            levels.append(level)
            repeats.append(count)
        }
        #expect(levels.enumerated().filter { $0.element == .warning }.map(\.offset) == [9, 19])
        #expect(repeats == (1...20).map { Optional($0) })
    }

    @Test("a different failure, or a success between, is a warning again")
    func changeIsLoud() {
        var policy = TransitionLogPolicy()
        let missing = error(.backendUnavailable, "share missing")
        #expect(policy.level(for: transition(.initializing, .retrying), lastError: missing) == (.warning, nil))
        #expect(policy.level(for: transition(.initializing, .retrying), lastError: missing) == (.debug, 1))
        #expect(
            policy.level(
                for: transition(.initializing, .retrying), lastError: error(.backendUnavailable, "stale handle"))
                == (.warning, nil))
        #expect(
            policy.level(for: transition(.initializing, .retrying), lastError: error(.timeout, "stale handle")) == (
                .warning, nil
            ))
        #expect(policy.level(for: transition(.initializing, .ready), lastError: nil) == (.info, nil))
        #expect(
            policy.level(for: transition(.ready, .retrying), lastError: error(.timeout, "stale handle")) == (
                .warning, nil
            ))
    }

    @Test("exhausted and failed are errors; a first or manual initialization is info")
    func terminalStatesAreErrors() {
        var policy = TransitionLogPolicy()
        #expect(
            policy.level(for: transition(.initializing, .exhausted), lastError: error(.timeout, "slow")) == (
                .error, nil
            ))
        #expect(
            policy.level(for: transition(.initializing, .failed), lastError: error(.configError, "bad")) == (
                .error, nil
            ))
        #expect(policy.level(for: transition(.exhausted, .initializing), lastError: nil) == (.info, nil))
        #expect(
            policy.level(for: transition(.initializing, .retrying), lastError: error(.timeout, "slow")) == (
                .warning, nil
            ))
    }
}
