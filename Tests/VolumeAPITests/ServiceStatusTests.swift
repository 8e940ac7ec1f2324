import Foundation
import ServiceDecisions
import SharedTestSupport
import Supervision
import Synchronization
import Testing
import VolumeAPI
import VolumeService

@Suite("os-services enable / disable", .offCooperativePool)
struct ServiceStatusTests {
    @Test("disable, disable-log-reason and enable answer like Cinder and change the listing")
    func roundTrip() throws {
        let recorder = RecordingPublisher()
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30, publisher: recorder)
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "ready"))

        let disabled = try harness.send(
            "PUT", "/v3/os-services/disable",
            json: #"{"host": "node1@nfs-gold", "binary": "cinder-volume"}"#)
        #expect(disabled.status == 200)
        #expect(disabled.json.count == 5)
        #expect(disabled.json["disabled"] as? Bool == true)
        #expect(disabled.json["status"] as? String == "disabled")
        #expect(disabled.json["host"] as? String == "node1@nfs-gold")
        #expect(disabled.json["binary"] as? String == "cinder-volume")
        #expect(disabled.json["service"] as? String == "")

        let reason = try harness.send(
            "PUT", "/v3/os-services/disable-log-reason",
            json: #"{"host": "node1@nfs-gold", "binary": "cinder-volume", "disabled_reason": "array firmware upgrade"}"#
        )
        #expect(reason.status == 200)
        #expect(reason.json.count == 6)
        #expect(reason.json["disabled_reason"] as? String == "array firmware upgrade")
        let listed = try #require(services(try harness.get("/v3/os-services")).first)
        #expect(listed["status"] as? String == "disabled")
        #expect(listed["disabled_reason"] as? String == "array firmware upgrade")
        // Still supervised, and the scheduler was told at once.
        #expect(try harness.driverState("nfs-gold") == "ready")
        #expect(waitUntil { recorder.reports.last?.adminState.disabled == true })

        let enabled = try harness.send(
            "PUT", "/v3/8c0e/os-services/enable",
            json: #"{"host": "node1@nfs-gold", "binary": "cinder-volume"}"#)
        #expect(enabled.status == 200)
        #expect(enabled.json["disabled"] as? Bool == false)
        #expect(enabled.json["status"] as? String == "enabled")
        let relisted = try #require(services(try harness.get("/v3/os-services")).first)
        #expect(relisted["status"] as? String == "enabled")
        #expect(relisted["disabled_reason"] is NSNull)

        // The last decision is what the state file holds: enabled is the default, so nothing is kept.
        #expect(harness.savedState.contains(#""services": []"#), "\(harness.savedState)")
        #expect(harness.decisions.all.isEmpty)
    }

    @Test("each acknowledged decision is in the state file before its answer")
    func durableBeforeAnswer() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        let reason = try harness.send(
            "PUT", "/v3/os-services/disable-log-reason",
            json: #"{"host": "node1@nfs-gold", "binary": "cinder-volume", "disabled_reason": "firmware"}"#)
        #expect(reason.status == 200)
        let saved = harness.savedState
        #expect(
            saved.contains(#""host": "node1@nfs-gold""#) && saved.contains(#""disabled_reason": "firmware""#),
            "\(saved)")
        #expect(
            try ServiceStateFile(directory: harness.stateDirectory).load(host: "node1")
                == [
                    ServiceKey.volume(host: "node1", backend: "nfs-gold"): AdminState(
                        disabled: true, disabledReason: "firmware")
                ])
    }

    @Test("the deprecated 'service' key names the binary when 'binary' is absent, and is echoed")
    func serviceKey() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        let response = try harness.send(
            "PUT", "/v3/os-services/disable", json: #"{"host": "node1@nfs-gold", "service": "cinder-volume"}"#)
        #expect(response.status == 200)
        #expect(response.json["service"] as? String == "cinder-volume")
        #expect(response.json["binary"] as? String == "")
    }

    @Test(
        "bad requests answer 400 naming the problem",
        arguments: [
            ("disable", #"{"binary": "cinder-volume"}"#, "Missing required element 'host' in request body."),
            (
                "disable", #"{"host": 5, "binary": "cinder-volume"}"#,
                "Invalid element 'host': a string is required, got a number."
            ),
            ("disable", #"{"host": "node1@nfs-gold"}"#, "Missing required element 'binary' in request body."),
            (
                "disable-log-reason", #"{"host": "node1@nfs-gold", "binary": "cinder-volume"}"#,
                "Missing required element 'disabled_reason' in request body."
            ),
            (
                "disable-log-reason", #"{"host": "node1@nfs-gold", "binary": "cinder-volume", "disabled_reason": ""}"#,
                "Invalid element 'disabled_reason': it must be 1 to 255 characters long, got 0."
            ),
            (
                "disable-log-reason",
                #"{"host": "node1@nfs-gold", "binary": "cinder-volume", "disabled_reason": "   "}"#,
                "Invalid element 'disabled_reason': it must not be only spaces."
            ),
            (
                "disable-log-reason",
                #"{"host": "node1@nfs-gold", "binary": "cinder-volume", "disabled_reason": true}"#,
                "Invalid element 'disabled_reason': a string is required, got a boolean."
            ),
            ("disable", #"["host"]"#, "Malformed request body: a JSON object is required, got an array."),
            ("disable", "", "The request body is empty; a JSON object is required."),
        ])
    func badRequests(action: String, body: String, message: String) throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        let response = try harness.send("PUT", "/v3/os-services/\(action)", json: body)
        #expect(response.status == 400)
        #expect(fault(response)?.name == "badRequest")
        #expect(fault(response)?.code == 400)
        #expect(fault(response)?.message == message)
        #expect(services(try harness.get("/v3/os-services")).first?["status"] as? String == "enabled")
    }

    @Test("malformed JSON answers 400 saying where it broke")
    func malformedJSON() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        let response = try harness.send("PUT", "/v3/os-services/disable", json: #"{"host": "#)
        #expect(response.status == 400)
        #expect(fault(response)?.message.hasPrefix("Malformed request body: not valid JSON") == true)
    }

    @Test("a reason of 255 characters is accepted, 256 is not")
    func reasonLength() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        let longest = String(repeating: "é", count: 255)
        let ok = try harness.send(
            "PUT", "/v3/os-services/disable-log-reason",
            json: #"{"host": "node1@nfs-gold", "binary": "cinder-volume", "disabled_reason": "\#(longest)"}"#)
        #expect(ok.status == 200)
        #expect(ok.json["disabled_reason"] as? String == longest)
        let tooLong = try harness.send(
            "PUT", "/v3/os-services/disable-log-reason",
            json: #"{"host": "node1@nfs-gold", "binary": "cinder-volume", "disabled_reason": "\#(longest)x"}"#)
        #expect(tooLong.status == 400)
        #expect(
            fault(tooLong)?.message
                == "Invalid element 'disabled_reason': it must be 1 to 255 characters long, got 256.")
    }

    @Test(
        "'only spaces' is judged per code point: a space with a combining mark is a reason, ideographic spaces are not")
    func reasonWhitespacePerCodePoint() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        // One Swift Character that Character.isWhitespace calls whitespace, but U+0301 is not White_Space.
        let marked = " \u{301}"
        let ok = try harness.send(
            "PUT", "/v3/os-services/disable-log-reason",
            json: #"{"host": "node1@nfs-gold", "binary": "cinder-volume", "disabled_reason": "\#(marked)"}"#)
        #expect(ok.status == 200)
        #expect(ok.json["disabled_reason"] as? String == marked)
        let spaces = try harness.send(
            "PUT", "/v3/os-services/disable-log-reason",
            json: #"{"host": "node1@nfs-gold", "binary": "cinder-volume", "disabled_reason": "\u3000\u2028\t\u0085"}"#)
        #expect(spaces.status == 400)
        #expect(fault(spaces)?.message == "Invalid element 'disabled_reason': it must not be only spaces.")
    }

    @Test(
        "unknown services answer 404",
        arguments: [
            #"{"host": "node1@ghost", "binary": "cinder-volume"}"#,
            #"{"host": "node1@nfs-gold", "binary": "cinder-backup"}"#,
            #"{"host": "nfs-gold", "binary": "cinder-volume"}"#,
        ])
    func unknownService(body: String) throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        let response = try harness.send("PUT", "/v3/os-services/disable", json: body)
        #expect(response.status == 404)
        #expect(fault(response)?.name == "itemNotFound")
        #expect(harness.decisions.all.isEmpty && harness.savedState.isEmpty)
    }
}

/// The state file, held up in `commit` until the test opens the gate: a disk that takes its time.
final class SlowDisk: OperatorDecisionStore, @unchecked Sendable {
    let file: ServiceStateFile
    let gate = Gate()
    let commits = Recorder<ServiceKey>()

    init(_ file: ServiceStateFile) {
        self.file = file
    }

    var location: String { file.location }
    func load(host: String) throws(DecisionStoreError) -> [ServiceKey: AdminState] { try file.load(host: host) }
    func checkWritable() throws(DecisionStoreError) { try file.checkWritable() }
    func commit(_ status: AdminState, for key: ServiceKey, all: [ServiceKey: AdminState])
        throws(DecisionStoreError)
    {
        commits.append(key)
        gate.wait()
        try file.commit(status, for: key, all: all)
    }
}

@Suite("os-services decisions and the event loop", .offCooperativePool)
struct DecisionWriterTests {
    /// With one event loop, a decision whose disk write hangs must not hold up other requests: the
    /// write runs on the decisions' writer and the PUT is answered through a deferred response
    /// once it is durable (it used to be written on the loop, under a lock).
    @Test("a slow state-file write holds up only its own answer")
    func slowDiskDoesNotBlockTheLoop() throws {
        let disk = Mutex<SlowDisk?>(nil)
        let harness = try APIHarness(
            [TestBackend("nfs-gold")], tick: 30,
            decisionStore: { file in
                let slow = SlowDisk(file)
                disk.withLock { $0 = slow }
                return slow
            })
        defer { harness.stop() }
        let slow = try #require(disk.withLock { $0 })
        defer { slow.gate.release() }
        let answer = Mutex<RawResponse?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let response = try? harness.send(
                "PUT", "/v3/os-services/disable", json: #"{"host": "node1@nfs-gold", "binary": "cinder-volume"}"#)
            answer.withLock { $0 = response }
            done.signal()
        }
        #expect(waitUntil { slow.commits.values.count == 1 })
        // The loop still serves while the write hangs, and the decision is not applied yet.
        #expect(try harness.get("/healthz").status == 200)
        #expect(services(try harness.get("/v3/os-services")).first?["status"] as? String == "enabled")
        #expect(answer.withLock { $0 } == nil)
        slow.gate.release()
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(answer.withLock { $0 }?.status == 200)
        #expect(services(try harness.get("/v3/os-services")).first?["status"] as? String == "disabled")
    }
}
