import Config

/// Types one backend's driver options for a driver's `Options`, collecting every problem (each
/// naming file, line and option) instead of stopping at the first.
struct DriverOptionReader {
    let backend: BackendSection
    private(set) var problems: [ConfigDiagnostic] = []

    init(backend: BackendSection) {
        self.backend = backend
    }

    /// The typed value of an optional option, nil when absent or bad (then the problem is kept).
    mutating func optional<T>(_ option: String, _ type: (ConfigValue) throws(ConfigDiagnostic) -> T) -> T? {
        guard let value = backend.driverOptions[option] else { return nil }
        do {
            return try type(value)
        } catch {
            problems.append(error)
            return nil
        }
    }

    /// The typed value of a required option; a missing one is a problem at the section header.
    mutating func required<T>(_ option: String, _ type: (ConfigValue) throws(ConfigDiagnostic) -> T) -> T? {
        guard backend.driverOptions[option] != nil else {
            let section = IniDocument.normalizedSectionName(backend.name)
            problems.append(
                ConfigDiagnostic(
                    fileName: backend.header?.fileName ?? backend.volumeDriver?.location.fileName ?? "",
                    line: backend.header?.line, subject: ConfigDiagnostic.subject(section: section, option: option),
                    message: "required option is not set"))
            return nil
        }
        return optional(option, type)
    }

    /// The raw value, for options whose typing depends on others.
    func raw(_ option: String) -> ConfigValue? {
        backend.driverOptions[option]
    }

    mutating func add(_ problem: ConfigDiagnostic) {
        problems.append(problem)
    }
}

/// Options every driver understands (Cinder's per-backend `reserved_percentage` and
/// `max_over_subscription_ratio`), reported in each pool's capabilities.
struct CommonPoolOptions: Sendable, Equatable {
    var reservedPercentage = 0
    var maxOverSubscriptionRatio = 20.0

    static let names: Set<String> = ["reserved_percentage", "max_over_subscription_ratio"]

    init() {}

    init(reading reader: inout DriverOptionReader) {
        if let value = reader.optional(
            "reserved_percentage", { v throws(ConfigDiagnostic) in try v.wholeNumber(atLeast: 0, atMost: 100) })
        {
            reservedPercentage = value
        }
        if let value = reader.optional("max_over_subscription_ratio", { v throws(ConfigDiagnostic) in try v.number() })
        {
            maxOverSubscriptionRatio = value
        }
    }
}
