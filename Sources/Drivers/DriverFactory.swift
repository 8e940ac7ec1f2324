import Config
import Supervision

/// The drivers volumed ships, and the names operators may give them in `volume_driver`.
package enum DriverKind: String, Sendable, CaseIterable {
    case nfs
    case lvm
    case rest

    /// Short names, the Cinder class paths an operator would paste from cinder.conf, and
    /// volumed's own class paths.
    package var acceptedNames: [String] {
        switch self {
        case .nfs: return ["nfs", "cinder.volume.drivers.nfs.NfsDriver", "volumed.drivers.nfs.NfsDriver"]
        case .lvm: return ["lvm", "cinder.volume.drivers.lvm.LVMVolumeDriver", "volumed.drivers.lvm.LVMVolumeDriver"]
        case .rest: return ["rest", "volumed.drivers.rest.RestArrayDriver"]
        }
    }

    /// The kind a `volume_driver` value names; short names ignore case, class paths do not (as in
    /// Python imports).
    package init?(volumeDriver: String) {
        let name = volumeDriver.trimmingCharacters(in: .whitespaces)
        guard
            let kind = Self.allCases.first(where: { kind in
                kind.acceptedNames.contains(name) || kind.rawValue == name.lowercased()
            })
        else { return nil }
        self = kind
    }

    /// Whether the driver is supported in Cinder's sense (tested by volumed's own CI).
    package var supported: Bool {
        switch self {
        case .nfs, .lvm: return true
        case .rest: return false
        }
    }

    var optionNames: Set<String> {
        switch self {
        case .nfs: return NfsDriver.Options.names
        case .lvm: return LvmDriver.Options.names
        case .rest: return RestArrayDriver.Options.names
        }
    }
}

/// What validating one backend found: errors (the backend cannot run as configured) and warnings.
package struct BackendValidation: Sendable, Equatable {
    package var errors: [ConfigDiagnostic] = []
    package var warnings: [ConfigDiagnostic] = []
}

