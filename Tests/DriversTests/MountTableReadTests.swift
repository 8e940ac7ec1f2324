import Foundation
import SharedTestSupport
import Testing

@testable import Drivers

/// Regression (found while writing the fault matrix's TCP-table reader): Foundation's
/// `FileManager.contents(atPath:)` stops after the first read of a file whose size is reported as
/// 0, which is every procfs file, so on a host whose `/proc/self/mountinfo` is over about 4 KiB
/// the mounts after the first page were missed and a mounted NFS share read as "nothing is
/// mounted".
@Suite(.offCooperativePool) struct MountTableReadTests {
    /// A mount namespace of its own with 80 extra tmpfs mounts gives a mountinfo well over 4 KiB
    /// without touching the host's mounts (needs root and `unshare`).
    @Test(
        .enabled(
            if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"),
            "needs root and /usr/bin/unshare for a private mount namespace: skipped"))
    func largeProcMountinfoIsReadWhole() throws {
        let base = temporaryDirectory("mountns")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let count = 80
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = [
            "--mount", "--propagation", "private", "/bin/sh", "-c",
            """
            i=0
            while [ $i -lt \(count) ]; do
                mkdir -p "$0/m$i" && mount -t tmpfs -o size=64k tmpfs "$0/m$i" || exit 3
                i=$((i + 1))
            done
            touch "$0/ready"
            exec sleep 60
            """, base,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        _ = waitUntil(seconds: 30) { FileManager.default.fileExists(atPath: base + "/ready") || !process.isRunning }
        try #require(FileManager.default.fileExists(atPath: base + "/ready"), "the namespace could not mount tmpfs")
        let table = "/proc/\(process.processIdentifier)/mountinfo"
        let size = try #require(try FileHandle(forReadingFrom: URL(fileURLWithPath: table)).readToEnd()?.count)
        #expect(size > 8192, "mountinfo is only \(size) bytes")

        let points = try #require(MountTable.mountPoints(tablePath: table))
        let expected = (0..<count).map { "\(base)/m\($0)" }
        #expect(expected.filter { !points.contains($0) } == [])
    }

    /// A table that arrives in several reads (a FIFO fed in chunks) is read to its end.
    @Test func tableArrivingInSeveralReadsIsReadWhole() throws {
        let directory = temporaryDirectory("mountinfo")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/mountinfo"
        #expect(mkfifo(path, 0o600) == 0)
        let mountPoints = (0..<200).map { "/var/lib/volumed/mnt/share-\($0)" }
        let lines = mountPoints.enumerated().map { index, point in
            "\(100 + index) 22 0:\(50 + index) / \(point) rw,relatime - nfs4 10.0.0.5:/export/\(index) rw,vers=4.1\n"
        }
        let writer = Thread {
            let fd = open(path, O_WRONLY)
            guard fd >= 0 else { return }
            defer { close(fd) }
            for chunk in stride(from: 0, to: lines.count, by: 20) {
                let bytes = Array(lines[chunk..<min(chunk + 20, lines.count)].joined().utf8)
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                usleep(20_000)  // the scenario: the table arrives in several reads
            }
        }
        writer.start()
        let read = MountTable.mountPoints(tablePath: path)
        #expect(read == Set(mountPoints))
    }

    @Test func missingTableIsUnknown() {
        #expect(MountTable.mountPoints(tablePath: "/nonexistent/mountinfo") == nil)
    }
}
