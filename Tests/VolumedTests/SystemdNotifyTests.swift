import Foundation
import SharedTestSupport
import Testing
import VolumeService

/// A real AF_UNIX datagram socket standing where systemd's notification socket would: bound to a
/// file path or to an `@` name in the abstract namespace, read by a thread of its own.
final class NotifyListener: @unchecked Sendable {
    /// What to put in `NOTIFY_SOCKET`.
    let address: String
    private let descriptor: Int32
    private let lock = NSLock()
    private var received: [String] = []
    private var closed = false
    private let finished = DispatchSemaphore(value: 0)

    init(address: String) throws {
        self.address = address
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw FaultTestError("socket: errno \(errno)") }
        var bytes = Array(address.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        var sockaddr = sockaddr_un()
        sockaddr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &sockaddr.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(
            MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (bytes.first == 0 ? 0 : 1))
        let bound = withUnsafePointer(to: &sockaddr) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else {
            Glibc.close(descriptor)
            throw FaultTestError("bind \(address): errno \(errno)")
        }
        let thread = Thread { [self] in readLoop() }
        thread.name = "notify-listener"
        thread.start()
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !lock.withLock({ closed }) {
            var pfd = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes {
                recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
            }
            if count > 0 {
                let message = String(decoding: buffer[0..<count], as: UTF8.self)
                lock.withLock { received.append(message) }
            }
        }
        finished.signal()
    }

    var messages: [String] { lock.withLock { received } }

    /// Waits until a message after index `after` satisfies `condition`; returns its index.
    func waitFor(after: Int = -1, timeout: Double = 60, _ condition: (String) -> Bool) -> Int? {
        var index: Int?
        _ = waitUntil(seconds: timeout) {
            let all = messages
            index = all.indices.first { $0 > after && condition(all[$0]) }
            return index != nil
        }
        return index
    }

    func close() {
        lock.withLock { closed = true }
        finished.wait()
        Glibc.close(descriptor)
        if !address.hasPrefix("@") { unlink(address) }
    }
}

