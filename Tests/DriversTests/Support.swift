import Config
import Foundation
import Supervision
import Testing

/// A fresh directory under the system's temporary directory, removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var base = NSTemporaryDirectory()
        while base.hasSuffix("/") { base.removeLast() }
        var template = Array((base + "/volumed-drivers-XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: created)
    }

    func write(_ name: String, _ text: String, mode: mode_t = 0o644) throws -> String {
        let file = path + "/" + name
        try text.write(toFile: file, atomically: false, encoding: .utf8)
        chmod(file, mode)
        return file
    }

    func makeDirectory(_ name: String) throws -> String {
        let directory = path + "/" + name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

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

/// Polls `condition` until it holds or `seconds` pass; true when it held.
func eventually(within seconds: Double = 20, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}
