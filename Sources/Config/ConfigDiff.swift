/// What a reload (SIGHUP) changes, so the service touches only what the operator edited: added
/// backends start, removed ones stop, changed ones get a fresh driver and a fresh re-init counter,
/// unchanged ones keep running undisturbed.
package struct ConfigDiff: Sendable, Equatable {
    /// A backend whose effective configuration changed, with the options that differ
    /// (`problems` when only its errors changed).
    package struct ChangedBackend: Sendable, Equatable {
        package var name: String
        package var options: [String]

        package init(name: String, options: [String]) {
            self.name = name
            self.options = options
        }
    }

    package var addedBackends: [String]
    package var removedBackends: [String]
    package var changedBackends: [ChangedBackend]
    package var unchangedBackends: [String]
    /// `[DEFAULT]` options that changed and can be applied to the running service.
    package var liveOptions: [String]
    /// `[DEFAULT]` options that changed but only take effect after a restart (listen addresses,
    /// HTTP limits, host, state path).
    package var restartOptions: [String]

    package var requiresRestart: Bool { !restartOptions.isEmpty }
    package var isEmpty: Bool {
        addedBackends.isEmpty && removedBackends.isEmpty && changedBackends.isEmpty
            && liveOptions.isEmpty && restartOptions.isEmpty
    }

    /// Compares effective values (inherited `[backend_defaults]` and `[DEFAULT]` values included);
    /// where a value is written in the file does not matter.
    package init(from old: ServiceConfiguration, to new: ServiceConfiguration) {
        let oldNames = old.backends.map(\.name)
        let newNames = new.backends.map(\.name)
        let oldSet = Set(oldNames)
        let newSet = Set(newNames)
        addedBackends = newNames.filter { !oldSet.contains($0) }
        removedBackends = oldNames.filter { !newSet.contains($0) }
        changedBackends = []
        unchangedBackends = []
        for backend in new.backends {
            guard let previous = old.backend(named: backend.name) else { continue }
            let options =
                Self.differences(previous.comparableValues, backend.comparableValues)
                + (previous.comparableProblems == backend.comparableProblems ? [] : ["problems"])
            if options.isEmpty {
                unchangedBackends.append(backend.name)
            } else {
                changedBackends.append(ChangedBackend(name: backend.name, options: options))
            }
        }
        let serviceChanges = Self.differences(old.service.comparableValues, new.service.comparableValues)
            .filter { $0 != "enabled_backends" }
        restartOptions = serviceChanges.filter { ServiceOptions.restartOptions.contains($0) }
        liveOptions = serviceChanges.filter { !ServiceOptions.restartOptions.contains($0) }
    }

    private static func differences(_ old: [String: String], _ new: [String: String]) -> [String] {
        Set(old.keys).union(new.keys).filter { old[$0] != new[$0] }.sorted()
    }
}
