import Foundation

#if canImport(Glibc)
    import Glibc
    import SharedTestSupport
#endif

/// Errors while starting a test peer process.
struct PeerError: Error, CustomStringConvertible {
    let description: String
}

/// A loopback port that was free a moment ago: bound to port 0, read back, closed.
func reserveLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw PeerError(description: "socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> Int32 in
            guard bind(fd, raw, length) == 0 else { return -1 }
            return getsockname(fd, raw, &length)
        }
    }
    guard bound == 0 else { throw PeerError(description: "bind/getsockname failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
func isListening(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// Ends a peer process with SIGKILL and reaps it. Foundation's `Process` starts children with the
/// spawning Dispatch thread's signal mask, where SIGTERM is blocked, so `terminate()` is not enough.
func killAndReap(_ process: Process) {
    guard process.isRunning else { return }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
}

/// A python3 `http.server` peer speaking HTTP/1.1 with keep-alive on an ephemeral loopback port.
///
/// Paths: `/ok` 200 with a fixed body; `/echo` 200 with a JSON echo of method, headers and body;
/// `/fail` 500 with a body; `/slow?s=N` answers after N seconds; `/big?n=N` a body of N bytes;
/// `/drip?n=N&gap=G&hold=H` a chunked body of N lines `line I`, G seconds apart, then H quiet seconds
/// before it ends; anything else 404.
final class PythonPeer {
    let port: Int
    private let process: Process
    private let directory: URL

    var baseURL: String { "http://127.0.0.1:\(port)" }

    init() throws {
        directory = URL(fileURLWithPath: temporaryDirectory("curlclient"))
        let script = directory.appendingPathComponent("peer.py")
        let portFile = directory.appendingPathComponent("port")
        try Self.script.write(to: script, atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, portFile.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var found: Int?
        _ = waitUntil(seconds: 30) {
            guard let text = try? String(contentsOf: portFile, encoding: .utf8),
                let number = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else { return false }
            found = number
            return true
        }
        guard let found else {
            killAndReap(process)
            try? FileManager.default.removeItem(at: directory)
            throw PeerError(description: "python3 peer did not report its port within 30 s")
        }
        port = found
    }

    func stop() {
        killAndReap(process)
        try? FileManager.default.removeItem(at: directory)
    }

    private static let script = #"""
        import json, os, sys, threading, time
        from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
        from urllib.parse import urlsplit, parse_qs

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body, content_type="text/plain", extra=()):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def handle_any(self):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if parts.path == "/ok":
                    self.reply(200, b"hello from peer")
                elif parts.path == "/echo":
                    echo = {
                        "method": self.command,
                        "path": self.path,
                        "headers": [[k, v] for k, v in self.headers.items()],
                        "body_length": len(body),
                        "body_hex": body.hex() if len(body) <= 4096 else "",
                    }
                    self.reply(200, json.dumps(echo).encode(), "application/json",
                               [("X-Echo-Method", self.command)])
                elif parts.path == "/fail":
                    self.reply(500, b"scheduler exploded")
                elif parts.path == "/slow":
                    time.sleep(float(query.get("s", ["5"])[0]))
                    self.reply(200, b"late")
                elif parts.path == "/drip":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(int(query.get("n", ["1"])[0])):
                        line = ("line %d\n" % i).encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        self.wfile.flush()
                        time.sleep(float(query.get("gap", ["0"])[0]))
                    time.sleep(float(query.get("hold", ["0"])[0]))
                    self.wfile.write(b"0\r\n\r\n")
                elif parts.path == "/big":
                    self.reply(200, b"x" * int(query.get("n", ["0"])[0]))
                else:
                    self.reply(404, b"no such path")

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            def handle_error(self, request, client_address):
                pass

        def watch_parent(parent):
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(0)

        server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
        with open(sys.argv[1] + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        server.serve_forever()
        """#
}

/// nghttp2's `nghttpd`: an HTTP/2-only server serving files, over cleartext (prior knowledge) or, given a
/// key and certificate, over TLS with ALPN.
final class NghttpdPeer {
    static let executable: String? = ["/usr/sbin/nghttpd", "/usr/bin/nghttpd", "/usr/local/bin/nghttpd"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    private(set) var port = 0
    let directory: URL
    let tls: TestCertificate?
    private var process: Process?

    var baseURL: String { "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)" }

    /// Serves `files` (name -> contents) from a fresh document root. A reserved port can be taken by
    /// someone else before nghttpd binds it, so a few ports are tried.
    init(files: [String: String], tls: TestCertificate? = nil) throws {
        self.tls = tls
        directory = URL(fileURLWithPath: temporaryDirectory("curlclient"))
        for (name, contents) in files {
            try contents.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        for _ in 0..<3 {
            if try start(on: try reserveLoopbackPort()) { return }
        }
        try? FileManager.default.removeItem(at: directory)
        throw PeerError(description: "nghttpd did not start listening")
    }

    /// Kills the server, which drops its connections, and starts a new one on the same port.
    func restart() throws {
        if let process { killAndReap(process) }
        guard waitUntil(seconds: 20, { (try? start(on: port)) == true }) else {
            throw PeerError(description: "nghttpd did not restart on port \(port)")
        }
    }

    private func start(on candidate: Int) throws -> Bool {
        guard let executable = Self.executable else { throw PeerError(description: "nghttpd not installed") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        var arguments = ["-a", "127.0.0.1", "-d", directory.path, String(candidate)]
        if let tls { arguments += [tls.keyPath, tls.certificatePath] } else { arguments.insert("--no-tls", at: 0) }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        if waitUntil(seconds: 20, { isListening(port: candidate) || !process.isRunning }), process.isRunning {
            port = candidate
            self.process = process
            return true
        }
        killAndReap(process)
        return false
    }

    func stop() {
        if let process { killAndReap(process) }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A self-signed certificate for 127.0.0.1 made with the openssl command, for TLS tests.
struct TestCertificate {
    static let openssl: String? = ["/usr/bin/openssl", "/usr/local/bin/openssl"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    let keyPath: String
    let certificatePath: String

    init(in directory: URL) throws {
        guard let openssl = Self.openssl else { throw PeerError(description: "openssl not installed") }
        keyPath = directory.appendingPathComponent("key.pem").path
        certificatePath = directory.appendingPathComponent("cert.pem").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: openssl)
        process.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", keyPath, "-out", certificatePath, "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard waitUntil(seconds: 60, { !process.isRunning }) else {
            killAndReap(process)
            throw PeerError(description: "openssl did not finish within 60 s")
        }
        guard process.terminationStatus == 0 else {
            throw PeerError(description: "openssl failed with status \(process.terminationStatus)")
        }
    }
}