/// volumed speaks sd_notify itself: READY once the API listens and every backend's first
/// initialization has started, STATUS on state changes, RELOADING/READY around SIGHUP, STOPPING,
/// and WATCHDOG pings from the supervision loop; checked against a real socket and process.
@Suite(.offCooperativePool) struct SystemdNotifyTests {
    @Test func messagesArriveInTheOrderSystemdExpects() throws {
        let dir = temporaryDirectory("notify")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // gold is ready at once, silver waits for a share that is missing, slow's initialization
        // hangs in `vgs` until the test opens its gate: it must not hold READY back.
        var config = FaultConfig(directory: dir, defaults: ["reinit_driver_count": "0"])
        try config.addNfs("gold")
        try config.addNfs("silver", present: false)
        let vgs = try VgsStandIn.gated(directory: dir + "/tools", group: "vg-slow")
        vgs.closeGate()
        defer { vgs.release() }
        config.addLvm("slow", toolsDirectory: vgs.directory)
        let path = try config.write()

        let listener = try NotifyListener(address: dir + "/notify.sock")
        defer { listener.close() }
        let volumed = try VolumedProcess(
            ["serve", "--config", path],
            environment: ["NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "400000"])
        defer { volumed.stop() }

        let ready = try #require(listener.waitFor { $0.hasPrefix("READY=1\n") }, "stderr: \(volumed.stderr)")
        #expect(ready == 0, "READY=1 comes first: \(listener.messages)")
        #expect(listener.messages[ready].contains("\nSTATUS=3 backends: "), "\(listener.messages[ready])")
        // The API listened before READY, and slow is still initializing after it: READY did not
        // wait for a backend's storage.
        let base = try #require(volumed.waitForURL())
        let api = JSONClient()
        #expect(waitUntil(seconds: 30) { vgs.calls >= 1 }, "slow's initialization started")
        #expect(try state("slow", api.get(base + "/drivers").json) == "initializing")

        #expect(
            listener.waitFor { $0 == "STATUS=3 backends: 1 initializing, 1 ready, 1 retrying" } != nil,
            "\(listener.messages)")
        #expect(
            listener.waitFor(timeout: 30) { _ in listener.messages.filter { $0 == "WATCHDOG=1" }.count >= 3 } != nil,
            "watchdog pings at half of WATCHDOG_USEC: \(listener.messages)")
        vgs.release()
        #expect(listener.waitFor { $0 == "STATUS=3 backends: 2 ready, 1 retrying" } != nil, "\(listener.messages)")

        volumed.signal(SIGHUP)
        let reloading = try #require(listener.waitFor { $0.hasPrefix("RELOADING=1\n") }, "\(listener.messages)")
        let reloadingMessage = listener.messages[reloading]
        #expect(
            reloadingMessage.range(of: #"^RELOADING=1\nMONOTONIC_USEC=[0-9]+$"#, options: .regularExpression) != nil,
            "\(reloadingMessage)")
        #expect(listener.waitFor(after: reloading) { $0.hasPrefix("READY=1\n") } != nil, "\(listener.messages)")

        volumed.signal(SIGTERM)
        #expect(volumed.waitForExit() == 0, "stderr: \(volumed.stderr)")
        let stopping = try #require(
            listener.waitFor(timeout: 10) { $0.hasPrefix("STOPPING=1") }, "\(listener.messages)")
        #expect(stopping == listener.messages.count - 1, "nothing follows STOPPING=1: \(listener.messages)")
        #expect(listener.messages[ready...].filter { $0.hasPrefix("READY=1") }.count == 2)
    }

    /// Abstract-namespace names (`@...`) work, and a WATCHDOG_PID naming another process means the
    /// watchdog is not this process's to ping (sd_watchdog_enabled(3)).
    @Test func abstractSocketAndAWatchdogMeantForAnotherProcess() throws {
        let dir = temporaryDirectory("notify-abstract")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir)
        try config.addNfs("gold")
        let path = try config.write()
        let listener = try NotifyListener(address: "@volumed-test-\(UUID().uuidString)")
        defer { listener.close() }
        let volumed = try VolumedProcess(
            ["serve", "--config", path],
            environment: [
                "NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": "1",
            ])
        defer { volumed.stop() }
        #expect(listener.waitFor { $0.hasPrefix("READY=1\n") } == 0, "stderr: \(volumed.stderr)")
        #expect(listener.waitFor { $0.hasSuffix("STATUS=1 backend: 1 ready") } != nil, "\(listener.messages)")
        // Pings would come every 50 ms; a second and a half without one is a clear answer.
        #expect(listener.waitFor(timeout: 1.5) { $0 == "WATCHDOG=1" } == nil, "\(listener.messages)")
        volumed.signal(SIGTERM)
        #expect(volumed.waitForExit() == 0)
        #expect(listener.waitFor(timeout: 10) { $0.hasPrefix("STOPPING=1") } != nil)
    }

    @Test func environmentParsing() throws {
        let pid: Int32 = 4242
        #expect(
            SystemdEnvironment(environment: [:], pid: pid)
                == SystemdEnvironment(notifySocket: nil, watchdogInterval: nil))
        #expect(
            SystemdEnvironment(
                environment: ["NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "30000000"], pid: pid)
                == SystemdEnvironment(notifySocket: "/run/systemd/notify", watchdogInterval: .seconds(30)))
        #expect(
            SystemdEnvironment(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"], pid: pid)
                .watchdogInterval
                == .seconds(30))
        #expect(
            SystemdEnvironment(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"], pid: pid)
                .watchdogInterval == nil)
        #expect(SystemdEnvironment(environment: ["WATCHDOG_USEC": "0"], pid: pid).watchdogInterval == nil)
        #expect(SystemdEnvironment(environment: ["WATCHDOG_USEC": "soon"], pid: pid).watchdogInterval == nil)

        #expect(throws: SystemdNotifyError.unusableAddress("relative/path")) {
            try NotifySocketAddress("relative/path")
        }
        #expect(throws: SystemdNotifyError.unusableAddress("@")) { try NotifySocketAddress("@") }
        #expect(throws: SystemdNotifyError.unusableAddress("vsock:2:1234")) { try NotifySocketAddress("vsock:2:1234") }
        let long = "/" + String(repeating: "x", count: 110)
        #expect(throws: SystemdNotifyError.unusableAddress(long)) { try NotifySocketAddress(long) }
        #expect(SystemdNotification.status("two\nlines").datagram == "STATUS=two lines")
    }
}
