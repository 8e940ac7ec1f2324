import CurlClient
import Foundation
import SharedTestSupport
import Testing

/// Issue 11, points 4 to 7, through real `volumed` processes: a report from the future cannot
/// poison the scheduler, the publisher learns when its reports are refused, check-config and the
/// scheduler share one rule for names, the in-process scheduler is not starved by a connection
/// flood, and the store is bounded.
@Suite(.offCooperativePool) struct SchedulerHardeningTests {
    /// Cinder's timestamp format, UTC.
    static func cinderTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"
        return formatter.string(from: date)
    }

    static func metric(_ text: String, _ prefix: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(prefix + " ") {
            return Double(line.dropFirst(prefix.count + 1))
        }
        return nil
    }

    /// Point 4: a report dated 9999-12-31 used to be stored (204), and every later real report of
    /// that backend was "older" and ignored until the scheduler restarted. Now it is refused; a
    /// report dated a little ahead (within the skew) holds the backend's reports off for half a
    /// service_down_time at most, and meanwhile the volume service shows that its reports are
    /// refused (`last_publish.refused`, a metric, one log line per change).
    @Test func aReportFromTheFutureCannotPoisonTheSchedulerAndThePublisherLearnsOfRefusals() throws {
        let dir = temporaryDirectory("poison")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (scheduler, schedulerBase) = try startScheduler(directory: dir, extra: "service_down_time = 10\n")
        defer { scheduler.stop() }
        let capabilitiesURL = schedulerBase + "/v3/scheduler/capabilities"
        var config = FaultConfig(directory: dir, defaults: ["scheduler_url": capabilitiesURL])
        try config.addNfs("gold")
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()
        let listed = api.waitFor(schedulerBase + "/v3/scheduler-stats/get_pools") { listsBackend("gold", $0) }
        #expect(listed != nil, "scheduler: \(scheduler.stderr)\nservice: \(volumed.stderr)")

        let poisoned = try api.send(
            "POST", capabilitiesURL,
            json: SchedulerRoleTests.report(
                host: hostOf("gold"), timestamp: "9999-12-31T23:59:59.999999", capabilities: ["backend_state": "down"]))
        #expect(poisoned.status == 400, "\(poisoned.json)")
        #expect(
            ((poisoned.json["badRequest"] as? [String: Any])?["message"] as? String)?.contains("'timestamp'") == true)
        // The backend's own reports keep being stored, and it stays listed.
        func accepted() -> Double {
            Self.metric(
                (try? api.client.get(schedulerBase + "/metrics").bodyText) ?? "",
                #"volumed_scheduler_reports_total{result="accepted"}"#) ?? 0
        }
        let before = accepted()
        #expect(waitUntil(seconds: 30) { accepted() >= before + 3 }, "scheduler: \(scheduler.stderr)")
        #expect(listsBackend("gold", try api.get(schedulerBase + "/v3/scheduler-stats/get_pools").json))

        // Within the skew: stored, and the service's next reports are refused as older ...
        let ahead = try api.send(
            "POST", capabilitiesURL,
            json: SchedulerRoleTests.report(
                host: hostOf("gold"), timestamp: Self.cinderTime(Date().addingTimeInterval(30))))
        #expect(ahead.status == 204, "\(ahead.json)")
        var refusal: [String: Any]?
        let refused = waitUntil(seconds: 30) {
            guard let document = try? api.get(base + "/drivers").json,
                let publish = driver("gold", in: document)?["last_publish"] as? [String: Any],
                publish["refused"] as? Bool == true
            else { return false }
            refusal = publish
            return true
        }
        #expect(refused, "service: \(volumed.stderr)")
        #expect(refusal?["ok"] as? Bool == false)
        #expect((refusal?["error"] as? String)?.contains("older_than_stored") == true, "\(refusal ?? [:])")
        // ... until the stored one is half a service_down_time old; then the backend's own reports win.
        #expect(api.waitFor(base + "/drivers", timeout: 30) { lastPublishOK("gold", $0) == true } != nil)
        let metrics = try api.client.get(base + "/metrics").bodyText
        let refusedCount = Self.metric(
            metrics, #"volumed_backend_publishes_total{backend="gold",host="\#(hostOf("gold"))",result="refused"}"#)
        #expect((refusedCount ?? 0) >= 1, "\(metrics)")
        #expect(
            Self.metric(metrics, #"volumed_backend_publish_refused{backend="gold",host="\#(hostOf("gold"))"}"#) == 0)
        // The API shows the publish ok before the log line that says so has reached our pipe reader.
        volumed.waitForOutput(timeout: 10) { _, err in err.contains("capability reports again") }
        let log = volumed.stderr
        #expect(
            log.components(separatedBy: "the scheduler refuses this backend's capability reports").count == 2, "\(log)")
        #expect(
            log.components(separatedBy: "the scheduler accepts this backend's capability reports again").count == 2,
            "\(log)")
    }

    /// Point 5: names the scheduler refuses (a host over 255 characters, a DEL, an NFS share with
    /// '#' or a tab) used to pass check-config. The configuration uses the scheduler's own rule.
    @Test func checkConfigRefusesNamesTheSchedulerWouldRefuse() throws {
        let dir = temporaryDirectory("names")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "\(dir)/gold#1\n127.0.0.1:/export\tdata\n".write(toFile: dir + "/shares", atomically: true, encoding: .utf8)
        func check(host: String, backend: String = "a") throws -> (Int32?, String) {
            let path = dir + "/volumed.conf"
            try """
            [DEFAULT]
            host = \(host)
            enabled_backends = \(backend)
            [\(backend)]
            volume_driver = nfs
            nfs_shares_config = \(dir)/shares
            """.write(toFile: path, atomically: true, encoding: .utf8)
            let process = try VolumedProcess(["check-config", "--config", path])
            let status = process.waitForExit()
            return (status, process.stderr)
        }
        let (longStatus, longErr) = try check(host: String(repeating: "n", count: 300))
        #expect(longStatus == 2)
        #expect(longErr.contains("host: is 300 characters long, more than 253"), "\(longErr)")
        #expect(longErr.contains(#"share "\#(dir)/gold#1" cannot name a pool: it must not contain '#'"#), "\(longErr)")
        #expect(
            longErr.contains(#"share "127.0.0.1:/export\u{9}data" cannot name a pool: it must not contain a tab"#),
            "\(longErr)")
        let (delStatus, delErr) = try check(host: "node\u{7F}1")
        #expect(delStatus == 2)
        #expect(delErr.contains("host: must not contain a control character (U+007F)"), "\(delErr)")
        let (sumStatus, sumErr) = try check(host: String(repeating: "n", count: 250), backend: "backend1")
        #expect(sumStatus == 2)
        #expect(sumErr.contains("is 259 characters long, more than 255"), "\(sumErr)")
    }

    /// Point 6: with the scheduler in process, the service's own reports used to go through its own
    /// HTTP server over loopback, so a flood holding every `http_max_connections` slot made every
    /// publish fail (503) and every backend look down. They go straight into the store now.
    @Test func aConnectionFloodDoesNotStarveTheInProcessScheduler() throws {
        let dir = temporaryDirectory("flood")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Ticks longer than the keep-alive timeout: a loopback publisher would need a new connection
        // for every publish, as after any idle spell.
        var config = FaultConfig(
            directory: dir,
            defaults: [
                "http_max_connections": "4", "http_header_timeout": "60", "http_keepalive_timeout": "0.3",
                "backend_stats_polling_interval": "1",
            ])
        try config.addNfs("gold")
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()
        #expect(
            api.waitFor(base + "/v3/scheduler-stats/get_pools") { listsBackend("gold", $0) } != nil, "\(volumed.stderr)"
        )
        let port = UInt16(base.split(separator: ":").last ?? "") ?? 0
        func publishes(_ result: String) -> Double {
            Self.metric(
                (try? api.client.get(base + "/metrics").bodyText) ?? "",
                #"volumed_backend_publishes_total{backend="gold",host="\#(hostOf("gold"))",result="\#(result)"}"#) ?? -1
        }
        let okBefore = publishes("ok")
        let failedBefore = publishes("failed")
        // A flood: every 100 ms more clients that never finish a request, so every slot freed is
        // taken again at once (the extra ones get 503), for 5 ticks.
        var flood: [Int32] = []
        let until = Date().addingTimeInterval(5)
        while Date() < until {
            flood += (0..<4).compactMap { _ in Self.idleConnection(port: port) }
            usleep(100_000)  // the scenario: a flood paced at 100 ms
        }
        #expect(flood.count >= 100)
        for socket in flood { close(socket) }
        var okAfter = 0.0
        #expect(
            waitUntil(seconds: 30) {
                okAfter = publishes("ok")
                return okAfter >= 0
            })
        #expect(okAfter - okBefore >= 3, "publishes went on during the flood: \(okBefore) -> \(okAfter)")
        #expect(publishes("failed") == failedBefore, "\(volumed.stderr)")
        #expect(!volumed.stderr.contains("publishing capabilities failed"), "\(volumed.stderr)")
    }

    /// A TCP connection to 127.0.0.1:`port` that never finishes its request (a slowloris client).
    static func idleConnection(port: UInt16) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        // Half a request: the connection is busy (header timeout), not idle (keep-alive timeout).
        let partial = Array("GET /healthz HTTP/1.1\r\nHost: x\r\n".utf8)
        guard connected == 0, write(fd, partial, partial.count) == partial.count else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Point 7: the store used to keep every host it ever heard of. `scheduler_max_backends` bounds
    /// it: a report naming a new backend beyond is refused (store_full, in a 200 answer when others
    /// of the body were stored, 503 when none was), with one warning in the log.
    @Test func theSchedulerStoreIsBounded() throws {
        let dir = temporaryDirectory("bounded")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (scheduler, schedulerBase) = try startScheduler(directory: dir, extra: "scheduler_max_backends = 3\n")
        defer { scheduler.stop() }
        let capabilitiesURL = schedulerBase + "/v3/scheduler/capabilities"
        let api = JSONClient()
        let now = Self.cinderTime(Date())
        let first = try api.send(
            "POST", capabilitiesURL,
            json: ["reports": (1...2).map { SchedulerRoleTests.report(host: "n\($0)@b", timestamp: now) }])
        #expect(first.status == 204, "\(first.json)")
        let partial = try api.send(
            "POST", capabilitiesURL,
            json: ["reports": (3...5).map { SchedulerRoleTests.report(host: "n\($0)@b", timestamp: now) }])
        #expect(partial.status == 200, "\(partial.json)")
        #expect(partial.json["accepted"] as? Int == 1)
        let refused = partial.json["refused"] as? [[String: Any]] ?? []
        #expect(refused.map { $0["host"] as? String } == ["n4@b", "n5@b"])
        #expect(refused.allSatisfy { $0["reason"] as? String == "store_full" })
        let full = try api.send("POST", capabilitiesURL, json: SchedulerRoleTests.report(host: "n6@b", timestamp: now))
        #expect(full.status == 503, "\(full.json)")
        #expect(full.json["serviceUnavailable"] != nil)
        // Known backends still report.
        #expect(
            try api.send("POST", capabilitiesURL, json: SchedulerRoleTests.report(host: "n1@b", timestamp: now)).status
                == 204)
        #expect(poolNames(try api.get(schedulerBase + "/v3/scheduler-stats/get_pools").json).count == 3)
        #expect(scheduler.waitForOutput(timeout: 10) { _, err in err.contains("the scheduler's store is full") })
        #expect(
            scheduler.stderr.components(separatedBy: "the scheduler's store is full").count == 2, "\(scheduler.stderr)")
    }
}
