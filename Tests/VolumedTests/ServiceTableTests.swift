import Testing
import VolumeService

/// `volumed services` renders what the API returned; the fetch itself is covered end to end.
@Suite struct ServiceTableTests {
    @Test func rendersServicesAndDrivers() throws {
        let services = #"{"services": [{"binary": "cinder-volume", "host": "n1@gold", "zone": "nova", "status": "enabled", "state": "up", "updated_at": "2026-11-24T17:40:00.000000", "backend_state": "down"}]}"#
        let drivers = #"{"drivers": [{"id": "gold", "volume_driver": "nfs", "state": "retrying", "reinit_attempts": 2, "reinit_limit": 3, "next_reinit_at": "2026-11-24T17:41:00Z", "last_error": {"class": "recoverable", "kind": "backend_unavailable", "message": "mount point missing"}}]}"#
        let text = try ServiceTable.render(servicesJSON: Array(services.utf8), driversJSON: Array(drivers.utf8))
        #expect(text.contains("| cinder-volume | n1@gold | nova | enabled | up    | 2026-11-24T17:40:00.000000 | down          |"), "\(text)")
        #expect(text.contains("| gold   | nfs           | retrying | 2/3             | 2026-11-24T17:41:00Z | backend_unavailable: mount point missing |"), "\(text)")
    }

    @Test func rejectsDocumentsWithoutTheirList() {
        #expect(throws: ServiceTable.Failure.self) {
            try ServiceTable.render(servicesJSON: Array(#"{"nope": []}"#.utf8), driversJSON: Array(#"{"drivers": []}"#.utf8))
        }
    }
}
