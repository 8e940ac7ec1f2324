import Clocks
import Foundation
import Logging

/// Driver calls: a tick's calls go to the driver pool in one batch, each under its timeout (kept by
/// the pool's watchdog); results come back to the supervision queue and are applied in batches.
/// The first of result and timeout wins, and the state machine's call ids make the loser a no-op.
extension SupervisorSet {
    func launch(_ calls: [DriverCall]) {
        driverThreads.submit(
            calls.map { call in
                DriverThreadPool.Job(
                    timeout: call.timeout,
                    timedOut: { [weak self] started in
                        guard let self else { return }
                        control.async { self.callTimedOut(call, started: started) }
                    }
                ) { [self] in
                    deliver(ReturnedCall(call: call, result: call.run()))
                }
            })
    }

    /// Hands a result to the supervision queue; the first of a burst schedules one drain for all.
    func deliver(_ result: ReturnedCall) {
        let first = returned.withLock { buffer in
            buffer.append(result)
            return buffer.count == 1
        }
        if first { control.async { [weak self] in self?.applyReturnedCalls() } }
    }

    private func applyReturnedCalls() {
        let batch = returned.withLock { buffer in
            // The buffer keeps its capacity, so a tick's results never regrow it under the lock.
            defer { buffer.removeAll(keepingCapacity: true) }
            return buffer
        }
        withState { state, effects in
            for item in batch { state.callReturned(item.call, result: item.result, effects: &effects) }
        }
    }

    func callTimedOut(_ call: DriverCall, started: Bool) {
        withState { state, effects in state.callTimedOut(call, started: started, effects: &effects) }
    }
}

extension SupervisorSet.State {
    /// Turns a machine command into a call to launch after the lock is released. A backend with too
    /// many hung calls gets an immediate `timeout` failure instead of another worker.
    mutating func enqueue(
        _ command: BackendStateMachine.Command, at index: Int, effects: inout SupervisorSet.Effects
    ) {
        let settings = backends[index].machine.settings
        let kind: BackendStateMachine.CallKind
        let callID: UInt64
        let timeout: TimeInterval
        switch command {
        case .runInitialization(let id):
            (kind, callID, timeout) = (.initialization, id, settings.driverInitTimeout)
        case .collectStats(let id):
            (kind, callID, timeout) = (.stats, id, settings.statsTimeout)
        }
        let call = DriverCall(
            backendID: backends[index].machine.id, incarnation: backends[index].incarnation,
            driver: backends[index].driver, epoch: backends[index].driverEpoch, callID: callID, kind: kind,
            timeout: timeout)
        let hung = backends[index].abandonedCalls.count
        guard hung < SupervisorSet.maxAbandonedCallsPerBackend else {
            let error = DriverError(
                .timeout, "\(hung) earlier calls into the driver are still running past their timeout")
            effects.answered.append(ReturnedCall(call: call, result: .failure(error, for: kind)))
            return
        }
        effects.calls.append(call)
    }

    /// Where the backend a call was made for sits, if it and its driver are still supervised.
    private func position(of call: DriverCall) -> Int? {
        guard phase == .running, let index = positions[call.backendID],
            backends[index].incarnation == call.incarnation, backends[index].driverEpoch == call.epoch
        else { return nil }
        return index
    }

    mutating func callReturned(_ call: DriverCall, result: DriverCallResult, effects: inout SupervisorSet.Effects) {
        guard let index = position(of: call) else { return }
        if backends[index].abandonedCalls.remove(call.callID) != nil {
            let still = backends[index].abandonedCalls.count
            effects.logs.append { [logger] in
                logger.notice(
                    "late driver result ignored",
                    metadata: [
                        "backend": "\(call.backendID)", "call": "\(call.kind)", "hung_calls": "\(still)",
                    ])
            }
            return
        }
        apply(result, callID: call.callID, at: index, effects: &effects)
    }

    /// The call's timeout passed before its result. A call a worker was running is abandoned to
    /// that worker (its late result is ignored); one still queued never runs.
    mutating func callTimedOut(_ call: DriverCall, started: Bool, effects: inout SupervisorSet.Effects) {
        guard let index = position(of: call), let pending = backends[index].machine.pendingCall,
            pending.id == call.callID
        else { return }
        if started { backends[index].abandonedCalls.insert(call.callID) }
        let error = backends[index].machine.timeoutError(for: call.kind)
        let hung = backends[index].abandonedCalls.count
        effects.logs.append { [logger] in
            if started {
                logger.warning(
                    "driver call timed out; its thread is abandoned",
                    metadata: [
                        "backend": "\(call.backendID)", "call": "\(call.kind)", "timeout": "\(call.timeout)",
                        "hung_calls": "\(hung)",
                    ])
            } else {
                logger.warning(
                    "driver call timed out before a driver thread was free to run it",
                    metadata: [
                        "backend": "\(call.backendID)", "call": "\(call.kind)", "timeout": "\(call.timeout)",
                        "max_driver_threads": "\(SupervisorSet.maxDriverThreads)",
                    ])
            }
        }
        apply(.failure(error, for: call.kind), callID: call.callID, at: index, effects: &effects)
    }

    /// Feeds a call's result to the machine and acts on what it decided.
    private mutating func apply(
        _ result: DriverCallResult, callID: UInt64, at index: Int, effects: inout SupervisorSet.Effects
    ) {
        let now = clock.now()
        let jitterUnit = jitter.nextUnit()
        switch result {
        case .initialization(let outcome):
            switch backends[index].machine.initializationFinished(
                callID: callID, result: outcome, now: now, jitter: jitterUnit)
            {
            case .ignored:
                return
            case .ready(let statsCallID):
                enqueue(.collectStats(callID: statsCallID), at: index, effects: &effects)
            case .failed:
                break
            }
        case .stats(let outcome):
            let step = backends[index].machine.statsFinished(
                callID: callID, result: outcome, now: now, jitter: jitterUnit)
            if step == .ignored { return }
            let report =
                backends[index].machine.report(at: now.wall) ?? backends[index].machine.downReport(at: now.wall)
            if let entry = backends[index].roundEntry, entry.callID == callID {
                answerRound(of: index, with: report, effects: &effects)
            } else {
                // The first stats after an initialization: publish at once if it came up.
                submitPublish([report], effects: &effects)
            }
        }
        commit(index, effects: &effects)
        if backends[index].settled {
            releaseWaiters(of: index, effects: &effects, outcome: .finished(backends[index].published))
        }
    }
}
