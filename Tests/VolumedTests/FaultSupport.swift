import Foundation
import SharedTestSupport
import Synchronization

// Helpers for the fault matrix: starting the processes, their configuration files, stand-in storage
// tools, and readers for the API's documents. Everything runs over loopback and is bounded in time.

/// Starts `volumed serve` on `config` and waits for its URL.
func startService(_ config: FaultConfig) throws -> (process: VolumedProcess, base: String) {
    let path = try config.write()
    let volumed = try VolumedProcess(["serve", "--config", path])
    guard let base = volumed.waitForURL() else {
        volumed.stop()
        throw FaultTestError("volumed printed no URL; stderr: \(volumed.stderr)")
    }
    return (volumed, base)
}

/// Starts `volumed scheduler`, on `port` (0: any), and waits for its URL.
func startScheduler(directory: String, port: Int = 0, extra: String = "") throws -> (
    process: VolumedProcess, base: String
) {
    let path = directory + "/scheduler-\(UUID().uuidString.prefix(6)).conf"
    try "[DEFAULT]\nscheduler_listen_port = \(port)\n\(extra)".write(toFile: path, atomically: true, encoding: .utf8)
    let scheduler = try VolumedProcess(["scheduler", "--config", path])
    guard let base = scheduler.waitForURL() else {
        scheduler.stop()
        throw FaultTestError("volumed scheduler printed no URL; stderr: \(scheduler.stderr)")
    }
    return (scheduler, base)
}

/// A `volumed.conf` for one test: `[DEFAULT]` with a fixed host and short ticks, then one section
/// per backend in the order given.
struct FaultConfig {
    static let host = "faulthost"

    var directory: String
    var defaults: [String: String] = [:]
    var backends: [(name: String, body: String)] = []

    init(directory: String, defaults: [String: String] = [:]) {
        self.directory = directory
        self.defaults = defaults
    }

    var text: String {
        var options: [String: String] = [
            "host": Self.host,
            "enabled_backends": backends.map(\.name).joined(separator: ","),
            "backend_stats_polling_interval": "0.2",
            "osapi_volume_listen_port": "0",
            "state_path": directory + "/state",
            "reinit_backoff_max": "0.4",
        ]
        options.merge(defaults) { _, new in new }
        var text = "[DEFAULT]\n"
        for key in options.keys.sorted() { text += "\(key) = \(options[key]!)\n" }
        for backend in backends { text += "\n[\(backend.name)]\n\(backend.body)\n" }
        return text
    }

    /// Writes the file and returns its path.
    @discardableResult
    func write(to name: String = "volumed.conf") throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// An NFS backend on a local directory share (`<dir>/<name>.share`), with its shares file.
    /// The share directory is created only when `present`.
    mutating func addNfs(_ name: String, present: Bool = true) throws {
        let share = shareDirectory(name)
        if present { try FileManager.default.createDirectory(atPath: share, withIntermediateDirectories: true) }
        try "\(share)\n".write(toFile: "\(directory)/\(name).shares", atomically: true, encoding: .utf8)
        backends.append(
            (
                name,
                """
                volume_driver = cinder.volume.drivers.nfs.NfsDriver
                volume_backend_name = \(name)
                nfs_shares_config = \(directory)/\(name).shares
                nfs_mount_point_base = \(directory)/mnt
                """
            ))
    }

    func shareDirectory(_ name: String) -> String { "\(directory)/\(name).share" }

    /// An LVM backend whose tools are looked up only in `toolsDirectory`.
    mutating func addLvm(_ name: String, toolsDirectory: String, toolTimeout: Double = 20, extra: String = "") {
        backends.append(
            (
                name,
                """
                volume_driver = cinder.volume.drivers.lvm.LVMVolumeDriver
                volume_backend_name = \(name)
                volume_group = vg-\(name)
                lvm_tools_path = \(toolsDirectory)
                lvm_tool_timeout = \(toolTimeout)
                \(extra)
                """
            ))
    }

    mutating func add(_ name: String, _ body: String) {
        backends.append((name, body))
    }
}

