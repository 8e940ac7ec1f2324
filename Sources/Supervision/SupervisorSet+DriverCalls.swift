import Clocks
import Foundation
import Logging

/// Driver calls: each runs on a worker of its own (`DriverThreadPool`: reused between ticks, never
/// shared by two calls at once), bounded by a timeout on the control queue; the first of result and
/// timeout wins, and the state machine's call ids make the loser a no-op.
extension SupervisorSet {
    /// Turns a machine command into a call to launch after the lock is released. A backend with too
    /// many hung calls gets an immediate `timeout` failure instead of another thread.
    func enqueue(_ command: BackendStateMachine.Command, for record: BackendRecord, effects: inout Effects) {
        let settings = record.machine.settings
        let call: DriverCall
        switch command {
        case .runInitialization(let callID):
            call = DriverCall(
                record: record, backendID: record.machine.id, driver: record.driver, epoch: record.driverEpoch,
                callID: callID, kind: .initialization, timeout: settings.driverInitTimeout)
        case .collectStats(let callID):
            call = DriverCall(
                record: record, backendID: record.machine.id, driver: record.driver, epoch: record.driverEpoch,
                callID: callID, kind: .stats, timeout: settings.statsTimeout)
        }
        let hung = record.abandonedCalls.count
        guard hung < Self.maxAbandonedCallsPerBackend else {
            let error = DriverError(
                .timeout, "\(hung) earlier calls into the driver are still running past their timeout")
            let result: DriverCallResult =
                call.kind == .initialization ? .initialization(.failure(error)) : .stats(.failure(error))
            effects.callbacks.append { [weak self] in self?.callReturned(call, result: result) }
            return
        }
        effects.calls.append(call)
    }

    func launch(_ call: DriverCall) {
        driverThreads.run { [self] in
            let result: DriverCallResult
            switch call.kind {
            case .initialization:
                do {
                    try call.driver.doSetup()
                    try call.driver.checkForSetupError()
                    result = .initialization(.success(()))
                } catch {
                    result = .initialization(.failure(DriverError.classify(error)))
                }
            case .stats:
                do {
                    result = .stats(.success(try call.driver.getVolumeStats()))
                } catch {
                    result = .stats(.failure(DriverError.classify(error)))
                }
            }
            self.callReturned(call, result: result)
        }
        control.asyncAfter(deadline: .now() + call.timeout) { [weak self] in self?.callTimedOut(call) }
    }

    /// Whether the call was made for the backend and driver still supervised.
    private func isCurrent(_ call: DriverCall) -> Bool {
        phase == .running && records[call.backendID] === call.record && call.record.driverEpoch == call.epoch
    }

    func callReturned(_ call: DriverCall, result: DriverCallResult) {
        withState { effects in
            guard isCurrent(call) else { return }
            if call.record.abandonedCalls.remove(call.callID) != nil {
                let still = call.record.abandonedCalls.count
                effects.logs.append { [logger] in
                    logger.notice(
                        "late driver result ignored",
                        metadata: [
                            "backend": "\(call.backendID)", "call": "\(call.kind)", "hung_calls": "\(still)",
                        ])
                }
                return
            }
            apply(result, callID: call.callID, to: call.record, effects: &effects)
        }
    }

    func callTimedOut(_ call: DriverCall) {
        withState { effects in
            guard isCurrent(call), let pending = call.record.machine.pendingCall, pending.id == call.callID else {
                return
            }
            call.record.abandonedCalls.insert(call.callID)
            let error = call.record.machine.timeoutError(for: call.kind)
            let hung = call.record.abandonedCalls.count
            effects.logs.append { [logger] in
                logger.warning(
                    "driver call timed out; its thread is abandoned",
                    metadata: [
                        "backend": "\(call.backendID)", "call": "\(call.kind)", "timeout": "\(call.timeout)",
                        "hung_calls": "\(hung)",
                    ])
            }
            let result: DriverCallResult =
                call.kind == .initialization ? .initialization(.failure(error)) : .stats(.failure(error))
            apply(result, callID: call.callID, to: call.record, effects: &effects)
        }
    }

    /// Feeds a call's result to the machine and acts on what it decided.
    private func apply(_ result: DriverCallResult, callID: UInt64, to record: BackendRecord, effects: inout Effects) {
        let now = clock.now()
        switch result {
        case .initialization(let outcome):
            switch record.machine.initializationFinished(
                callID: callID, result: outcome, now: now, jitter: jitter.nextUnit())
            {
            case .ignored:
                return
            case .ready(let statsCallID):
                enqueue(.collectStats(callID: statsCallID), for: record, effects: &effects)
            case .failed:
                break
            }
        case .stats(let outcome):
            let step = record.machine.statsFinished(
                callID: callID, result: outcome, now: now, jitter: jitter.nextUnit())
            if step == .ignored { return }
            let report = record.machine.report(at: now.wall) ?? record.machine.downReport(at: now.wall)
            if let entry = record.roundEntry, entry.callID == callID {
                record.roundEntry = nil
                entry.round.reports.append(report)
                entry.round.outstanding -= 1
                if entry.round.outstanding == 0 { submitPublish(entry.round.reports, effects: &effects) }
            } else {
                // The first stats after an initialization: publish at once if it came up.
                submitPublish([report], effects: &effects)
            }
        }
        commit(record, effects: &effects)
        if record.settled { releaseWaiters(of: record, effects: &effects, outcome: .finished(record.published)) }
    }
}
