import Config
import Foundation
import SharedTestSupport
import Supervision
import Testing

@testable import Drivers

@Suite(.offCooperativePool) struct DriverFactoryTests {
    @Test(arguments: [
        ("nfs", DriverKind.nfs), ("NFS", .nfs), ("cinder.volume.drivers.nfs.NfsDriver", .nfs),
        ("volumed.drivers.nfs.NfsDriver", .nfs), ("lvm", .lvm), ("cinder.volume.drivers.lvm.LVMVolumeDriver", .lvm),
        ("volumed.drivers.lvm.LVMVolumeDriver", .lvm), ("rest", .rest), ("REST", .rest),
        ("volumed.drivers.rest.RestArrayDriver", .rest),
    ])
    func resolvesShortNamesAndClassPaths(_ name: String, _ kind: DriverKind) {
        #expect(DriverKind(volumeDriver: name) == kind)
    }

    @Test func classPathsAreCaseSensitive() {
        #expect(DriverKind(volumeDriver: "cinder.volume.drivers.lvm.lvmvolumedriver") == nil)
        #expect(DriverKind(volumeDriver: "cinder.volume.drivers.netapp.common.NetAppDriver") == nil)
    }

    @Test func buildsTypedDriversFromSections() throws {
        let directory = try TemporaryDirectory()
        let configuration = try configuration(
            """
            [DEFAULT]
            enabled_backends = nfs-1, lvm-1
            state_path = state
            [nfs-1]
            volume_driver = cinder.volume.drivers.nfs.NfsDriver
            volume_backend_name = gold
            nfs_shares_config = shares
            reserved_percentage = 5
            [lvm-1]
            volume_driver = lvm
            volume_group = cinder-volumes
            lvm_tools_path = /opt/lvm/sbin:/sbin
            lvm_tool_timeout = 2.5
            """, in: directory)
        let nfs = try #require(
            DriverFactory.makeDriver(for: configuration.backends[0], service: configuration.service) as? NfsDriver)
        #expect(nfs.volumeDriverName == "cinder.volume.drivers.nfs.NfsDriver")
        #expect(nfs.supported)
        #expect(nfs.options.volumeBackendName == "gold")
        #expect(nfs.options.sharesConfig == directory.path + "/shares")
        #expect(nfs.options.mountPointBase == directory.path + "/state/mnt")
        #expect(nfs.options.pool.reservedPercentage == 5)

