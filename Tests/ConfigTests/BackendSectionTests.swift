import Testing

@testable import Config

@Suite struct BackendSectionTests {
    let text = """
        [DEFAULT]
        host = node1
        enabled_backends = nfs-1, lvm-1, rest-1
        reinit_driver_count = 5
        driver_init_timeout = 30

        [backend_defaults]
        enable_unsupported_driver = true
        reinit_backoff_max = 120
        nfs_mount_point_base = /mnt/shares

        [nfs-1]
        volume_driver = nfs
        nfs_shares_config = shares.txt
        reinit_driver_count = 0

        [lvm-1]
        volume_driver = cinder.volume.drivers.lvm.LVMVolumeDriver
        volume_backend_name = fast
        enable_unsupported_driver = false
        volume_group = vg0
        nfs_mount_point_base = /elsewhere

        [REST-1]
        volume_driver = rest
        """

    @Test func inheritsSectionOverBackendDefaultsOverDefault() throws {
        let configuration = try ConfigFile.parse(text: text, fileName: "/etc/volumed/volumed.conf")
        #expect(configuration.backends.map(\.name) == ["nfs-1", "lvm-1", "rest-1"])
        #expect(configuration.backends.filter { !$0.isValid }.isEmpty)

        let nfs = try #require(configuration.backend(named: "nfs-1"))
        #expect(nfs.host(in: configuration.service) == "node1@nfs-1")
        #expect(nfs.volumeDriver?.text == "nfs")
        #expect(nfs.volumeBackendName == "nfs-1")
        #expect(nfs.reinitDriverCount == 0)
        #expect(nfs.reinitBackoffMax == 120)
        #expect(nfs.driverInitTimeout == 30)
        #expect(nfs.enableUnsupportedDriver == true)
        #expect(nfs.header == SourceLocation(fileName: "/etc/volumed/volumed.conf", line: 12))
        #expect(nfs.driverOptions.keys.sorted() == ["nfs_mount_point_base", "nfs_shares_config"])
        #expect(nfs.driverOptions["nfs_mount_point_base"]?.section == "backend_defaults")
        #expect(try nfs.driverOptions["nfs_shares_config"]?.path() == "/etc/volumed/shares.txt")

        let lvm = try #require(configuration.backend(named: "lvm-1"))
        #expect(lvm.volumeDriver?.text == "cinder.volume.drivers.lvm.LVMVolumeDriver")
        #expect(lvm.volumeBackendName == "fast")
        #expect(lvm.reinitDriverCount == 5)
        #expect(lvm.enableUnsupportedDriver == false)
        #expect(lvm.driverOptions["nfs_mount_point_base"]?.text == "/elsewhere")
        #expect(lvm.driverOptions["nfs_mount_point_base"]?.section == "lvm-1")
        #expect(lvm.driverOptions["volume_group"]?.location.line == 21)

        let rest = try #require(configuration.backend(named: "rest-1"))
        #expect(rest.header?.line == 24)
        #expect(rest.volumeDriver?.text == "rest")
    }

    @Test func aBrokenBackendSectionFailsOnlyThatBackend() throws {
        let configuration = try ConfigFile.parse(
            text: """
                [DEFAULT]
                enabled_backends = good, nodriver, badvalues, missing
                [backend_defaults]
                driver_init_timeout = never
                [good]
                volume_driver = nfs
                driver_init_timeout = 5
                [nodriver]
                volume_backend_name = x
                [badvalues]
                volume_driver = lvm
                reinit_driver_count = -2
                enable_unsupported_driver = sure
                not an assignment
                """, fileName: "volumed.conf")
        #expect(configuration.problems == [])
        #expect(configuration.backend(named: "good")?.problems == [])
        #expect(configuration.backend(named: "good")?.driverInitTimeout == 5)
        #expect(
            configuration.backend(named: "nodriver")?.problems.map(\.description) == [
                #"volumed.conf:4: backend_defaults.driver_init_timeout: expected a number of seconds > 0, got "never""#,
                "volumed.conf:8: nodriver.volume_driver: required option is not set",
            ])
        let bad = try #require(configuration.backend(named: "badvalues"))
        #expect(
            bad.problems.map(\.description) == [
                #"volumed.conf:14: expected 'option = value', got "not an assignment""#,
                #"volumed.conf:12: badvalues.reinit_driver_count: expected a whole number >= 0, got "-2""#,
                #"volumed.conf:4: backend_defaults.driver_init_timeout: expected a number of seconds > 0, got "never""#,
                #"volumed.conf:13: badvalues.enable_unsupported_driver: expected a boolean (true/false, yes/no, on/off, 1/0), got "sure""#,
            ])
        #expect(bad.reinitDriverCount == 3)
        #expect(
            configuration.backend(named: "missing")?.problems.map(\.description) == [
                #"volumed.conf:4: backend_defaults.driver_init_timeout: expected a number of seconds > 0, got "never""#,
                #"volumed.conf:2: enabled_backends: backend "missing" has no [missing] section: add one with volume_driver, or remove missing from enabled_backends"#,
            ])
        #expect(configuration.allProblems.count == 6)
    }

    @Test func checkConfigSeesBackendProblemsEvenWhenDefaultIsBroken() {
        let configuration = ConfigFile.inspect(
            text: """
                [DEFAULT]
                enabled_backends = a
                service_down_time = x
                [a]
                """, fileName: "volumed.conf")
        #expect(
            configuration.allProblems.map(\.description) == [
                #"volumed.conf:3: service_down_time: expected a number of seconds > 0, got "x""#,
                "volumed.conf:4: a.volume_driver: required option is not set",
            ])
    }
}
