import Clocks
import Dispatch
import Foundation
import Logging
import Synchronization

/// The publish tick and the publish pipeline: one batch of reports per tick, sent from a worker of
/// the driver pool; a batch that arrives while the previous publish still runs is merged into the
/// next one.
extension SupervisorSet {
    /// One tick: refresh every heartbeat, start due re-initializations and stats collections, and
    /// publish the round once every stats call has answered or timed out. Never blocks. A stats call
    /// that hangs delays its round by at most its `statsTimeout`; the next round does not wait for
    /// it (the backend is then retrying, or reports its last stats while the call is still running).
    func tick() {
        withState { state, effects in state.tick(effects: &effects) }
    }

    /// Calls `alive` every `interval` seconds from the supervision loop's own queue, as long as the
    /// loop is healthy: running, its lock free, its last tick no more than two intervals and a
    /// second ago (monotonic time). A wedged loop (its queue blocked, its lock held, its tick timer
    /// gone) stops calling, which is the point of systemd's watchdog: `WATCHDOG=1` sent from here
    /// stops when supervision stops working. `alive` runs on that queue and must not block.
    package func reportLiveness(every interval: Duration, _ alive: @escaping @Sendable () -> Void) -> LivenessReports {
        let timer = DispatchSource.makeTimerSource(flags: .strict, queue: control)
        let nanoseconds = max(
            1_000_000,
            Int(interval.components.seconds) * 1_000_000_000
                + Int(interval.components.attoseconds / 1_000_000_000))
        timer.schedule(deadline: .now(), repeating: .nanoseconds(nanoseconds), leeway: .milliseconds(1))
        timer.setEventHandler { [weak self] in
            guard let self, self.loopIsHealthy(now: DispatchTime.now().uptimeNanoseconds) else { return }
            alive()
        }
        timer.resume()
        return LivenessReports(timer: timer)
    }

    /// Whether the loop runs and has ticked recently enough; takes the lock, so a lock held
    /// forever also reads as unhealthy (by never answering).
    func loopIsHealthy(now uptime: UInt64) -> Bool {
        let allowance = UInt64((2 * settings.backendStatsPollingInterval + 1) * 1_000_000_000)
        return state.withLock { state in
            state.phase == .running && uptime <= state.lastTickUptime &+ allowance
        }
    }

    /// Sends a batch from a worker of the driver pool (never a thread of its own); the publisher
    /// bounds its own time.
    func startPublish(_ reports: [BackendReport]) {
        driverThreads.submit([
            DriverThreadPool.Job { [self] in
                let outcome: Result<PublishOutcome, any Error>
                do {
                    outcome = .success(try publisher.publishServiceCapabilities(reports))
                } catch {
                    outcome = .failure(error)
                }
                withState { state, effects in state.publishFinished(reports, outcome: outcome, effects: &effects) }
            }
        ])
    }
}

extension SupervisorSet.State {
    mutating func tick(effects: inout SupervisorSet.Effects) {
        guard phase == .running else { return }
        noteLoopTurn()
        let now = clock.now()
        lastRound &+= 1
        let roundNumber = lastRound
        var round = TickRound()
        for index in backends.indices {
            let jitterUnit = jitter.nextUnit()
            switch backends[index].machine.tick(now: now, jitter: jitterUnit) {
            case .collectStats(let callID):
                round.outstanding += 1
                backends[index].roundEntry = RoundEntry(callID: callID, round: roundNumber)
                enqueue(.collectStats(callID: callID), at: index, effects: &effects)
            case .reportUp(let stats):
                let machine = backends[index].machine
                round.reports.append(
                    BackendReport(
                        backendID: machine.id, host: machine.host, timestamp: now.wall, backendState: .up,
                        adminState: machine.adminState, capabilities: stats))
            case .noReport:
                break
            case .reportDown:
                round.reports.append(backends[index].machine.downReport(at: now.wall))
            case .reinitialize(let callID):
                round.reports.append(backends[index].machine.downReport(at: now.wall))
                enqueue(.runInitialization(callID: callID), at: index, effects: &effects)
            }
            commit(index, effects: &effects)
        }
        if round.outstanding == 0 {
            submitPublish(round.reports, effects: &effects)
        } else {
            rounds[roundNumber] = round
        }
    }

    /// Records that the loop turned. Not a visible change: a tick that changed nothing must keep
    /// the snapshot's version (and every view's ETag), so dashboards polling with `If-None-Match`
    /// keep getting 304; `/metrics` reads the time per scrape instead.
    mutating func noteLoopTurn() {
        lastTickDate = clock.now().wall
        lastTickUptime = DispatchTime.now().uptimeNanoseconds
    }

    /// Gives a backend's answer to the round waiting for it (a report, or none when it is being
    /// removed), and sends the round once it has every answer.
    mutating func answerRound(of index: Int, with report: BackendReport?, effects: inout SupervisorSet.Effects) {
        guard let entry = backends[index].roundEntry else { return }
        backends[index].roundEntry = nil
        guard rounds[entry.round] != nil else { return }
        // Changed in place: copying the round out would copy its reports for every answer.
        if let report { rounds[entry.round, default: TickRound()].reports.append(report) }
        rounds[entry.round, default: TickRound()].outstanding -= 1
        if rounds[entry.round]?.outstanding == 0, let round = rounds.removeValue(forKey: entry.round) {
            submitPublish(round.reports, effects: &effects)
        }
    }

