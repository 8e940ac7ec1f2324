/// One enabled backend's effective configuration: its own section over `[backend_defaults]` over
/// the service-wide `[DEFAULT]` value over the built-in default, as Cinder resolves backend options.
///
/// A section with problems is still a `BackendSection` (with defaults where values were bad) so the
/// backend can be supervised and shown as failed with a `config_error` while the others run.
package struct BackendSection: Sendable {
    /// The section whose options every backend inherits unless it sets them itself (Cinder's).
    package static let sharedSectionName = "backend_defaults"

    /// Options this module types for every backend; everything else is a driver option.
    package static let genericOptions: Set<String> = [
        "volume_driver", "volume_backend_name", "reinit_driver_count", "reinit_backoff_max",
        "driver_init_timeout", "driver_stats_timeout", "enable_unsupported_driver",
    ]

    /// The backend's name as listed in `enabled_backends`; the backend runs as `<host>@<name>`.
    package var name: String
    /// Where the section starts, nil when it is missing.
    package var header: SourceLocation?
    /// The configured driver name or class path, nil when not set (then `problems` says so).
    package var volumeDriver: ConfigValue?
    /// The name the scheduler matches volume types against; defaults to the section name.
    package var volumeBackendName: String
    package var reinitDriverCount: Int
    package var reinitBackoffMax: Double
    package var driverInitTimeout: Double
    package var driverStatsTimeout: Double
    package var enableUnsupportedDriver: Bool
    /// Every option that is not generic, for the driver factory to type: the section's own values
    /// over `[backend_defaults]`'s (an inherited value has `section == "backend_defaults"`).
    package var driverOptions: [String: ConfigValue]
    /// Why this backend cannot run as configured; empty when the section is valid.
    package var problems: [ConfigDiagnostic]

    package var isValid: Bool { problems.isEmpty }

    /// The backend's own option values, ignoring where they were written, for reload diffs.
    var comparableValues: [String: String] {
        var values: [String: String] = [
            "volume_driver": volumeDriver?.text ?? "",
            "volume_backend_name": volumeBackendName,
            "reinit_driver_count": String(reinitDriverCount),
            "reinit_backoff_max": String(reinitBackoffMax),
            "driver_init_timeout": String(driverInitTimeout),
            "driver_stats_timeout": String(driverStatsTimeout),
            "enable_unsupported_driver": String(enableUnsupportedDriver),
        ]
        for (option, value) in driverOptions {
            values[option] = value.text + "\u{0}" + value.baseDirectory
        }
        return values
    }

    /// Problems without line numbers, so that moving a broken section does not count as a change.
    var comparableProblems: [String] {
        problems.map { "\($0.subject ?? ""): \($0.message)" }
    }
}

extension BackendSection {
    /// Types the section of backend `name`, listed in `enabledBackends`.
    static func read(
        name: String, document: IniDocument, service: ServiceOptions,
        enabledBackends: ConfigValue?
    ) -> BackendSection {
        let normalized = IniDocument.normalizedSectionName(name)
        let own = document.sections[normalized]
        let shared = document.sections[sharedSectionName]
        var backend = BackendSection(
            name: name, header: own?.header, volumeDriver: nil, volumeBackendName: name,
            reinitDriverCount: service.reinitDriverCount, reinitBackoffMax: service.reinitBackoffMax,
            driverInitTimeout: service.driverInitTimeout, driverStatsTimeout: service.driverStatsTimeout,
            enableUnsupportedDriver: service.enableUnsupportedDriver,
            driverOptions: [:], problems: [])

        backend.problems +=
            (document.syntaxProblems(in: normalized)
            + (normalized == sharedSectionName ? [] : document.syntaxProblems(in: sharedSectionName)))
            .sorted { ($0.diagnostic.line ?? 0) < ($1.diagnostic.line ?? 0) }
            .map(\.diagnostic)

        func effective(_ option: String) -> ConfigValue? {
            own?.values[option] ?? shared?.values[option]
        }
        var valueProblems: [ConfigDiagnostic] = []
        func type<T>(_ option: String, into field: inout T, _ parse: (ConfigValue) throws(ConfigDiagnostic) -> T) {
            guard let value = effective(option) else { return }
            do {
                field = try parse(value)
            } catch {
                valueProblems.append(error)
            }
        }

        type("volume_backend_name", into: &backend.volumeBackendName) { v throws(ConfigDiagnostic) in
            try v.nonEmptyString()
        }
        type("reinit_driver_count", into: &backend.reinitDriverCount) { v throws(ConfigDiagnostic) in
            try v.wholeNumber(atLeast: 0)
        }
        type("reinit_backoff_max", into: &backend.reinitBackoffMax) { v throws(ConfigDiagnostic) in try v.seconds() }
        type("driver_init_timeout", into: &backend.driverInitTimeout) { v throws(ConfigDiagnostic) in try v.seconds() }
        type("driver_stats_timeout", into: &backend.driverStatsTimeout) { v throws(ConfigDiagnostic) in try v.seconds()
        }
        type("enable_unsupported_driver", into: &backend.enableUnsupportedDriver) { v throws(ConfigDiagnostic) in
            try v.bool()
        }
        backend.problems += valueProblems

        if let driver = effective("volume_driver"), !driver.text.trimmingWhitespace().isEmpty {
            backend.volumeDriver = driver
        } else if let own {
            let location = effective("volume_driver")?.location ?? own.header
            backend.problems.append(
                ConfigDiagnostic(
                    at: location, subject: ConfigDiagnostic.subject(section: normalized, option: "volume_driver"),
                    message: "required option is not set"))
        }
        if own == nil {
            let message =
                "backend \"\(name)\" has no [\(name)] section: add one with volume_driver, "
                + "or remove \(name) from enabled_backends"
            if let enabledBackends {
                backend.problems.append(enabledBackends.problem(message))
            } else {
                backend.problems.append(
                    ConfigDiagnostic(
                        fileName: document.fileName, line: nil,
                        subject: "enabled_backends", message: message))
            }
        }

        for source in [shared, own] {
            guard let source else { continue }
            for (option, value) in source.values where !genericOptions.contains(option) {
                backend.driverOptions[option] = value
            }
        }
        return backend
    }

    /// The backend's host as Cinder names it: `<host>@<backend>`.
    package func host(in service: ServiceOptions) -> String {
        "\(service.host)@\(name)"
    }
}
