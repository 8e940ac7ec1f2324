import Foundation
import SharedTestSupport

// Stand-in schedulers for the fault matrix, started at test time and stopped with SIGKILL.

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
        try process.run()
        _ = PipeReader(out.fileHandleForReading, name: "scheduler-peer-stdout") { data in
            output.withLock { $0.stdout += String(decoding: data, as: UTF8.self) }
        }
        var found: Int?
        _ = waitUntil(seconds: 30) {
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

/// nghttpd (nghttp2-server) as an HTTP/2-only scheduler stand-in: cleartext, prior knowledge only,
/// answering `POST /v3/scheduler/capabilities` with 200 from its document root. Its `-v` frame log
/// goes to a file the test reads. Stopped with SIGKILL.
final class NghttpdStandIn {
    static let executable: String? = ["/usr/sbin/nghttpd", "/usr/bin/nghttpd", "/usr/local/bin/nghttpd"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    private var process: Process?
    private let directory: String
    private(set) var port = 0

    init() throws {
        guard let executable = Self.executable else { throw FaultTestError("nghttpd is not installed") }
        directory = temporaryDirectory("nghttpd")
        try FileManager.default.createDirectory(
            atPath: directory + "/root/v3/scheduler", withIntermediateDirectories: true)
        try "{}".write(toFile: directory + "/root/v3/scheduler/capabilities", atomically: true, encoding: .utf8)
        // A reserved port can be taken before nghttpd binds it: try a few.
        for _ in 0..<3 {
            guard let candidate = reserveLoopbackPort() else { continue }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["--no-tls", "-v", "-a", "127.0.0.1", "-d", directory + "/root", String(candidate)]
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            process.standardOutput = FileHandle(forWritingAtPath: logPath)
            process.standardError = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
            if waitUntil(seconds: 20, { RawConnection(port: candidate) != nil || !process.isRunning }),
                process.isRunning
            {
                self.process = process
                port = candidate
                return
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
        throw FaultTestError("nghttpd did not start listening")
    }

    private var logPath: String { directory + "/frames.log" }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var capabilitiesURL: String { "http://127.0.0.1:\(port)/v3/scheduler/capabilities" }

    func stop() {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        process = nil
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }
}
