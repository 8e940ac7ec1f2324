import Config

/// Everything `volumed check-config` reports about a file, in one call: the file's own problems
/// (unreadable, broken `[DEFAULT]`, broken backend sections), every driver's option problems, and
/// all warnings, each once, as `file:line: message`. Nothing touches storage.
package struct ConfigurationCheck: Sendable {
    /// What stops the service or a backend; `check-config` exits 2 when this is not empty.
    package var errors: [ConfigDiagnostic]
    package var warnings: [ConfigDiagnostic]
    /// Enabled backends that would start `failed` with `config_error` or `driver_not_supported`.
    package var failingBackends: [String]
    /// The configuration as read (defaults where values were bad).
    package var configuration: ServiceConfiguration

    package var isValid: Bool { errors.isEmpty }

    /// Reads and checks the file at `path`.
    package init(path: String) {
        self.init(configuration: ConfigFile.inspect(path: path))
    }

    /// Checks a configuration already read (e.g. with `ConfigFile.inspect(text:fileName:)`).
    package init(configuration: ServiceConfiguration) {
        self.configuration = configuration
        var errors = configuration.problems
        var warnings = configuration.warnings
        var failing: [String] = []
        for backend in configuration.backends {
            let validation = DriverFactory.validate(backend, service: configuration.service)
            errors += validation.errors
            warnings += validation.warnings
            if !validation.errors.isEmpty { failing.append(backend.name) }
        }
        self.failingBackends = failing
        warnings += DriverFactory.unknownSharedOptions(in: configuration)
        var seenErrors = Set<ConfigDiagnostic>()
        var seenWarnings = Set<ConfigDiagnostic>()
        self.errors = errors.filter { seenErrors.insert($0).inserted }
        self.warnings = warnings.filter { seenWarnings.insert($0).inserted }
    }

    /// The closing line of a failed check: what the problems would do to a running service.
    package var summary: String {
        let count = "\(errors.count) problem(s)"
        if !configuration.problems.isEmpty {
            return "\(configuration.fileName): \(count); volumed would not start (exit 2)"
        }
        return "\(configuration.fileName): \(count); volumed would start, but backend(s) "
            + "\(failingBackends.joined(separator: ", ")) would be failed until the file is fixed and reloaded (SIGHUP)"
    }
}
