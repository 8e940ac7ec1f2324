import Config
import Foundation
import SharedTestSupport
import Testing

@testable import Drivers

/// What `check-config` tells an operator about driver sections: the option a typo meant, and what
/// the problems would do to a running service.
@Suite(.offCooperativePool) struct ConfigurationCheckMessageTests {
    @Test func misspeltDriverOptionsNameTheOptionMeant() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write(
            "volumed.conf",
            """
            [DEFAULT]
            enabled_backends = lvm-1
            [backend_defaults]
            nfs_mount_piont_base = /mnt
            [lvm-1]
            volume_driver = lvm
            volume_gruop = cinder-volumes
            volume_backend_nmae = lvm
            """)
        let check = ConfigurationCheck(path: path)
        #expect(check.errors.map(\.description) == ["\(path):5: lvm-1.volume_group: required option is not set"])
        #expect(
            check.warnings.map(\.description) == [
                "\(path):7: lvm-1.volume_gruop: unknown option for the lvm driver, ignored (did you mean volume_group?)",
                "\(path):8: lvm-1.volume_backend_nmae: unknown option for the lvm driver, ignored (did you mean volume_backend_name?)",
                "\(path):4: backend_defaults.nfs_mount_piont_base: unknown option for every driver, ignored (did you mean nfs_mount_point_base?)",
            ])
        #expect(check.failingBackends == ["lvm-1"])
        #expect(
            check.summary == "\(path): 1 problem(s); volumed would start, but backend(s) lvm-1 would be failed "
                + "until the file is fixed and reloaded (SIGHUP)")
    }

    @Test func aBrokenDefaultSaysTheServiceWouldNotStart() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("volumed.conf", "[DEFAULT]\nreinit_driver_count = 3x\n")
        let check = ConfigurationCheck(path: path)
        #expect(
            check.errors.map(\.description) == [
                "\(path):2: reinit_driver_count: expected a whole number >= 0, got \"3x\""
            ])
        #expect(check.summary == "\(path): 1 problem(s); volumed would not start (exit 2)")
    }

    @Test func anUnknownDriverNamesTheClosestOne() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write(
            "volumed.conf",
            """
            [DEFAULT]
            enabled_backends = a
            [a]
            volume_driver = cinder.volume.drivers.nfs.NFSDriver
            """)
        let message = try #require(ConfigurationCheck(path: path).errors.first?.description)
        #expect(
            message.hasPrefix(
                "\(path):4: a.volume_driver: unknown driver \"cinder.volume.drivers.nfs.NFSDriver\"; "
                    + "did you mean cinder.volume.drivers.nfs.NfsDriver? volumed knows nfs, "), "\(message)")
    }
}