    /// A backend's stats call will not answer its round (the backend was reconfigured or manually
    /// re-initialized, or is being removed): answer for it so the round still goes out, with its
    /// current report, or with none when it is being removed.
    mutating func settleRoundEntry(
        of index: Int, now: Date, removing: Bool = false, effects: inout SupervisorSet.Effects
    ) {
        guard let entry = backends[index].roundEntry,
            removing || backends[index].machine.pendingCall?.id != entry.callID
        else { return }
        answerRound(of: index, with: removing ? nil : backends[index].machine.report(at: now), effects: &effects)
    }

    /// Sends reports now, or merges them into the next publish when one is still running (the
    /// newest report per host wins).
    mutating func submitPublish(_ reports: [BackendReport], effects: inout SupervisorSet.Effects) {
        guard !reports.isEmpty else { return }
        guard publishInFlight else {
            publishInFlight = true
            effects.publishes.append(reports)
            return
        }
        for report in reports {
            if let queued = pendingPublish[report.host], queued.timestamp > report.timestamp { continue }
            pendingPublish[report.host] = report
        }
        publishesCoalesced += 1
        changed = true
        let count = reports.count
        let waiting = pendingPublish.count
        effects.logs.append { [logger] in
            logger.debug(
                "previous publish still running; coalescing reports into the next one",
                metadata: [
                    "reports": "\(count)", "queued_hosts": "\(waiting)",
                ])
        }
    }

    /// A refused report is logged when the refusal starts or its reason changes, and again when the
    /// scheduler takes the backend's reports again: once per change, not once per tick. The reason
    /// is what the message says before its first ':' (the scheduler's reason code), since the rest
    /// may name each report's own timestamp.
    private func logRefusalChange(
        backend id: String, from previous: PublishRecord?, to record: PublishRecord,
        effects: inout SupervisorSet.Effects
    ) {
        func reason(_ record: PublishRecord?) -> Substring? {
            guard let record, record.refused, let error = record.error else { return nil }
            return error.prefix { $0 != ":" }
        }
        let wasRefused = previous?.refused == true
        if record.refused, reason(previous) != reason(record) {
            let why = record.error ?? ""
            effects.logs.append { [logger] in
                logger.warning(
                    "the scheduler refuses this backend's capability reports; get_pools does not show its current state",
                    metadata: ["backend": "\(id)", "reason": "\(why)"])
            }
        } else if wasRefused, record.ok {
            effects.logs.append { [logger] in
                logger.notice(
                    "the scheduler accepts this backend's capability reports again", metadata: ["backend": "\(id)"])
            }
        }
    }

    /// Records the outcome in each backend's `lastPublish` (never its state) and starts the
    /// coalesced publish, if any.
    mutating func publishFinished(
        _ reports: [BackendReport], outcome: Result<PublishOutcome, any Error>, effects: inout SupervisorSet.Effects
    ) {
        let now = clock.now().wall
        var failures = 0
        for report in reports {
            let record: PublishRecord
            switch outcome {
            case .success(let result):
                if let why = result.rejected[report.host] {
                    record = PublishRecord(at: now, ok: false, error: why)
                } else if let why = result.refused[report.host] {
                    record = PublishRecord(at: now, ok: false, error: why, refused: true)
                } else {
                    record = PublishRecord(at: now, ok: true, error: nil)
                }
            case .failure(let error):
                record = PublishRecord(at: now, ok: false, error: String(describing: error))
            }
            if !record.ok && !record.refused { failures += 1 }
            guard let index = positions[report.backendID], backends[index].machine.host == report.host else {
                continue
            }
            logRefusalChange(
                backend: report.backendID, from: backends[index].machine.lastPublish, to: record, effects: &effects)
            backends[index].machine.recordPublish(record)
            commit(index, effects: &effects)
        }
        if failures > 0 {
            let detail: String
            if case .failure(let error) = outcome {
                detail = String(describing: error)
            } else {
                detail = "reports rejected"
            }
            let total = reports.count
            effects.logs.append { [logger, failures] in
                logger.warning(
                    "publishing capabilities failed; retrying with the next tick",
                    metadata: [
                        "failed_reports": "\(failures)", "reports": "\(total)", "error": "\(detail)",
                    ])
            }
        }
        if pendingPublish.isEmpty {
            publishInFlight = false
        } else {
            let next = pendingPublish.values.sorted { $0.host < $1.host }
            pendingPublish = [:]
            effects.publishes.append(next)
        }
    }
}

/// Keeps `SupervisorSet.reportLiveness` calling until cancelled or released.
package final class LivenessReports: Sendable {
    // A DispatchSource is thread-safe but not marked Sendable; the Mutex makes that checkable.
    private let timer: Mutex<any DispatchSourceTimer>

    init(timer: sending any DispatchSourceTimer) {
        self.timer = Mutex(timer)
    }

    package func cancel() { timer.withLock { $0.cancel() } }

    deinit { cancel() }
}
