import Dispatch
import Foundation
import Logging
import Supervision
import Synchronization

/// What volumed tells systemd (`Type=notify`): `READY=1` once the API listens and every backend's
/// first initialization has started (not finished: a backend waiting for its storage must not hold
/// the boot), a one-line `STATUS=` whenever the backends' states change (the snapshot version is
/// compared every 250 ms, which costs one lock; the line is rebuilt only when it moved), `RELOADING=1`/`READY=1`
/// around a SIGHUP reload, `STOPPING=1`, and `WATCHDOG=1` from the supervision loop itself so that a
/// wedged loop gets the process restarted.
package final class SystemdIntegration: Sendable {
    /// How often the status line is compared against the supervisors' snapshot version.
    static let statusPollInterval: DispatchTimeInterval = .milliseconds(250)

    private struct State {
        var liveness: LivenessReports?
        var statusTimer: (any DispatchSourceTimer)?
        var lastStatus: String?
        var lastVersion: UInt64?
        var sendFailing = false
        /// Set by `STOPPING=1`; nothing is sent after it.
        var stopped = false
    }

    private let notifier: SystemdNotifier
    private let watchdogInterval: Duration?
    private let logger: Logger
    private let queue = DispatchQueue(label: "volumed.systemd")
    /// Held across each send so that nothing follows `STOPPING=1` (a send never blocks). A Mutex
    /// takes its value as `sending`, so it may hold the timer although a DispatchSource is not
    /// Sendable.
    private let guarded = Mutex(State())

    /// nil when no service manager listens (`NOTIFY_SOCKET` unset), or when its address is unusable
    /// (logged: the unit's `Type=notify` will then time out, and the log says why).
    package init?(environment: SystemdEnvironment, logger: Logger) {
        guard let socket = environment.notifySocket else { return nil }
        do {
            notifier = try SystemdNotifier(address: NotifySocketAddress(socket))
        } catch {
            logger.error(
                "cannot speak to systemd; it will not learn that the service is ready", metadata: ["error": "\(error)"])
            return nil
        }
        watchdogInterval = environment.watchdogInterval
        self.logger = logger
    }

    private func withState<T: Sendable>(_ body: (inout State) -> T) -> T {
        guarded.withLock { body(&$0) }
    }

    deinit {
        withState { state in
            state.statusTimer?.cancel()
            state.liveness?.cancel()
        }
    }

    /// After `VolumeServiceRunner.start()` returned: `READY=1` with the status line, then the
    /// watchdog pings (at half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises) and the
    /// status updates start.
    package func serviceStarted(_ service: VolumeServiceRunner) {
        let supervisors = service.supervisors
        let snapshot = supervisors.snapshot()
        let status = ServiceStatusLine.summary(snapshot)
        send(.ready(status: status))
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + Self.statusPollInterval, repeating: Self.statusPollInterval)
        timer.setEventHandler { [weak self] in self?.refreshStatus(supervisors) }
        let liveness = watchdogInterval.map { interval in
            supervisors.reportLiveness(every: interval / 2) { [weak self] in self?.send(.watchdog) }
        }
        service.reloadHooks.set(
            began: { [weak self] in self?.reloading() },
            ended: { [weak self, weak service] in if let service { self?.reloaded(service) } })
        withState { state in
            state.lastStatus = status
            state.lastVersion = snapshot.version
            state.statusTimer = timer
            state.liveness = liveness
            timer.resume()
        }
    }

    /// A reload starts.
    func reloading() {
        send(.reloading(monotonicMicroseconds: SystemdNotification.monotonicMicroseconds()))
    }

    /// The reload finished, applied or rejected: either way the service runs again.
    func reloaded(_ service: VolumeServiceRunner) {
        let status = ServiceStatusLine.summary(service.supervisors.snapshot())
        withState { $0.lastStatus = status }
        send(.ready(status: status))
    }

    /// SIGTERM/SIGINT received: the last message; status updates and watchdog pings end here
    /// (systemd does not watch a stopping service).
    package func stopping() {
        withState { state in
            state.statusTimer?.cancel()
            state.statusTimer = nil
            state.liveness?.cancel()
            state.liveness = nil
        }
        send(.stopping(status: "stopping: answering requests in flight"))
    }

    private func refreshStatus(_ supervisors: SupervisorSet) {
        let version = supervisors.currentVersion
        guard withState({ $0.lastVersion != version }) else { return }
        let snapshot = supervisors.snapshot()
        let status = ServiceStatusLine.summary(snapshot)
        let changed = withState { state in
            state.lastVersion = snapshot.version
            guard state.lastStatus != status else { return false }
            state.lastStatus = status
            return true
        }
        if changed { send(.status(status)) }
    }

    /// A failed send is logged once per failing streak: the watchdog pings every few seconds.
    private func send(_ notification: SystemdNotification) {
        let outcome: (error: SystemdNotifyError?, logFailure: Bool, recovered: Bool) = withState { state in
            guard !state.stopped else { return (nil, false, false) }
            if case .stopping = notification { state.stopped = true }
            do throws(SystemdNotifyError) {
                try notifier.send(notification)
                defer { state.sendFailing = false }
                return (nil, false, state.sendFailing)
            } catch {
                defer { state.sendFailing = true }
                return (error, !state.sendFailing, false)
            }
        }
        if outcome.recovered { logger.notice("notifying systemd works again") }
        guard let error = outcome.error else { return }
        let metadata: Logger.Metadata = [
            "error": "\(error)", "message": "\(notification.datagram.split(separator: "\n")[0])",
        ]
        if outcome.logFailure {
            logger.warning("cannot notify systemd; retrying with the next message", metadata: metadata)
        } else {
            logger.debug("cannot notify systemd", metadata: metadata)
        }
    }
}

/// The one-line summary `systemctl status` shows: "3 backends: 2 ready, 1 retrying".
package enum ServiceStatusLine {
    package static func summary(_ snapshot: ServiceSnapshot) -> String {
        let backends = snapshot.backends
        guard !backends.isEmpty else { return "no backends" }
        var counts: [DriverState: Int] = [:]
        for backend in backends { counts[backend.state, default: 0] += 1 }
        let parts = DriverState.allCases.compactMap { state in counts[state].map { "\($0) \(state.rawValue)" } }
        return "\(backends.count) backend\(backends.count == 1 ? "" : "s"): \(parts.joined(separator: ", "))"
    }
}

/// What the runner tells about each reload as it runs it, for whoever set them (systemd's
/// notifications). Both run on the reload thread and must not block.
package final class ReloadHooks: Sendable {
    private let hooks = Mutex<(began: @Sendable () -> Void, ended: @Sendable () -> Void)?>(nil)

    package init() {}

    package func set(began: @escaping @Sendable () -> Void, ended: @escaping @Sendable () -> Void) {
        hooks.withLock { $0 = (began, ended) }
    }

    func began() { hooks.withLock { $0 }?.began() }
    func ended() { hooks.withLock { $0 }?.ended() }
}
