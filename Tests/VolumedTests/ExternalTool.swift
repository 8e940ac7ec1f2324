import Foundation
import SharedTestSupport

/// A program a test needs from the machine (systemd-analyze, promtool, prometheus, chromium). A test
/// that needs one fails, naming the Debian package `scripts/setup --test` installs it from, when it
/// is missing: it never passes by skipping.
struct ExternalTool {
    let path: String

    /// Finds `name` on the usual Debian paths, or throws.
    init(_ name: String, package: String) throws {
        guard
            let found = ["/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin"].map({ "\($0)/\(name)" })
                .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else {
            throw FaultTestError(
                "\(name) is not installed; `scripts/setup --test` installs it (Debian package \(package))")
        }
        path = found
    }

    /// Runs the tool to its end (killed after `timeout` seconds); both outputs captured.
    func run(_ arguments: [String], input: String? = nil, timeout: Double = 120, directory: String? = nil) throws
        -> (status: Int32, stdout: String, stderr: String)
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

/// The repository's root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
