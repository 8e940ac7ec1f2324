import CurlClient
import Foundation
import SharedTestSupport

/// Captured output of a child process, appended from pipe handlers.
///
/// An NSLock rather than a Mutex: Synchronization's Mutex synchronizes through futex calls that
/// ThreadSanitizer cannot see, and this wrapper's closures fall outside scripts/test-tsan's suppression.
final class OutputBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var text: (stdout: String, stderr: String) = ("", "")

    func withLock<T>(_ body: (inout (stdout: String, stderr: String)) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&text)
    }
}

/// Reads one pipe to its end on a thread of its own, with plain blocking reads.
///
/// Not `readabilityHandler`: that installs a libdispatch read source whose teardown can race the
/// descriptor's close on Linux (swift-corelibs-foundation), and a descriptor closed twice in this
/// test process can be another suite's freshly accepted socket (seen as a rare reset of a fresh
/// request to an in-process server).
final class PipeReader: @unchecked Sendable {
    private let finished = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle, name: String, append: @escaping @Sendable (Data) -> Void) {
        let thread = Thread { [finished] in
            while true {
                let data = handle.availableData  // blocks; empty at end of file
                if data.isEmpty { break }
                append(data)
            }
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Waits until the pipe's writer side is closed everywhere and every byte is appended.
    @discardableResult
    func waitForEnd(timeout: Double) -> Bool {
        if finished.wait(timeout: .now() + timeout) == .timedOut { return false }
        finished.signal()  // later waits return at once
        return true
    }
}

/// A real `volumed` process for end-to-end tests: started from the built executable, its output
/// captured, signalled and waited for with bounded deadlines.
final class VolumedProcess: @unchecked Sendable {
    let process = Process()
    private let output = OutputBuffer()
    private var readers: [PipeReader] = []

    /// The built `volumed` next to the test bundle (`swift build --build-tests` builds both).
    static var executableURL: URL {
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundleDirectory, bundleDirectory.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("volumed")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return packageRoot.appendingPathComponent(".build/debug/volumed")
    }

    /// `executable`: another long-running program to drive the same way (prometheus in PrometheusTests).
    init(_ arguments: [String], environment: [String: String] = [:], executable: URL = VolumedProcess.executableURL)
        throws
    {
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = self.output
        readers = [
            PipeReader(out.fileHandleForReading, name: "volumed-stdout") { data in
                output.withLock { $0.stdout += String(decoding: data, as: UTF8.self) }
            },
            PipeReader(err.fileHandleForReading, name: "volumed-stderr") { data in
                output.withLock { $0.stderr += String(decoding: data, as: UTF8.self) }
            },
        ]
    }

    var stdout: String { output.withLock { $0.stdout } }
    var stderr: String { output.withLock { $0.stderr } }

    /// Waits until `condition` holds for the captured output, or `timeout` seconds pass.
    @discardableResult
    func waitForOutput(timeout: Double = 60, _ condition: (String, String) -> Bool) -> Bool {
        waitUntil(seconds: timeout) { output.withLock { condition($0.stdout, $0.stderr) } }
    }

    /// The first `http://127.0.0.1:PORT` URL the process printed.
    func waitForURL(timeout: Double = 60) -> String? {
        var found: String?
        _ = waitUntil(seconds: timeout) {
            let text = stdout
            guard let range = text.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) else {
                return false
            }
            found = String(text[range])
            return true
        }
        return found
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the process to exit; kills it after `timeout` seconds. Returns the exit status.
    @discardableResult
    func waitForExit(timeout: Double = 30) -> Int32? {
        if waitUntil(seconds: timeout, { !process.isRunning }) {
            drainOutput()
            return process.terminationStatus
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        drainOutput()
        return nil
    }

    /// Once the process is gone, waits for its readers to reach the end of both pipes, so no
    /// assertion sees a cut-short output.
    private func drainOutput() {
        for reader in readers { reader.waitForEnd(timeout: 10) }
    }

    func stop() {
        if process.isRunning {
            signal(SIGTERM)
            if waitForExit(timeout: 15) == nil { return }
        }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// JSON over the product's own libcurl client. Reads ask for volumed's newest microversion (the
/// shapes the tests read: `backend_state` needs 3.49).
struct JSONClient {
    let client = try! CurlClient(configuration: .init(connectTimeout: 5, totalTimeout: 20))

    func get(_ url: String) throws -> (status: Int, json: [String: Any]) {
        let response = try client.get(url, headers: [CurlHeader("OpenStack-API-Version", "volume latest")])
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return (response.status, object)
    }

    func send(_ method: String, _ url: String, json: Any? = nil, token: String? = nil) throws -> (
        status: Int, json: [String: Any]
    ) {
        var headers: [CurlHeader] = []
        var body: [UInt8]?
        if let json {
            body = [UInt8](try JSONSerialization.data(withJSONObject: json))
            headers.append(CurlHeader("Content-Type", "application/json"))
        }
        if let token { headers.append(CurlHeader("X-Auth-Token", token)) }
        let response = try client.send(
            CurlRequest(method: method, url: url, headers: headers, body: body ?? (method == "GET" ? nil : [])))
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return (response.status, object)
    }

    /// Polls `GET url` until `condition` holds on the JSON.
    func waitFor(_ url: String, timeout: Double = 60, _ condition: ([String: Any]) -> Bool) -> [String: Any]? {
        var last: [String: Any]?
        let ok = waitUntil(seconds: timeout) {
            guard let (status, json) = try? get(url), status == 200 else { return false }
            last = json
            return condition(json)
        }
        return ok ? last : nil
    }
}

/// The driver entry with `id` in a `GET /drivers` document.
func driver(_ id: String, in document: [String: Any]) -> [String: Any]? {
    (document["drivers"] as? [[String: Any]])?.first { $0["id"] as? String == id }
}
