import Config
import Dispatch
import Foundation
import VolumeService

/// The process-level plumbing the commands share: loading configuration with exit code 2 on fatal
/// problems, and signals. Kept out of top-level code so Dispatch handlers are not main-actor
/// closures (the Swift 6 isolation check would trap them).
enum CommandSupport {
    struct LoadedConfiguration {
        var configuration: ServiceConfiguration
        /// The demo's start-up text, given the API URL; nil for an operator's file.
        var banner: ((String) -> String)?
    }

    static func loadServiceConfiguration(config: String?, dataDir: String?, port: Int?,
                                         embeddedAllowed: Bool = true) throws -> LoadedConfiguration {
        if let config {
            do {
                let configuration = try ConfigFile.load(path: config)
                for warning in configuration.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
                return LoadedConfiguration(configuration: configuration, banner: nil)
            } catch {
                for problem in error.problems { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
                fail("volumed: \(config): the configuration has \(error.problems.count) fatal problem(s)")
            }
        }
        guard embeddedAllowed else {
            // The scheduler role needs no backends: run it on the defaults.
            do {
                return LoadedConfiguration(configuration: try ConfigFile.parse(text: "[DEFAULT]\n", fileName: "<defaults>"),
                                           banner: nil)
            } catch {
                fail("volumed: built-in defaults rejected: \(error)")
            }
        }
        let embedded = EmbeddedConfiguration(dataDirectory: dataDir ?? EmbeddedConfiguration.defaultDataDirectory)
        do {
            try embedded.prepare()
            return LoadedConfiguration(configuration: try embedded.configuration(port: port ?? 8776),
                                       banner: { embedded.banner(apiURL: $0) })
        } catch {
            fail("volumed: cannot prepare the embedded configuration in \(embedded.dataDirectory): \(error)")
        }
    }

    static func fail(_ message: String, code: Int32 = 2) -> Never {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
        exit(code)
    }

    /// A parent (a test runner's Dispatch thread, a supervisor) may hand us a blocked signal mask,
    /// and every thread inherits it; unblock everything first so SIGTERM, SIGINT and SIGHUP arrive.
    static func unblockSignals() {
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
    }

    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    /// SIGTERM and SIGINT call `shutdown` once (a second one exits at once); SIGHUP calls `reload`.
    static func runUntilSignalled(reload: (@Sendable () -> Void)?, shutdown: @escaping @Sendable () -> Void) {
        let queue = DispatchQueue(label: "volumed.signals")
        let stopping = LockedFlag()
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                if stopping.setOnce() {
                    DispatchQueue.global().async { shutdown() }
                } else {
                    exit(1)
                }
            }
            source.resume()
            sources.append(source)
        }
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        hangup.setEventHandler { reload?() }
        hangup.resume()
        sources.append(hangup)
        signal(SIGPIPE, SIG_IGN)
    }
}

/// A flag that is set at most once, safely from any thread.
final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    /// True for the first caller only.
    func setOnce() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if value { return false }
        value = true
        return true
    }
}
