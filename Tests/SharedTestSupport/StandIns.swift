import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// Stand-in servers a test starts for itself: each on an ephemeral loopback port and a directory of
// its own, stopped with SIGKILL by PID (a child started from a thread that blocks SIGTERM would
// ignore SIGTERM).

/// A python3 HTTP server a test writes at test time: the behaviour is the script's (a misbehaving
/// scheduler, a storage array, a peer for the HTTP client), the life cycle is this one. The script
/// binds 127.0.0.1 port 0 and prints `port N` (flushed) on stdout; anything it prints after is
/// readable with `waitForOutput`, and it reads lines the test `write`s to its stdin.
package final class PythonServer {
    package let port: Int
    /// The script's directory, removed by `stop`; the script gets it as its first argument.
    package let directory: String
    private let child: VolumedProcess

    package init(script: String, name: String, arguments: [String] = []) throws {
        guard let python3 = Tool.python3 else {
            throw TestSupportError("python3 is not installed; `scripts/setup --test` installs it")
        }
        directory = temporaryDirectory(name)
        let path = directory + "/\(name).py"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        child = try VolumedProcess(
            [path, directory] + arguments, executable: URL(fileURLWithPath: python3), withInput: true)
        guard let line = child.waitForStdout(matching: "port [0-9]+", timeout: 30), let port = Int(line.dropFirst(5))
        else {
            let stderr = child.stderr
            child.kill()
            try? FileManager.default.removeItem(atPath: directory)
            throw TestSupportError("the python3 stand-in \(name) printed no port within 30 s; stderr: \(stderr)")
        }
        self.port = port
    }

    package var baseURL: String { "http://127.0.0.1:\(port)" }
    package var stdout: String { child.stdout }

    /// Writes `line` and a newline to the script's stdin.
    package func send(line: String) { child.write(line + "\n") }

    @discardableResult
    package func waitForOutput(timeout: Double = 30, _ condition: (String) -> Bool) -> Bool {
        child.waitForOutput(timeout: timeout) { stdout, _ in condition(stdout) }
    }

    package func stop() {
        child.kill()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }
}

/// nghttp2's `nghttpd` (Debian nghttp2-server): an HTTP/2-only server of files, over cleartext (prior
/// knowledge) or, given a key and certificate, over TLS with ALPN. With `frameLog` its `-v` frame
/// log goes to a file the test reads (`log`).
package final class NghttpdServer {
    package static let executable = Tool.path("nghttpd")

    package private(set) var port = 0
    /// The document root; removed by `stop`.
    package let directory: String
    package let tls: TestCertificate?
    private let frameLog: Bool
    private var process: Process?

    /// Serves `files` (relative path -> contents) from a fresh document root. A reserved port can be
    /// taken by someone else before nghttpd binds it, so a few ports are tried.
    package init(files: [String: String], tls: TestCertificate? = nil, frameLog: Bool = false) throws {
        self.tls = tls
        self.frameLog = frameLog
        directory = temporaryDirectory("nghttpd")
        for (name, contents) in files {
            let path = directory + "/root/" + name
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try contents.write(toFile: path, atomically: true, encoding: .utf8)
        }
        for _ in 0..<3 {
            if let candidate = Loopback.reservePort(), try start(on: candidate) { return }
        }
        try? FileManager.default.removeItem(atPath: directory)
        throw TestSupportError("nghttpd did not start listening")
    }

    package var baseURL: String { "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)" }
    private var logPath: String { directory + "/frames.log" }
    /// The frame log so far (`frameLog` servers).
    package var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Kills the server, which drops its connections, and starts a new one on the same port.
    package func restart() throws {
        if let process { killAndReap(process) }
        guard waitUntil(seconds: 20, { (try? start(on: port)) == true }) else {
            throw TestSupportError("nghttpd did not restart on port \(port)")
        }
    }

    private func start(on candidate: Int) throws -> Bool {
        guard let executable = Self.executable else {
            throw TestSupportError("nghttpd is not installed; `scripts/setup --test` installs it (nghttp2-server)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        var arguments = ["-a", "127.0.0.1", "-d", directory + "/root", String(candidate)]
        if let tls { arguments += [tls.keyPath, tls.certificatePath] } else { arguments.insert("--no-tls", at: 0) }
        if frameLog {
            arguments.insert("-v", at: 0)
            if !FileManager.default.fileExists(atPath: logPath) {
                _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            }
            let log = FileHandle(forWritingAtPath: logPath)
            log?.seekToEndOfFile()
            process.standardOutput = log
        } else {
            process.standardOutput = FileHandle.nullDevice
        }
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        if waitUntil(seconds: 20, { Loopback.isListening(port: candidate) || !process.isRunning }), process.isRunning {
            port = candidate
            self.process = process
            return true
        }
        killAndReap(process)
        return false
    }

    package func stop() {
        if let process { killAndReap(process) }
        process = nil
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }
}

/// A self-signed certificate for 127.0.0.1 made with the openssl command, for TLS tests.
package struct TestCertificate: Sendable {
    package let keyPath: String
    package let certificatePath: String

    package init(in directory: String) throws {
        let openssl = try ExternalTool("openssl", package: "openssl")
        keyPath = directory + "/key.pem"
        certificatePath = directory + "/cert.pem"
        let result = try openssl.run(
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", keyPath, "-out", certificatePath, "-days", "2", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1",
            ], timeout: 60)
        guard result.status == 0 else {
            throw TestSupportError("openssl failed with status \(result.status): \(result.stderr)")
        }
    }
}
