import ArgumentParser
import Config
import Drivers
import Foundation
import Logging
import VolumeAPI
import VolumeService

/// The `volumed` command: the volume service, the scheduler role, a configuration check and a
/// `cinder service-list`-like view of a running service.
@main
struct Volumed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volumed",
        abstract: "A block-storage volume service that supervises backend drivers and brings failed ones back.",
        subcommands: [Serve.self, SchedulerRole.self, CheckConfig.self, Services.self])
}

/// Options every long-running command shares.
struct LoggingOptions: ParsableArguments {
    @Option(name: .long, help: "Least severe log level printed: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel.lowercased()) != nil else {
            throw ValidationError(
                "--log-level: expected one of trace, debug, info, notice, warning, error, critical; got \"\(logLevel)\""
            )
        }
    }

    /// Sets up one plain line per event on stderr, with levels per logger label that the API's
    /// set-log can change while the process runs.
    func bootstrap() -> (logger: Logger, levels: LogLevelRegistry) {
        CommandSupport.prepareSignals()
        let levels = LogLevelRegistry(startLevel: Logger.Level(rawValue: logLevel.lowercased()) ?? .info)
        LoggingSystem.bootstrap { label in PlainLogHandler(label: label, levels: levels) }
        return (Logger(label: "volumed"), levels)
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the volume service (with no --config: the embedded demo configuration).",
        discussion: """
            Signals: SIGHUP re-reads --config (a file that no longer loads is rejected, the running \
            configuration kept); SIGTERM or SIGINT stop gracefully (a second one exits at once).

            Exit codes: 0 stopped by a signal; 1 cannot start (port taken, state_path unusable); \
            2 the configuration file is unreadable, empty or its [DEFAULT] is broken (`volumed check-config` lists \
            every problem); 64 bad command line.
            """)

    @Option(name: .long, help: "A cinder.conf-style configuration file.")
    var config: String?

    @Option(name: .long, help: "Embedded configuration only: where its shares and state live.")
    var dataDir: String?

    @Option(name: .long, help: "Embedded configuration only: the API port (default 8776; 0 picks a free one).")
    var port: Int?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if config != nil {
            // Silently ignoring them would leave the operator polling a port nothing listens on.
            if port != nil {
                throw ValidationError(
                    "--port applies to the embedded configuration only; with --config set osapi_volume_listen_port in the file"
                )
            }
            if dataDir != nil {
                throw ValidationError(
                    "--data-dir applies to the embedded configuration only; with --config set state_path in the file")
            }
        }
        if let port, !(0...65535).contains(port) {
            throw ValidationError("--port: expected a port number 0-65535, got \(port)")
        }
    }

    func run() throws {
        let (logger, logLevels) = logging.bootstrap()
        let systemd = SystemdIntegration(environment: .takeFromProcess(), logger: logger)
        let loaded = CommandSupport.loadServiceConfiguration(
            config: config, dataDir: dataDir, port: port, logger: logger)
        let service: VolumeServiceRunner
        do {
            service = try VolumeServiceRunner(
                configuration: loaded.configuration, configPath: config, logger: logger,
                logLevels: logLevels)
            try service.start()
        } catch {
            CommandSupport.fail(
                "volumed: cannot start: \(StartFailure.explain(error, portOption: config == nil ? "--port" : "osapi_volume_listen_port"))",
                code: 1)
        }
        if let banner = loaded.banner {
            print(banner(service.apiURL))
        } else {
            print("volumed serving \(service.apiURL)")
        }
        fflush(nil)
        systemd?.serviceStarted(service)
        CommandSupport.runUntilSignalled(
            reload: { service.requestReload() },
            shutdown: { signal in
                systemd?.stopping()
                service.shutdown(signal: signal)
            })
        service.waitUntilStopped()
    }
}

struct SchedulerRole: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler",
        abstract: "Run only the scheduler role: receive capability reports and serve get_pools.")

    @Option(
        name: .long,
        help: "A cinder.conf-style configuration file (scheduler_listen, scheduler_listen_port, service_down_time).")
    var config: String?

    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let (logger, _) = logging.bootstrap()
        let configuration = CommandSupport.loadServiceConfiguration(
            config: config, dataDir: nil, port: nil, logger: logger,
            embeddedAllowed: false
        ).configuration
        let scheduler: SchedulerRunner
        do {
            scheduler = try SchedulerRunner(options: configuration.service, logger: logger)
            try scheduler.start()
        } catch {
            CommandSupport.fail(
                "volumed scheduler: cannot start: \(StartFailure.explain(error, portOption: "scheduler_listen_port"))",
                code: 1)
        }
        print("volumed scheduler serving \(scheduler.apiURL)")
        fflush(nil)
        CommandSupport.runUntilSignalled(reload: nil, shutdown: { _ in scheduler.shutdown() })
        scheduler.waitUntilStopped()
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract:
            "Validate a configuration without touching storage; exit 0, or 2 listing every problem as file:line: message.",
        discussion: """
            Warnings (unknown or misspelt options, unused sections, repeated options) are printed but do \
            not fail the check. The last line of a failed check says whether volumed would refuse to start \
            or which backends would start failed.
            """)

    @Option(name: .long, help: "The configuration file to check.")
    var config: String

    func run() throws {
        let check = ConfigurationCheck(path: config)
        for line in check.warnings { FileHandle.standardError.write(Data("warning: \(line)\n".utf8)) }
        for line in check.errors { FileHandle.standardError.write(Data("\(line)\n".utf8)) }
        if check.isValid {
            let warnings = check.warnings.isEmpty ? "" : ", \(check.warnings.count) warning(s)"
            print("\(config): OK (\(check.configuration.backends.count) backend(s)\(warnings))")
        } else {
            FileHandle.standardError.write(Data("\(check.summary)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct Services: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a running service's services and drivers, like `cinder service-list`.")

    @Option(name: .long, help: "The service's API address (its osapi_volume_listen and osapi_volume_listen_port).")
    var url: String = "http://127.0.0.1:8776"

    func validate() throws {
        let lowered = url.lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://"), url.count > 8 else {
            throw ValidationError(
                "--url: expected an http:// or https:// address such as http://127.0.0.1:8776, got \"\(url)\"")
        }
    }

    func run() throws {
        do {
            print(try ServiceTable.fetchAndRender(baseURL: url), terminator: "")
        } catch {
            CommandSupport.fail("volumed services: \(error)", code: 1)
        }
    }
}
