import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// Child processes of a test: started with their output captured, waited for with bounded deadlines,
// stopped by PID (never by name).

/// Captured output of a child process, appended from pipe readers.
///
/// An NSLock rather than a Mutex: Synchronization's Mutex synchronizes through futex calls that
/// ThreadSanitizer cannot see, and this wrapper's closures fall outside scripts/test-tsan's suppression.
package final class OutputBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var text: (stdout: String, stderr: String) = ("", "")

    package init() {}

    package func withLock<T>(_ body: (inout (stdout: String, stderr: String)) -> T) -> T {
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
package final class PipeReader: @unchecked Sendable {
    private let finished = DispatchSemaphore(value: 0)

    package init(_ handle: FileHandle, name: String, append: @escaping @Sendable (Data) -> Void) {
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
    package func waitForEnd(timeout: Double) -> Bool {
        if finished.wait(timeout: .now() + timeout) == .timedOut { return false }
        finished.signal()  // later waits return at once
        return true
    }
}

/// Ends a child with SIGKILL and reaps it. Foundation's `Process` starts children with the spawning
/// thread's signal mask, where SIGTERM may be blocked, so `terminate()` is not enough.
package func killAndReap(_ process: Process) {
    guard process.isRunning else { return }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
}

/// A long-running child for end-to-end tests (`volumed` by default; prometheus, chromium, python
/// stand-ins the same way): started with its output captured, signalled and waited for with bounded
/// deadlines, SIGKILLed by PID if still running when released.
package final class VolumedProcess: @unchecked Sendable {
    package let process = Process()
    private let output = OutputBuffer()
    private var readers: [PipeReader] = []
    private let input: Pipe?

    /// The built `volumed` next to the test bundle (`swift build --build-tests` builds both).
    package static var executableURL: URL {
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundleDirectory, bundleDirectory.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("volumed")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return URL(fileURLWithPath: repositoryRoot + "/.build/debug/volumed")
    }

    /// `executable`: another long-running program to drive the same way (prometheus in PrometheusTests).
    /// `withInput`: a pipe to the child's stdin for `write(_:)`, instead of /dev/null.
    package init(
        _ arguments: [String], environment: [String: String] = [:], executable: URL = VolumedProcess.executableURL,
        directory: String? = nil, withInput: Bool = false
    ) throws {
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        input = withInput ? Pipe() : nil
        process.standardInput = input ?? FileHandle.nullDevice
        try process.run()
        let output = self.output
        let name = executable.lastPathComponent
        readers = [
            PipeReader(out.fileHandleForReading, name: "\(name)-stdout") { data in
                output.withLock { $0.stdout += String(decoding: data, as: UTF8.self) }
            },
            PipeReader(err.fileHandleForReading, name: "\(name)-stderr") { data in
                output.withLock { $0.stderr += String(decoding: data, as: UTF8.self) }
            },
        ]
    }

    package var pid: Int32 { process.processIdentifier }
    package var stdout: String { output.withLock { $0.stdout } }
    package var stderr: String { output.withLock { $0.stderr } }

    /// Writes `text` to the child's stdin (started `withInput`).
    package func write(_ text: String) {
        input?.fileHandleForWriting.write(Data(text.utf8))
    }

    /// Waits until `condition` holds for the captured output, or `timeout` seconds pass.
    @discardableResult
    package func waitForOutput(timeout: Double = 60, _ condition: (String, String) -> Bool) -> Bool {
        waitUntil(seconds: timeout) { output.withLock { condition($0.stdout, $0.stderr) } }
    }

    /// The first match of `pattern` (a regular expression) in the captured stdout.
    package func waitForStdout(matching pattern: String, timeout: Double = 60) -> String? {
        var found: String?
        _ = waitUntil(seconds: timeout) {
            let text = stdout
            guard let range = text.range(of: pattern, options: .regularExpression) else { return false }
            found = String(text[range])
            return true
        }
        return found
    }

    /// The first `http://127.0.0.1:PORT` URL the process printed.
    package func waitForURL(timeout: Double = 60) -> String? {
        waitForStdout(matching: #"http://127\.0\.0\.1:[0-9]+"#, timeout: timeout)
    }

    package func signal(_ number: Int32) { Glibc.kill(process.processIdentifier, number) }

    /// Waits for the process to exit; kills it after `timeout` seconds. Returns the exit status.
    @discardableResult
    package func waitForExit(timeout: Double = 30) -> Int32? {
        if waitUntil(seconds: timeout, { !process.isRunning }) {
            drainOutput()
            return process.terminationStatus
        }
        killAndReap(process)
        drainOutput()
        return nil
    }

    /// Once the process is gone, waits for its readers to reach the end of both pipes, so no
    /// assertion sees a cut-short output.
    private func drainOutput() {
        for reader in readers { reader.waitForEnd(timeout: 10) }
    }

    /// SIGTERM, then SIGKILL after 15 s.
    package func stop() {
        if process.isRunning {
            signal(SIGTERM)
            waitForExit(timeout: 15)
        }
    }

    /// SIGKILL at once (a stand-in started from a thread that blocks SIGTERM ignores SIGTERM).
    package func kill() {
        killAndReap(process)
        drainOutput()
    }

    deinit {
        try? input?.fileHandleForWriting.close()
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }
}

/// A program a test runs to its end (systemd-analyze, promtool, openssl): found on the machine by
/// `Tool.path`. A test that needs one declares it with `.enabled(if: Tool.available(name), reason)`.
package struct ExternalTool {
    package let path: String

    /// Finds `name`, or throws naming the Debian package `scripts/setup --test` installs it from.
    package init(_ name: String, package: String) throws {
        guard let found = Tool.path(name) else {
            throw TestSupportError(
                "\(name) is not installed; `scripts/setup --test` installs it (Debian package \(package))")
        }
        path = found
    }

    /// Runs the tool to its end (killed after `timeout` seconds); both outputs captured.
    package func run(_ arguments: [String], input: String? = nil, timeout: Double = 120, directory: String? = nil)
        throws -> (status: Int32, stdout: String, stderr: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let output = OutputBuffer()
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
        if let input {
            // A thread of its own: a large input must not block us while the tool's output fills up.
            let writer = stdin.fileHandleForWriting
            Thread {
                writer.write(Data(input.utf8))
                try? writer.close()
            }.start()
        }
        let readers = [
            PipeReader(out.fileHandleForReading, name: "tool-stdout") { data in
                output.withLock { $0.stdout += String(decoding: data, as: UTF8.self) }
            },
            PipeReader(err.fileHandleForReading, name: "tool-stderr") { data in
                output.withLock { $0.stderr += String(decoding: data, as: UTF8.self) }
            },
        ]
        if !waitUntil(seconds: timeout, { !process.isRunning }) {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        for reader in readers { reader.waitForEnd(timeout: 10) }
        return output.withLock { (process.terminationStatus, $0.stdout, $0.stderr) }
    }
}

/// Why a test helper could not set up what the test needs.
package struct TestSupportError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// The repository's root, found from this file's path.
package let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
