import Config
import Dispatch
import Drivers
import Foundation
import Logging
import Synchronization
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

    static func loadServiceConfiguration(
        config: String?, dataDir: String?, port: Int?, logger: Logger,
        embeddedAllowed: Bool = true
    ) -> LoadedConfiguration {
        if let config {
            let configuration = ConfigFile.inspect(path: config)
            guard configuration.problems.isEmpty else {
                for problem in configuration.problems { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
                fail(
                    "volumed: \(config): the configuration has \(configuration.problems.count) fatal problem(s); "
                        + "`volumed check-config --config \(config)` lists every problem")
            }
            // The same warnings check-config prints (driver options included), as log lines.
            let warnings =
                embeddedAllowed ? ConfigurationCheck(configuration: configuration).warnings : configuration.warnings
            for warning in warnings { logger.warning("\(warning)") }
            return LoadedConfiguration(configuration: configuration, banner: nil)
        }
        guard embeddedAllowed else {
            // The scheduler role needs no backends: it runs on the built-in defaults.
            return LoadedConfiguration(
                configuration: checked(ConfigFile.inspect(text: "[DEFAULT]\n", fileName: "<defaults>")),
                banner: nil)
        }
        let embedded = EmbeddedConfiguration(dataDirectory: dataDir ?? EmbeddedConfiguration.defaultDataDirectory)
        do {
            try embedded.prepare()
        } catch {
            fail("volumed: cannot prepare the embedded configuration: \(error) (choose another --data-dir)", code: 1)
        }
        let configuration = checked(
            ConfigFile.inspect(
                text: embedded.text(port: port ?? 8776),
                fileName: "<embedded volumed.conf>",
                baseDirectory: embedded.dataDirectory))
        return LoadedConfiguration(configuration: configuration, banner: { embedded.banner(apiURL: $0) })
    }

    /// Built-in text must load; if it does not, that is a bug worth a loud exit.
    private static func checked(_ configuration: ServiceConfiguration) -> ServiceConfiguration {
        guard configuration.allProblems.isEmpty else {
            fail(
                "volumed: built-in configuration rejected: \(configuration.allProblems.map(\.description).joined(separator: "; "))"
            )
        }
        return configuration
    }

    static func fail(_ message: String, code: Int32 = 2) -> Never {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
        exit(code)
    }

    /// The signals the service acts on. They are blocked in every thread (set before any thread
    /// starts, so all inherit it) and taken by one thread in `sigwait`: no thread can swallow one
    /// under an ignored disposition, whatever mask a parent handed us. Children the drivers spawn
    /// reset their mask themselves.
    private static let handledSignals: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    /// Call first in every command, before any thread exists.
    static func prepareSignals() {
        var mask = sigset_t()
        sigemptyset(&mask)
        for number in handledSignals { sigaddset(&mask, number) }
        pthread_sigmask(SIG_SETMASK, &mask, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    /// SIGTERM and SIGINT call `shutdown` once with the signal's name (a second one exits at once);
    /// SIGHUP calls `reload`, which must return at once (it starts the reload elsewhere): this thread
    /// must always be free to take the next signal, a stop during a long reload above all.
    static func runUntilSignalled(reload: (@Sendable () -> Void)?, shutdown: @escaping @Sendable (String) -> Void) {
        let stopping = OnceFlag()
        let thread = Thread {
            var mask = sigset_t()
            sigemptyset(&mask)
            for number in handledSignals { sigaddset(&mask, number) }
            while true {
                var number: Int32 = 0
                guard sigwait(&mask, &number) == 0 else { continue }
                switch number {
                case SIGHUP:
                    reload?()
                default:
                    if stopping.setOnce() {
                        let name = number == SIGINT ? "SIGINT" : "SIGTERM"
                        DispatchQueue.global().async { shutdown(name) }
                    } else {
                        exit(1)
                    }
                }
            }
        }
        thread.name = "volumed.signals"
        thread.start()
    }
}

/// A flag that is set at most once, safely from any thread.
final class OnceFlag: Sendable {
    private let value = Atomic<Bool>(false)

    /// True for the first caller only.
    func setOnce() -> Bool {
        value.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}
