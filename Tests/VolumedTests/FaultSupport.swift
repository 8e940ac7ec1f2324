import Foundation
import Synchronization

// Helpers for the fault matrix: configuration files, stand-in storage tools, raw sockets, and
// readers for the API's documents. Everything runs over loopback and is bounded in time.

/// A `volumed.conf` for one test: `[DEFAULT]` with a fixed host and short ticks, then one section
/// per backend in the order given.
struct FaultConfig {
    static let host = "faulthost"

    var directory: String
    var defaults: [String: String] = [:]
    var backends: [(name: String, body: String)] = []

    init(directory: String, defaults: [String: String] = [:]) {
        self.directory = directory
        self.defaults = defaults
    }

    var text: String {
        var options: [String: String] = [
            "host": Self.host,
            "enabled_backends": backends.map(\.name).joined(separator: ","),
            "backend_stats_polling_interval": "0.2",
            "osapi_volume_listen_port": "0",
            "state_path": directory + "/state",
            "reinit_backoff_max": "0.4",
        ]
        options.merge(defaults) { _, new in new }
        var text = "[DEFAULT]\n"
        for key in options.keys.sorted() { text += "\(key) = \(options[key]!)\n" }
        for backend in backends { text += "\n[\(backend.name)]\n\(backend.body)\n" }
        return text
    }

    /// Writes the file and returns its path.
    @discardableResult
    func write(to name: String = "volumed.conf") throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// An NFS backend on a local directory share (`<dir>/<name>.share`), with its shares file.
    /// The share directory is created only when `present`.
    mutating func addNfs(_ name: String, present: Bool = true) throws {
        let share = shareDirectory(name)
        if present { try FileManager.default.createDirectory(atPath: share, withIntermediateDirectories: true) }
        try "\(share)\n".write(toFile: "\(directory)/\(name).shares", atomically: true, encoding: .utf8)
        backends.append((name, """
            volume_driver = cinder.volume.drivers.nfs.NfsDriver
            volume_backend_name = \(name)
            nfs_shares_config = \(directory)/\(name).shares
            nfs_mount_point_base = \(directory)/mnt
            """))
    }

    func shareDirectory(_ name: String) -> String { "\(directory)/\(name).share" }

    /// An LVM backend whose tools are looked up only in `toolsDirectory`.
    mutating func addLvm(_ name: String, toolsDirectory: String, toolTimeout: Double = 20, extra: String = "") {
        backends.append((name, """
            volume_driver = cinder.volume.drivers.lvm.LVMVolumeDriver
            volume_backend_name = \(name)
            volume_group = vg-\(name)
            lvm_tools_path = \(toolsDirectory)
            lvm_tool_timeout = \(toolTimeout)
            \(extra)
            """))
    }

    mutating func add(_ name: String, _ body: String) {
        backends.append((name, body))
    }
}

/// A stand-in for LVM's `vgs`: a shell script in a directory of its own, whose behaviour a test
/// scripts. Every waiting loop is bounded and watches a gate file, so removing the gate (which
/// `release()` does) ends any script still running, even one orphaned by a killed service.
struct VgsStandIn {
    let directory: String
    var gate: String { directory + "/gate" }
    var callCounter: String { directory + "/calls" }

    /// The line `vgs --noheadings --nosuffix --units g --separator : -o vg_name,vg_size,vg_free` prints.
    static func report(_ group: String) -> String { "  \(group):100.00:40.00" }

    /// `script` is the body after a prologue that counts calls into `$n` (0 for the first call).
    init(directory: String, script: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let text = """
            #!/bin/sh
            d='\(directory)'
            n=$(cat "$d/calls" 2>/dev/null || echo 0)
            echo $((n + 1)) > "$d/calls"
            wait_gate() { i=0; while [ -e "$d/gate" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; }
            \(script)

            """
        let path = directory + "/vgs"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
    }

    /// Answers for `group` every time.
    static func healthy(directory: String, group: String) throws -> VgsStandIn {
        try VgsStandIn(directory: directory, script: "echo '\(report(group))'")
    }

    /// While the gate file exists, every call waits (up to 60 s); then it answers for `group`.
    static func gated(directory: String, group: String) throws -> VgsStandIn {
        try VgsStandIn(directory: directory, script: "wait_gate\necho '\(report(group))'")
    }

    func closeGate() { _ = FileManager.default.createFile(atPath: gate, contents: Data()) }
    func release() { unlink(gate) }

