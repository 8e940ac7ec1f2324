import Foundation
import SharedTestSupport
import Testing

/// `volumed check-config` and start-up with broken files: exit codes and `file:line: message` lines.
@Suite(.offCooperativePool) struct ConfigCommandTests {
    @Test func checkConfigListsEveryProblemWithLines() throws {
        let dir = temporaryDirectory("check")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/volumed.conf"
        try """
        [DEFAULT]
        enabled_backends = a, b
        reinit_driver_count = three

        [a]
        volume_driver = nfs

        [b]
        volume_driver = no.such.Driver
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let check = try VolumedProcess(["check-config", "--config", path])
        #expect(check.waitForExit() == 2)
        let err = check.stderr
        #expect(
            err.contains("volumed.conf:3: reinit_driver_count: expected a whole number >= 0, got \"three\""), "\(err)")
        #expect(err.contains("nfs_shares_config"), "\(err)")
        #expect(err.contains("volumed.conf:9:"), "\(err)")
    }

    @Test func checkConfigAcceptsAGoodFile() throws {
        let dir = temporaryDirectory("checkok")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "\(dir)\n".write(toFile: dir + "/shares", atomically: true, encoding: .utf8)
        let path = dir + "/volumed.conf"
        try """
        [DEFAULT]
        enabled_backends = a
        [a]
        volume_driver = cinder.volume.drivers.nfs.NfsDriver
        nfs_shares_config = \(dir)/shares
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let check = try VolumedProcess(["check-config", "--config", path])
        #expect(check.waitForExit() == 0, "\(check.stderr)")
        #expect(check.stdout.contains("OK"))
    }

    @Test func brokenDefaultStopsStartUpWithExitTwo() throws {
        let dir = temporaryDirectory("broken")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/volumed.conf"
        try "[DEFAULT]\nbackend_stats_polling_interval = soon\n".write(toFile: path, atomically: true, encoding: .utf8)
        let serve = try VolumedProcess(["serve", "--config", path])
        #expect(serve.waitForExit() == 2)
        #expect(serve.stderr.contains("volumed.conf:2: backend_stats_polling_interval"), "\(serve.stderr)")
    }

    @Test func unreadableFileStopsStartUpWithExitTwo() throws {
        let serve = try VolumedProcess(["serve", "--config", "/nonexistent/volumed.conf"])
        #expect(serve.waitForExit() == 2)
        #expect(serve.stderr.contains("/nonexistent/volumed.conf"))
    }
}