        let lvm = try #require(
            DriverFactory.makeDriver(for: configuration.backends[1], service: configuration.service) as? LvmDriver)
        #expect(lvm.volumeDriverName == "lvm")
        #expect(
            lvm.options
                == {
                    var options = LvmDriver.Options(
                        volumeBackendName: "lvm-1", volumeGroup: "cinder-volumes",
                        toolSearchPath: ["/opt/lvm/sbin", "/sbin"], toolTimeout: 2.5)
                    options.pool = CommonPoolOptions()
                    return options
                }())
    }

    @Test func lvmTypeSelectsThinOrThick() throws {
        let directory = try TemporaryDirectory()
        let configuration = try configuration(
            """
            [DEFAULT]
            enabled_backends = thin, thick, auto
            [backend_defaults]
            volume_driver = lvm
            volume_group = vg0
            [thin]
            lvm_type = thin
            [thick]
            lvm_type = default
            [auto]
            lvm_type = auto
            """, in: directory)
        let service = configuration.service
        #expect(
            (DriverFactory.makeDriver(for: configuration.backends[0], service: service) as? LvmDriver)?.options.thin
                == true)
        #expect(
            (DriverFactory.makeDriver(for: configuration.backends[1], service: service) as? LvmDriver)?.options.thin
                == false)
        #expect(
            (DriverFactory.makeDriver(for: configuration.backends[2], service: service) as? InvalidBackendDriver)?.error
                == DriverError(
                    .configError,
                    "\(directory.path)/volumed.conf:11: auto.lvm_type: auto is not supported by volumed: "
                        + "choose default (thick) or thin"))
    }

    @Test func unknownDriverIsDriverNotSupported() throws {
        let directory = try TemporaryDirectory()
        let configuration = try configuration(
            """
            [DEFAULT]
            enabled_backends = odd
            [odd]
            volume_driver = cinder.volume.drivers.netapp.common.NetAppDriver
            """, in: directory)
        let driver = try #require(
            DriverFactory.makeDriver(for: configuration.backends[0], service: configuration.service)
                as? InvalidBackendDriver)
        let expected =
            "\(directory.path)/volumed.conf:4: odd.volume_driver: unknown driver "
            + "\"cinder.volume.drivers.netapp.common.NetAppDriver\"; volumed knows nfs, cinder.volume.drivers.nfs.NfsDriver, "
            + "volumed.drivers.nfs.NfsDriver, lvm, cinder.volume.drivers.lvm.LVMVolumeDriver, volumed.drivers.lvm.LVMVolumeDriver"
            + DriverKind.allCases.dropFirst(2).map { ", " + $0.acceptedNames.joined(separator: ", ") }.joined()
        #expect(driver.error == DriverError(.driverNotSupported, expected))
        #expect(driver.volumeDriverName == "cinder.volume.drivers.netapp.common.NetAppDriver")
        #expect(driverError { try driver.doSetup() } == driver.error)
        #expect(driverError { _ = try driver.getVolumeStats() } == driver.error)
        #expect(driver.error.errorClass == .unrecoverable)
    }

    @Test func missingAndBadOptionsAreConfigErrorsNamingTheLine() throws {
        let directory = try TemporaryDirectory()
        let configuration = try configuration(
            """
            [DEFAULT]
            enabled_backends = nfs-1, lvm-1, broken
            [nfs-1]
            volume_driver = nfs
            nfs_sparsed_volumes = perhaps
            [lvm-1]
            volume_driver = lvm
            volume_group = -bad
            lvm_tools_path = relative/bin
            reserved_percentage = 101
            [broken]
            volume_driver = lvm
            reinit_driver_count = many
            """, in: directory)
        let file = directory.path + "/volumed.conf"
        let service = configuration.service

        let nfs = try #require(
            DriverFactory.makeDriver(for: configuration.backends[0], service: service) as? InvalidBackendDriver)
        #expect(
            nfs.error
                == DriverError(
                    .configError,
                    "\(file):3: nfs-1.nfs_shares_config: required option is not set; "
                        + "\(file):5: nfs-1.nfs_sparsed_volumes: expected a boolean (true/false, yes/no, on/off, 1/0), got \"perhaps\""
                ))
        #expect(nfs.volumeDriverName == "nfs")

        let lvm = try #require(
            DriverFactory.makeDriver(for: configuration.backends[1], service: service) as? InvalidBackendDriver)
        #expect(
            lvm.error
                == DriverError(
                    .configError,
                    "\(file):8: lvm-1.volume_group: expected a volume group name (letters, digits, + _ . -), got \"-bad\"; "
                        + "\(file):9: lvm-1.lvm_tools_path: expected absolute directories separated by ':', got \"relative/bin\"; "
                        + "\(file):10: lvm-1.reserved_percentage: expected a whole number in 0-100, got \"101\""))

        let broken = try #require(
            DriverFactory.makeDriver(for: configuration.backends[2], service: service) as? InvalidBackendDriver)
        #expect(
            broken.error
                == DriverError(
                    .configError,
                    "\(file):13: broken.reinit_driver_count: expected a whole number >= 0, got \"many\""))
    }

    @Test func validateListsEveryProblemWithoutTouchingStorage() throws {
        let directory = try TemporaryDirectory()
        let shares = try directory.write("shares", "not a share\n")
        let configuration = try configuration(
            """
            [DEFAULT]
            enabled_backends = nfs-1, lvm-1
            [backend_defaults]
            volume_clear = zero
            nfs_mount_point_base = /mnt
            [nfs-1]
            volume_driver = nfs
            nfs_shares_config = \(shares)
            target_helper = tgtadm
            [lvm-1]
            volume_driver = lvm
            volume_group = vg-does-not-matter
            lvm_tools_path = /nonexistent
            """, in: directory)
        let file = directory.path + "/volumed.conf"
        let results = DriverFactory.validate(configuration)
        #expect(
            results["nfs-1"]
                == BackendValidation(
                    errors: [
                        ConfigDiagnostic(
                            fileName: file, line: 8, subject: "nfs-1.nfs_shares_config",
                            message: "\(shares):1: \"not a share\" is neither host:/export nor an absolute path")
                    ],
                    warnings: [
                        ConfigDiagnostic(
                            fileName: file, line: 9, subject: "nfs-1.target_helper",
                            message: "unknown option for the nfs driver, ignored")
                    ]))
        #expect(results["lvm-1"] == BackendValidation(errors: [], warnings: []))
        #expect(
            DriverFactory.unknownSharedOptions(in: configuration).map(\.description) == [
                "\(file):4: backend_defaults.volume_clear: unknown option for every driver, ignored"
            ])
    }

    @Test func aFixedSectionProducesARealDriver() throws {
        let directory = try TemporaryDirectory()
        let broken = try configuration("[DEFAULT]\nenabled_backends = a\n[a]\nvolume_driver = lvm\n", in: directory)
        #expect(DriverFactory.makeDriver(for: broken.backends[0], service: broken.service) is InvalidBackendDriver)
        let fixed = try configuration(
            "[DEFAULT]\nenabled_backends = a\n[a]\nvolume_driver = lvm\nvolume_group = vg0\n", in: directory)
        #expect(DriverFactory.makeDriver(for: fixed.backends[0], service: fixed.service) is LvmDriver)
        #expect(ConfigDiff(from: broken, to: fixed).changedBackends == [.init(name: "a", options: ["volume_group"])])
    }
}

