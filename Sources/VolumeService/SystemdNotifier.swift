// The sd_notify protocol without libsystemd: one datagram per message to $NOTIFY_SOCKET.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Why a notification could not be sent. The service logs it and runs on; if watchdog pings keep
/// failing, systemd restarts the process, which is what a service it cannot hear from deserves.
package enum SystemdNotifyError: Error, Equatable, CustomStringConvertible {
    /// `$NOTIFY_SOCKET` is neither an absolute path nor an `@` abstract name (systemd 254's `vsock:`
    /// addresses are not spoken), or does not fit `sun_path`.
    case unusableAddress(String)
    case cannotOpenSocket(errno: Int32)
    case cannotSend(errno: Int32)

    package var description: String {
        switch self {
        case .unusableAddress(let value):
            return "NOTIFY_SOCKET=\(value) is not an absolute AF_UNIX path or an @abstract name of at most 107 bytes"
        case .cannotOpenSocket(let code):
            return "cannot open an AF_UNIX datagram socket: \(String(cString: strerror(code)))"
        case .cannotSend(let code):
            return "cannot send to NOTIFY_SOCKET: \(String(cString: strerror(code)))"
        }
    }
}

/// One sd_notify message (`sd_notify(3)`), rendered as the newline-separated assignments systemd reads.
package enum SystemdNotification: Sendable, Equatable {
    /// Start-up finished (or a reload did), with the status line to show.
    case ready(status: String)
    /// A reload began. `monotonicMicroseconds` is CLOCK_MONOTONIC, which systemd 253+ requires
    /// next to `RELOADING=1` and older versions ignore.
    case reloading(monotonicMicroseconds: UInt64)
    case stopping(status: String)
    /// A new one-line summary for `systemctl status`.
    case status(String)
    /// The watchdog keep-alive ping.
    case watchdog

    package var datagram: String {
        switch self {
        case .ready(let status): return "READY=1\nSTATUS=\(Self.oneLine(status))"
        case .reloading(let microseconds): return "RELOADING=1\nMONOTONIC_USEC=\(microseconds)"
        case .stopping(let status): return "STOPPING=1\nSTATUS=\(Self.oneLine(status))"
        case .status(let status): return "STATUS=\(Self.oneLine(status))"
        case .watchdog: return "WATCHDOG=1"
        }
    }

    /// A newline would start a new assignment: STATUS must stay one line.
    static func oneLine(_ text: String) -> String {
        text.contains(where: \.isNewline) ? text.split(whereSeparator: \.isNewline).joined(separator: " ") : text
    }

    /// CLOCK_MONOTONIC now, in microseconds, as `MONOTONIC_USEC=` wants it.
    package static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }
}

/// `$NOTIFY_SOCKET` parsed into the bytes of `sun_path`: an absolute file-system path, or a name in
/// Linux's abstract namespace written with a leading `@` (a leading NUL byte on the wire, and an
/// address length that stops at the name's last byte, as systemd binds it).
package struct NotifySocketAddress: Sendable, Equatable {
    package let value: String
    let pathBytes: [UInt8]

    package init(_ value: String) throws(SystemdNotifyError) {
        var bytes = Array(value.utf8)
        switch bytes.first {
        case UInt8(ascii: "/"):
            break
        case UInt8(ascii: "@") where bytes.count > 1:
            bytes[0] = 0
        default:
            throw .unusableAddress(value)
        }
        // sun_path holds 108 bytes; a path needs its terminating NUL, an abstract name does not,
        // but systemd never binds one that long either.
        guard bytes.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path), !bytes.dropFirst().contains(0) else {
            throw .unusableAddress(value)
        }
        self.value = value
        self.pathBytes = bytes
    }

    /// Calls `body` with the `sockaddr_un` and the length to pass with it.
    func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + pathBytes.count
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(length)) }
        }
    }
}

/// Sends sd_notify messages to the service manager that started this process. One socket, opened
/// once; sends never block (`MSG_DONTWAIT`: a service manager too busy to read gets an error logged,
/// not a stalled supervision loop). Safe from any thread.
package final class SystemdNotifier: Sendable {
    package let address: NotifySocketAddress
    private let descriptor: Int32

    package init(address: NotifySocketAddress) throws(SystemdNotifyError) {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw .cannotOpenSocket(errno: errno) }
        self.address = address
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    package func send(_ notification: SystemdNotification) throws(SystemdNotifyError) {
        let bytes = Array(notification.datagram.utf8)
        let sent = address.withSockaddr { address, length in
            bytes.withUnsafeBytes { buffer in
                sendto(
                    descriptor, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), address,
                    length)
            }
        }
        if sent < 0 { throw .cannotSend(errno: errno) }
    }
}

/// What systemd asked of this process through its environment (`sd_notify(3)`,
/// `sd_watchdog_enabled(3)`): where to send notifications and how often to ping the watchdog.
package struct SystemdEnvironment: Sendable, Equatable {
    /// nil when not started by a service manager that listens (`Type=simple`, a shell).
    package var notifySocket: String?
    /// `WATCHDOG_USEC`, when set for this process (`WATCHDOG_PID` unset or ours).
    package var watchdogInterval: Duration?

    /// The variables the service reads, and unsets so that programs the drivers run (LVM tools)
    /// do not inherit them and talk to systemd in this service's name.
    package static let variables = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]

    package init(notifySocket: String?, watchdogInterval: Duration?) {
        self.notifySocket = notifySocket
        self.watchdogInterval = watchdogInterval
    }

    /// Reads `environment` as systemd sets it for process `pid`.
    package init(environment: [String: String], pid: Int32) {
        notifySocket = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        watchdogInterval = nil
        if let pidText = environment["WATCHDOG_PID"], Int32(pidText) != pid { return }
        if let text = environment["WATCHDOG_USEC"], let microseconds = UInt64(text), microseconds > 0 {
            watchdogInterval = .microseconds(Int64(clamping: microseconds))
        }
    }

    /// Reads this process's environment and removes the variables from it. Call before any thread
    /// starts: `unsetenv` is not safe while other threads read the environment.
    package static func takeFromProcess() -> SystemdEnvironment {
        let found = SystemdEnvironment(environment: ProcessInfo.processInfo.environment, pid: getpid())
        for name in variables { unsetenv(name) }
        return found
    }
}