    var calls: Int {
        Int((try? String(contentsOfFile: callCounter, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
    }
}

/// A loopback port that was free a moment ago (bound to port 0, read back, closed).
func reserveLoopbackPort() -> Int? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var address = loopbackAddress(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
        }
    }
    return ok ? Int(UInt16(bigEndian: address.sin_port)) : nil
}

private func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// The port of a `http://127.0.0.1:PORT` URL.
func portOf(_ url: String) -> Int? {
    url.split(separator: ":").last.flatMap { Int($0) }
}

/// A plain TCP connection for requests sent in pieces (a request in flight across a signal).
final class RawConnection {
    private let fd: Int32

    init?(port: Int, receiveTimeout: Int = 30) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            return nil
        }
    }

    deinit { close(fd) }

    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Everything the peer sends until it closes the connection (or the receive timeout passes).
    func readUntilClosed(limit: Int = 1 << 20) -> String {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while received.count < limit {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += chunk[0..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }
}

/// A python3 stand-in for a misbehaving scheduler, written to a temporary directory at test time.
/// `POST` answers after `delay` seconds with `status`; `GET /posts` tells how many POSTs arrived.
/// Stopped with SIGKILL: started from a test thread it inherits a blocked SIGTERM.
final class SchedulerStandIn {
    private let process: Process
    private let directory: String
    let port: Int

    static let script = """
        import sys, time, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        status, delay = int(sys.argv[1]), float(sys.argv[2])
        lock = threading.Lock()
        posts = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, code, body):
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                global posts
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    posts += 1
                time.sleep(delay)
                try:
                    if status == 204:
                        self.send_response(204)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    else:
                        self.reply(status, '{"computeFault": {"code": %d, "message": "scheduler stand-in failure"}}' % status)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                with lock:
                    count = posts
                self.reply(200, '{"posts": %d}' % count)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        print("port %d" % server.server_address[1], flush=True)
        server.serve_forever()
        """

    init(status: Int, delay: Double) throws {
        let directory = temporaryDirectory("scheduler-peer")
        let path = directory + "/scheduler_peer.py"
        try Self.script.write(toFile: path, atomically: true, encoding: .utf8)
        let process = Process()
        let output = OutputBuffer()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", path, String(status), String(delay)]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        out.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { output.withLock { $0.stdout += String(decoding: data, as: UTF8.self) } }
        }
        try process.run()
        var found: Int?
        _ = poll(timeout: 30) {
            let text = output.withLock { $0.stdout }
            guard let range = text.range(of: #"port [0-9]+"#, options: .regularExpression) else { return false }
            found = Int(text[range].dropFirst(5))
            return true
        }
        self.process = process
        self.directory = directory
        guard let found else {
            port = 0
            stop()
            throw FaultTestError("the python scheduler stand-in printed no port")
        }
        port = found
    }

    var capabilitiesURL: String { "http://127.0.0.1:\(port)/v3/scheduler/capabilities" }

    func posts(using api: JSONClient) -> Int {
        ((try? api.get("http://127.0.0.1:\(port)/posts"))?.json["posts"] as? Int) ?? -1
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }
}

struct FaultTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: reading the API's documents

/// The volume service entry for `host` in a `GET /v3/services` document.
func service(_ host: String, in document: [String: Any]) -> [String: Any]? {
    (document["services"] as? [[String: Any]])?.first { $0["host"] as? String == host && $0["binary"] as? String == "cinder-volume" }
}

/// The pool names of a `get_pools` document.
func poolNames(_ document: [String: Any]) -> [String] {
    ((document["pools"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
}

/// Whether any pool of `backend` (`faulthost@backend#...`) is listed.
func listsBackend(_ backend: String, _ document: [String: Any]) -> Bool {
    poolNames(document).contains { $0.hasPrefix("\(FaultConfig.host)@\(backend)#") }
}

func state(_ id: String, _ document: [String: Any]) -> String? {
    driver(id, in: document)?["state"] as? String
}

func lastError(_ id: String, _ document: [String: Any]) -> [String: Any]? {
    driver(id, in: document)?["last_error"] as? [String: Any]
}

func lastPublishOK(_ id: String, _ document: [String: Any]) -> Bool? {
    (driver(id, in: document)?["last_publish"] as? [String: Any])?["ok"] as? Bool
}

extension JSONClient {
    /// The `to` states of a driver's transitions, oldest first.
    func transitions(_ base: String, _ id: String) -> [String] {
        guard let (status, json) = try? get("\(base)/drivers/\(id)/events"), status == 200 else { return [] }
        return ((json["events"] as? [[String: Any]]) ?? []).reversed().compactMap { $0["to"] as? String }
    }
}

/// The host of backend `name` as the service names it.
func hostOf(_ name: String) -> String { "\(FaultConfig.host)@\(name)" }

/// A value shared with the threads a test starts.
final class Locked<Value: Sendable>: Sendable {
    private let value: Mutex<Value>

    init(_ value: Value) { self.value = Mutex(value) }

    func withLock<T>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
}