@Suite(.offCooperativePool) struct ConfigurationCheckTests {
    @Test func listsEveryProblemOfTheFileOnce() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write(
            "volumed.conf",
            """
            [DEFAULT]
            enabled_backends = nfs-1, lvm-1, lvm-2
            service_down_time = soon
            debug = true
            [backend_defaults]
            reinit_driver_count = x
            [nfs-1]
            volume_driver = nfs
            [lvm-1]
            volume_driver = lvm
            volume_group = vg0
            [lvm-2]
            volume_driver = lvm2
            """)
        let check = ConfigurationCheck(path: path)
        #expect(check.isValid == false)
        #expect(
            check.errors.map(\.description).dropLast() == [
                "\(path):3: service_down_time: expected a number of seconds > 0, got \"soon\"",
                "\(path):6: backend_defaults.reinit_driver_count: expected a whole number >= 0, got \"x\"",
                "\(path):7: nfs-1.nfs_shares_config: required option is not set",
            ])
        #expect(
            check.errors.last?.description.hasPrefix(
                "\(path):13: lvm-2.volume_driver: unknown driver \"lvm2\"; did you mean lvm? volumed knows nfs,")
                == true)
        #expect(check.warnings.map(\.description) == ["\(path):4: debug: unknown option, ignored"])
    }

    @Test func aGoodFileHasNoErrors() throws {
        let directory = try TemporaryDirectory()
        _ = try directory.write("shares", "/srv/share\n")
        let path = try directory.write(
            "volumed.conf",
            """
            [DEFAULT]
            enabled_backends = nfs-1, lvm-1
            [nfs-1]
            volume_driver = nfs
            nfs_shares_config = shares
            [lvm-1]
            volume_driver = lvm
            volume_group = vg0
            """)
        let check = ConfigurationCheck(path: path)
        #expect(check.errors == [])
        #expect(check.warnings == [])
        #expect(check.isValid)
    }
}

@Suite(.offCooperativePool) struct SupervisionMappingTests {
    @Test func sectionsBecomeBackendDefinitions() throws {
        let directory = try TemporaryDirectory()
        let configuration = try configuration(
            """
            [DEFAULT]
            host = node9
            enabled_backends = lvm-1, broken
            backend_stats_polling_interval = 2.5
            driver_stats_timeout = 7
            [backend_defaults]
            reinit_backoff_max = 40
            [lvm-1]
            volume_driver = lvm
            volume_group = vg0
            volume_backend_name = fast
            reinit_driver_count = 0
            driver_init_timeout = 9
            enable_unsupported_driver = true
            [broken]
            volume_driver = lvm
            """, in: directory)
        let lvm = DriverFactory.makeBackendDefinition(for: configuration.backends[0], service: configuration.service)
        #expect(lvm.id == "lvm-1")
        #expect(lvm.volumeBackendName == "fast")
        #expect(lvm.driver is LvmDriver)
        #expect(
            lvm.settings
                == BackendSettings(
                    reinitDriverCount: 0, driverInitTimeout: 9, statsTimeout: 7,
                    enableUnsupportedDriver: true, reinitBackoffMax: 40))
        #expect(throws: Never.self) { try lvm.settings.validate() }

        let broken = DriverFactory.makeBackendDefinition(for: configuration.backends[1], service: configuration.service)
        #expect(broken.driver is InvalidBackendDriver)
        #expect(
            broken.settings
                == BackendSettings(
                    reinitDriverCount: 3, driverInitTimeout: 60, statsTimeout: 7,
                    enableUnsupportedDriver: false, reinitBackoffMax: 40))

        let service = ServiceSettings(configuration.service)
        #expect(service == ServiceSettings(host: "node9", backendStatsPollingInterval: 2.5))
    }
}

@Suite(.offCooperativePool) struct NfsValidationTests {
    @Test func mountOptionsAreAcceptedButWarnedAbout() throws {
        let directory = try TemporaryDirectory()
        _ = try directory.write("shares", "host:/export\n")
        let configuration = try configuration(
            """
            [DEFAULT]
            enabled_backends = n
            [n]
            volume_driver = nfs
            nfs_shares_config = shares
            nfs_mount_options = vers=4.1
            """, in: directory)
        let validation = DriverFactory.validate(configuration.backends[0], service: configuration.service)
        #expect(validation.errors == [])
        #expect(
            validation.warnings.map(\.description) == [
                "\(directory.path)/volumed.conf:6: n.nfs_mount_options: ignored: volumed never mounts shares (mount them with systemd or autofs)"
            ])
        #expect(DriverFactory.makeDriver(for: configuration.backends[0], service: configuration.service) is NfsDriver)
    }
}
