import Foundation
import SharedTestSupport
import Testing
import VolumeService

/// `volumed services` renders what the API returned; the fetch itself is covered end to end.
@Suite(.offCooperativePool) struct ServiceTableTests {
    @Test func rendersServicesAndDrivers() throws {
        let services =
            #"{"services": [{"binary": "cinder-volume", "host": "n1@gold", "zone": "nova", "status": "enabled", "state": "up", "updated_at": "2026-11-24T17:40:00.000000", "backend_state": "down"}]}"#
        let drivers =
            #"{"drivers": [{"id": "gold", "volume_driver": "nfs", "state": "retrying", "reinit_attempts": 2, "reinit_limit": 3, "next_reinit_at": "2026-11-24T17:41:00Z", "last_error": {"class": "recoverable", "kind": "backend_unavailable", "message": "mount point missing"}}]}"#
        let text = try ServiceTable.render(servicesJSON: Array(services.utf8), driversJSON: Array(drivers.utf8))
        #expect(
            text.contains(
                "| cinder-volume | n1@gold | nova | enabled | up    | 2026-11-24T17:40:00.000000 | down          | -               |"
            ), "\(text)")
        #expect(
            text.contains(
                "| gold   | nfs           | retrying | 2/3             | 2026-11-24T17:41:00Z | backend_unavailable: mount point missing |"
            ), "\(text)")
    }

    /// `cinder service-list` shows why a service is disabled; a driver's multi-line error stays in
    /// its row, and a cut is marked.
    @Test func showsDisabledReasonsAndKeepsRowsOneLine() throws {
        let services =
            #"{"services": [{"binary": "cinder-volume", "host": "n1@gold", "zone": "nova", "status": "disabled", "state": "up", "updated_at": "2026-11-24T17:40:00.000000", "backend_state": "up", "disabled_reason": "firmware upgrade"}]}"#
        let long = String(repeating: "x", count: 100)
        let drivers =
            #"{"drivers": [{"id": "lvm-1", "volume_driver": "lvm", "state": "exhausted", "reinit_attempts": 3, "reinit_limit": 3, "next_reinit_at": null, "last_error": {"class": "recoverable", "kind": "backend_unavailable", "message": "vgs failed:\n  Volume group not found\n"}}, {"id": "lvm-2", "volume_driver": "lvm", "state": "ready", "reinit_attempts": 0, "reinit_limit": 0, "next_reinit_at": null, "last_error": {"class": "recoverable", "kind": "other", "message": "\#(long)"}}]}"#
        let text = try ServiceTable.render(servicesJSON: Array(services.utf8), driversJSON: Array(drivers.utf8))
        #expect(
            text.contains("| disabled | up    | 2026-11-24T17:40:00.000000 | up            | firmware upgrade |"),
            "\(text)")
        #expect(
            text.contains(
                "| lvm-1  | lvm           | exhausted | 3/3             | -              | backend_unavailable: vgs failed: Volume group not found   "
            ), "\(text)")
        #expect(text.contains("| other: " + String(repeating: "x", count: 70) + "... |"), "\(text)")
        let widths = Set(text.split(separator: "\n").filter { $0.hasPrefix("|") && $0.contains("lvm") }.map(\.count))
        #expect(widths.count == 1, "every driver row has the table's width: \(text)")
    }

    /// A `disabled_reason` (anyone with write access sets it) or a driver id carrying terminal escape
    /// sequences is shown with them escaped, never sent to the operator's terminal raw.
    @Test func controlCharactersFromTheServerAreShownEscaped() throws {
        let services =
            #"{"services": [{"binary": "cinder-volume", "host": "n1@gold", "zone": "nova", "status": "disabled", "state": "up", "updated_at": null, "backend_state": "up", "disabled_reason": "\u001b]0;owned\u0007\u001b[2J\u009b31mred\u007f\u202egnp.exe\u0000"}]}"#
        let drivers =
            #"{"drivers": [{"id": "gold\u001b[8m", "volume_driver": "nfs", "state": "ready", "reinit_attempts": 0, "reinit_limit": 3, "next_reinit_at": null, "last_error": null}]}"#
        let text = try ServiceTable.render(servicesJSON: Array(services.utf8), driversJSON: Array(drivers.utf8))
        let raw = text.unicodeScalars.filter {
            ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) || $0.value == 0x202E
        }
        #expect(raw.isEmpty, "\(raw.map { String($0.value, radix: 16) })")
        #expect(text.contains(#"| \e]0;owned\x07\e[2J\x9b31mred\x7f\u{202e}gnp.exe\x00 |"#), "\(text)")
        #expect(text.contains(#"| gold\e[8m | nfs "#), "\(text)")
    }

    @Test func rejectsDocumentsWithoutTheirList() {
        let missing = #expect(throws: ServiceTable.Failure.missingList(document: "services")) {
            try ServiceTable.render(
                servicesJSON: Array(#"{"nope": []}"#.utf8), driversJSON: Array(#"{"drivers": []}"#.utf8))
        }
        #expect(missing?.description == #"the services document has no "services" list"#)
        let notObject = #expect(throws: ServiceTable.Failure.notAnObject(document: "drivers")) {
            try ServiceTable.render(servicesJSON: Array(#"{"services": []}"#.utf8), driversJSON: Array("[]".utf8))
        }
        #expect(notObject?.description == "the drivers document is not a JSON object")
        let broken = #expect(throws: ServiceTable.Failure.self) {
            try ServiceTable.render(servicesJSON: Array("{".utf8), driversJSON: Array("{}".utf8))
        }
        guard case .notJSON(let document, let syntax)? = broken else {
            Issue.record("expected notJSON, got \(String(describing: broken))")
            return
        }
        #expect(document == "services")
        #expect(broken?.description == "the services document is not valid JSON: \(syntax)")
    }

    @Test func servicesSaysWhereItLookedWhenNothingAnswers() throws {
        let port = try #require(Loopback.reservePort())
        let services = try VolumedProcess(["services", "--url", "http://127.0.0.1:\(port)"])
        #expect(services.waitForExit() == 1)
        #expect(
            services.stderr.hasPrefix("volumed services: cannot reach http://127.0.0.1:\(port)/v3/services: "),
            "\(services.stderr)")
        #expect(
            services.stderr.contains("is `volumed serve` running there? (give its address with --url)"),
            "\(services.stderr)")
        let bad = try VolumedProcess(["services", "--url", "127.0.0.1:8776"])
        #expect(bad.waitForExit() == 64)
        #expect(bad.stderr.contains("--url: expected an http:// or https:// address"), "\(bad.stderr)")
    }
}
