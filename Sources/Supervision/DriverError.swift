/// Whether the supervisor may retry an error by itself. The Cinder spec lists the unrecoverable
/// errors and treats everything else as recoverable, so a new kind of failure defaults to a retry.
package enum ErrorClass: String, Sendable, Codable, Equatable {
    case recoverable
    case unrecoverable
}

/// What went wrong, as reported in the API's `last_error.kind` and in metrics.
package enum ErrorKind: String, Sendable, Codable, Equatable, CaseIterable {
    case configError = "config_error"
    case driverNotSupported = "driver_not_supported"
    case missingLibrary = "missing_library"
    case backendUnavailable = "backend_unavailable"
    case timeout
    case other

    /// Configuration errors, unsupported drivers and missing libraries will not fix themselves by
    /// waiting; every other kind may.
    package var errorClass: ErrorClass {
        switch self {
        case .configError, .driverNotSupported, .missingLibrary: return .unrecoverable
        case .backendUnavailable, .timeout, .other: return .recoverable
        }
    }
}

/// The typed error a driver throws so the supervisor classifies it without matching strings.
/// Any other error a driver throws is treated as `ErrorKind.other` (recoverable).
package struct DriverError: Error, Sendable, Equatable, CustomStringConvertible {
    package var kind: ErrorKind
    package var message: String

    package init(_ kind: ErrorKind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var errorClass: ErrorClass { kind.errorClass }
    package var description: String { "\(kind.rawValue): \(message)" }

    /// Classifies anything a driver threw.
    package static func classify(_ error: any Error) -> DriverError {
        if let typed = error as? DriverError { return typed }
        return DriverError(.other, String(describing: error))
    }
}
