import Foundation
import SharedTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 11, point 11: out of file descriptors, the accept loop pauses 100 ms at a time and used to
/// log a warning each time (ten a second). It logs once per 10 s now, counting what it did not log.
/// Needs `prlimit` (util-linux, in every Debian base system).
@Suite(.offCooperativePool) struct DescriptorExhaustionTests {
    @Test func acceptFailuresOutOfDescriptorsAreLoggedOncePerInterval() throws {
        let dir = temporaryDirectory("emfile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/scheduler.conf"
        try "[DEFAULT]\nscheduler_listen = 127.0.0.1\nscheduler_listen_port = 0\nstate_path = \(dir)\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let scheduler = try VolumedProcess(
            ["--nofile=64:64", VolumedProcess.executableURL.path, "scheduler", "--config", path],
            executable: URL(fileURLWithPath: "/usr/bin/prlimit"))
        defer { scheduler.stop() }
        let base = try #require(scheduler.waitForURL(), "stderr: \(scheduler.stderr)")
        let port = try #require(Int(base.split(separator: ":").last ?? ""))

        // More connections than descriptors left: the kernel completes them, accept gets EMFILE.
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        for _ in 0..<150 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            sockets.append(fd)
        }
        #expect(
            scheduler.waitForOutput(timeout: 30) { _, err in err.contains("accept failed") },
            "stderr: \(scheduler.stderr)")
        // The condition lasts (the connections stay open): 2 s is twenty 100 ms pauses.
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            let warnings = scheduler.stderr.components(separatedBy: "accept failed").count - 1
            #expect(warnings == 1, "\(warnings) accept warnings: \(scheduler.stderr)")
            if warnings != 1 { break }
            usleep(100_000)  // the scenario: the condition lasts; nothing to await
        }
        #expect(scheduler.stderr.contains("Too many open files"), "the warning says why: \(scheduler.stderr)")
    }
}
