import Foundation

/// A fresh directory under the system's temporary directory, removed when the value is released:
/// the one temporary directory of the test targets (each test its own).
package final class TemporaryDirectory {
    package let path: String

    package init() throws {
        var base = NSTemporaryDirectory()
        while base.hasSuffix("/") { base.removeLast() }
        var template = Array((base + "/volumed-test-XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: created)
    }

    package func write(_ name: String, _ text: String, mode: mode_t = 0o644) throws -> String {
        let file = path + "/" + name
        try text.write(toFile: file, atomically: false, encoding: .utf8)
        chmod(file, mode)
        return file
    }

    package func makeDirectory(_ name: String) throws -> String {
        let directory = path + "/" + name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A fresh directory `volumed-test-<name>-<random>` for a test whose processes outlive any one
/// value (a volumed child writing its state file there); the system's temporary directory cleaner
/// removes it.
package func temporaryDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "volumed-test-\(name)-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