/// A stand-in for LVM's `vgs`: a shell script in a directory of its own, whose behaviour a test
/// scripts. Every waiting loop is bounded and watches a gate file, so removing the gate (which
/// `release()` does) ends any script still running, even one orphaned by a killed service.
struct VgsStandIn {
    let directory: String
    var gate: String { directory + "/gate" }
    var callCounter: String { directory + "/calls" }

    /// The line `vgs --noheadings --nosuffix --units g --separator : -o vg_name,vg_size,vg_free` prints.
    static func report(_ group: String) -> String { "  \(group):100.00:40.00" }

    /// `script` is the body after a prologue that counts calls into `$n` (0 for the first call).
    /// The count is replaced by a rename, so a reader never sees the file empty halfway through a write.
    init(directory: String, script: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let text = """
            #!/bin/sh
            d='\(directory)'
            n=$(cat "$d/calls" 2>/dev/null || echo 0)
            echo $((n + 1)) > "$d/calls.$$" && mv -f "$d/calls.$$" "$d/calls"
            wait_gate() { i=0; while [ -e "$d/gate" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; }
            \(script)

            """
        let path = directory + "/vgs"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
    }

    /// Answers for `group` every time.
    static func healthy(directory: String, group: String) throws -> VgsStandIn {
        try VgsStandIn(directory: directory, script: "echo '\(report(group))'")
    }

    /// While the gate file exists, every call waits (up to 60 s); then it answers for `group`.
    static func gated(directory: String, group: String) throws -> VgsStandIn {
        try VgsStandIn(directory: directory, script: "wait_gate\necho '\(report(group))'")
    }

    func closeGate() { _ = FileManager.default.createFile(atPath: gate, contents: Data()) }
    func release() { unlink(gate) }

    var calls: Int {
        Int(
            (try? String(contentsOfFile: callCounter, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                ?? "") ?? 0
    }
}

struct FaultTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: reading the API's documents

/// The volume service entry for `host` in a `GET /v3/services` document.
func service(_ host: String, in document: [String: Any]) -> [String: Any]? {
    (document["services"] as? [[String: Any]])?.first {
        $0["host"] as? String == host && $0["binary"] as? String == "cinder-volume"
    }
}

/// The pool names of a `get_pools` document.
func poolNames(_ document: [String: Any]) -> [String] {
    ((document["pools"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
}

/// Whether any pool of `backend` (`faulthost@backend#...`) is listed.
func listsBackend(_ backend: String, _ document: [String: Any]) -> Bool {
    poolNames(document).contains { $0.hasPrefix("\(FaultConfig.host)@\(backend)#") }
}

func state(_ id: String, _ document: [String: Any]) -> String? {
    driver(id, in: document)?["state"] as? String
}

func lastError(_ id: String, _ document: [String: Any]) -> [String: Any]? {
    driver(id, in: document)?["last_error"] as? [String: Any]
}

func lastPublishOK(_ id: String, _ document: [String: Any]) -> Bool? {
    (driver(id, in: document)?["last_publish"] as? [String: Any])?["ok"] as? Bool
}

extension JSONClient {
    /// The `to` states of a driver's transitions, oldest first.
    func transitions(_ base: String, _ id: String) -> [String] {
        guard let (status, json) = try? get("\(base)/drivers/\(id)/events"), status == 200 else { return [] }
        return ((json["events"] as? [[String: Any]]) ?? []).reversed().compactMap { $0["to"] as? String }
    }
}

/// The host of backend `name` as the service names it.
func hostOf(_ name: String) -> String { "\(FaultConfig.host)@\(name)" }

/// A value shared with the threads a test starts.
final class Locked<Value: Sendable>: Sendable {
    private let value: Mutex<Value>

    init(_ value: Value) { self.value = Mutex(value) }

    func withLock<T>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
}

extension FaultConfig {
    /// One backend in each state an operator watches: gold ready, silver retrying (its share is
    /// missing), tin failed (an NFS backend without a shares file: config_error).
    mutating func addBackendsInEveryState() throws {
        try addNfs("gold")
        try addNfs("silver", present: false)
        add("tin", "volume_driver = cinder.volume.drivers.nfs.NfsDriver\n")
    }
}