/// Turns backend sections into drivers. A driver never sees the configuration file: the factory
/// types its options (every problem naming file, line and option) and hands it plain values.
///
/// `makeDriver` always returns a driver so every enabled backend can be supervised and shown. A
/// section that cannot produce a working driver yields an `InvalidBackendDriver` whose every call
/// throws the unrecoverable error (`driver_not_supported` for an unknown `volume_driver`,
/// `config_error` for missing or bad options), so the failure surfaces through the normal
/// supervision path, is never retried by itself, and a reload that fixes the section replaces it.
package enum DriverFactory {
    /// The driver for `backend`; see the type's documentation for broken sections.
    package static func makeDriver(for backend: BackendSection, service: ServiceOptions) -> any VolumeDriver {
        let name = backend.volumeDriver?.text.trimmingCharacters(in: .whitespaces) ?? ""
        switch build(backend, service: service) {
        case .success(let driver):
            return driver
        case .failure(let error):
            return InvalidBackendDriver(volumeDriverName: name, error: error)
        }
    }

    /// Checks one backend without touching storage (for `check-config`): its section, driver name,
    /// the driver's options, that an unsupported driver is enabled, and that option names are known.
    package static func validate(_ backend: BackendSection, service: ServiceOptions) -> BackendValidation {
        var validation = BackendValidation(errors: backend.problems)
        guard let driverValue = backend.volumeDriver else { return validation }
        guard let kind = DriverKind(volumeDriver: driverValue.text) else {
            validation.errors.append(unknownDriver(driverValue))
            return validation
        }
        var reader = DriverOptionReader(backend: backend)
        let driver = typedOptions(kind, &reader, service: service)
        validation.errors += reader.problems
        if let nfs = driver as? NfsDriver, let option = backend.driverOptions["nfs_shares_config"] {
            do {  // the shares file is configuration too; reading it touches no storage
                _ = try NfsSharesFile.read(path: nfs.options.sharesConfig, mountPointBase: nfs.options.mountPointBase)
            } catch {
                validation.errors.append(option.problem(error.message))
            }
        }
        if !kind.supported && !backend.enableUnsupportedDriver {
            validation.errors.append(
                driverValue.problem(
                    "the \(kind.rawValue) driver is unsupported (no third-party CI, as Cinder marks such drivers); "
                        + "set enable_unsupported_driver = true to run it"))
        }
        if kind == .nfs, let options = backend.driverOptions["nfs_mount_options"] {
            validation.warnings.append(
                options.problem("ignored: volumed never mounts shares (mount them with systemd or autofs)"))
        }
        let unknown = backend.driverOptions.values
            .filter { $0.section != BackendSection.sharedSectionName && !kind.optionNames.contains($0.option) }
        if !unknown.isEmpty {
            // Prepared once per backend, not per unknown option (a section may hold thousands).
            let known = OptionSuggestion.Vocabulary(kind.optionNames.union(BackendSection.genericOptions))
            for value in unknown.sorted(by: { $0.location.line < $1.location.line }) {
                validation.warnings.append(
                    value.problem(
                        "unknown option for the \(kind.rawValue) driver, ignored"
                            + OptionSuggestion.hint(for: value.option, in: known)))
            }
        }
        return validation
    }

    /// Validates every backend, and warns about `[backend_defaults]` options no driver knows.
    package static func validate(_ configuration: ServiceConfiguration) -> [String: BackendValidation] {
        var result: [String: BackendValidation] = [:]
        for backend in configuration.backends {
            result[backend.name] = validate(backend, service: configuration.service)
        }
        return result
    }

    /// `[backend_defaults]` options that no driver and no backend setting knows, as warnings.
    package static func unknownSharedOptions(in configuration: ServiceConfiguration) -> [ConfigDiagnostic] {
        let known = DriverKind.allCases.reduce(BackendSection.genericOptions) { $0.union($1.optionNames) }
        let vocabulary = OptionSuggestion.Vocabulary(known)
        return configuration.backendDefaults.values
            .filter { !known.contains($0.option) }
            .sorted { $0.location.line < $1.location.line }
            .map {
                $0.problem(
                    "unknown option for every driver, ignored" + OptionSuggestion.hint(for: $0.option, in: vocabulary))
            }
    }

    private static func build(_ backend: BackendSection, service: ServiceOptions) -> Result<
        any VolumeDriver, DriverError
    > {
        guard backend.isValid, let driverValue = backend.volumeDriver else {
            return .failure(DriverError(.configError, backend.problems.map(\.description).joined(separator: "; ")))
        }
        guard let kind = DriverKind(volumeDriver: driverValue.text) else {
            return .failure(DriverError(.driverNotSupported, unknownDriver(driverValue).description))
        }
        var reader = DriverOptionReader(backend: backend)
        guard let driver = typedOptions(kind, &reader, service: service), reader.problems.isEmpty else {
            return .failure(DriverError(.configError, reader.problems.map(\.description).joined(separator: "; ")))
        }
        return .success(driver)
    }

    /// The driver with typed options, or nil with the problems in `reader`.
    private static func typedOptions(
        _ kind: DriverKind, _ reader: inout DriverOptionReader,
        service: ServiceOptions
    ) -> (any VolumeDriver)? {
        let name = reader.backend.volumeDriver?.text.trimmingCharacters(in: .whitespaces) ?? kind.rawValue
        switch kind {
        case .nfs:
            return NfsDriver.Options.read(&reader, service: service).map {
                NfsDriver(volumeDriverName: name, options: $0)
            }
        case .lvm:
            return LvmDriver.Options.read(&reader).map { LvmDriver(volumeDriverName: name, options: $0) }
        case .rest:
            return RestArrayDriver.Options.read(&reader).map { RestArrayDriver(volumeDriverName: name, options: $0) }
        }
    }

    private static func unknownDriver(_ value: ConfigValue) -> ConfigDiagnostic {
        let known = DriverKind.allCases.flatMap(\.acceptedNames)
        let hint =
            OptionSuggestion.closest(to: value.text.trimmingCharacters(in: .whitespaces), in: known)
            .map { "did you mean \($0)? " } ?? ""
        return value.problem("unknown driver \"\(value.text)\"; \(hint)volumed knows \(known.joined(separator: ", "))")
    }
}
