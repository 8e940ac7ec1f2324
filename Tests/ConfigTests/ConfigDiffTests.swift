import Testing

@testable import Config

@Suite struct ConfigDiffTests {
    func load(_ text: String) throws -> ServiceConfiguration {
        try ConfigFile.parse(text: text, fileName: "/etc/volumed/volumed.conf")
    }

    let base = """
        [DEFAULT]
        host = node1
        enabled_backends = a, b, c
        [backend_defaults]
        nfs_mount_point_base = /mnt
        [a]
        volume_driver = nfs
        [b]
        volume_driver = lvm
        volume_group = vg0
        [c]
        volume_driver = rest
        """

    @Test func identicalFilesDiffEmptyEvenWhenLinesMove() throws {
        let moved = "# a new comment\n\n" + base
        let diff = ConfigDiff(from: try load(base), to: try load(moved))
        #expect(diff.isEmpty)
        #expect(diff.unchangedBackends == ["a", "b", "c"])
        #expect(diff.requiresRestart == false)
    }

    @Test func addedRemovedChangedAndInheritedChanges() throws {
        let edited = """
            [DEFAULT]
            host = node1
            enabled_backends = a, b, d
            reinit_driver_count = 1
            [backend_defaults]
            nfs_mount_point_base = /srv/mnt
            [a]
            volume_driver = nfs
            [b]
            volume_driver = lvm
            volume_group = vg0
            reinit_driver_count = 1
            [d]
            volume_driver = nfs
            """
        let diff = ConfigDiff(from: try load(base), to: try load(edited))
        #expect(diff.addedBackends == ["d"])
        #expect(diff.removedBackends == ["c"])
        #expect(
            diff.changedBackends == [
                .init(name: "a", options: ["nfs_mount_point_base", "reinit_driver_count"]),
                .init(name: "b", options: ["nfs_mount_point_base", "reinit_driver_count"]),
            ])
        #expect(diff.unchangedBackends == [])
        #expect(diff.liveOptions == ["reinit_driver_count"])
        #expect(diff.restartOptions == [])
    }

    @Test func fixingABrokenSectionIsAChange() throws {
        let broken = try load("[DEFAULT]\nenabled_backends = a\n[a]\nvolume_driver = nfs\nreinit_driver_count = x\n")
        let fixed = try load("[DEFAULT]\nenabled_backends = a\n[a]\nvolume_driver = nfs\nreinit_driver_count = 3\n")
        #expect(broken.backends[0].isValid == false)
        #expect(ConfigDiff(from: broken, to: fixed).changedBackends == [.init(name: "a", options: ["problems"])])
    }

    @Test func listenAddressNeedsARestartTokenDoesNot() throws {
        let before = try load("[DEFAULT]\nosapi_volume_listen_port = 8776\nadmin_token = a\n")
        let after = try load("[DEFAULT]\nosapi_volume_listen_port = 9999\nadmin_token = b\nhttp_max_headers = 10\n")
        let diff = ConfigDiff(from: before, to: after)
        #expect(diff.restartOptions == ["http_max_headers", "osapi_volume_listen_port"])
        #expect(diff.liveOptions == ["admin_token"])
        #expect(diff.requiresRestart)
    }
}
