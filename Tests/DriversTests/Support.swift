import Config
import Foundation
import SharedTestSupport
import Supervision
import Testing

/// The error a driver call threw, as the supervisor would classify it.
func driverError(_ call: () throws -> Void) -> DriverError? {
    do {
        try call()
        return nil
    } catch {
        return DriverError.classify(error)
    }
}

/// Parses a configuration that must load.
func configuration(_ text: String, in directory: TemporaryDirectory) throws -> ServiceConfiguration {
    try ConfigFile.parse(text: text, fileName: directory.path + "/volumed.conf")
}
