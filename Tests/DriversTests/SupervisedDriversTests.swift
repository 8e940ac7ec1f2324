import Config
import Foundation
import Logging
import SharedTestSupport
import Supervision
import Testing

@testable import Drivers

/// Drivers built from a configuration file, run by the real supervisor: the path the service takes.
@Suite(.offCooperativePool) struct SupervisedDriversTests {
    struct AcceptingPublisher: CapabilityPublisher {
        func publishServiceCapabilities(_ reports: [BackendReport]) throws -> PublishOutcome { .allAccepted }
    }

    @Test func aMissingShareRecoversAndBrokenSectionsStayFailed() throws {
        let directory = try TemporaryDirectory()
        let share = directory.path + "/share"
        _ = try directory.write("shares", share + "\n")
        let configuration = try configuration(
            """
            [DEFAULT]
            host = testnode
            enabled_backends = nfs-1, lvm-1, rest-1
            backend_stats_polling_interval = 0.1
            reinit_driver_count = 0
            reinit_backoff_max = 0.3
            driver_init_timeout = 20
            [nfs-1]
            volume_driver = nfs
            nfs_shares_config = shares
            [lvm-1]
            volume_driver = lvm
            [rest-1]
            volume_driver = rest
            san_api_url = http://127.0.0.1:9/api
            """, in: directory)
        let set = try SupervisorSet(
            settings: ServiceSettings(configuration.service), publisher: AcceptingPublisher(),
            logger: Logger(label: "test"))
        for backend in configuration.backends {
            try set.addBackend(DriverFactory.makeBackendDefinition(for: backend, service: configuration.service))
        }
        set.start()
        defer { set.stop() }

        #expect(waitUntil { set.snapshot().backend(id: "nfs-1")?.state == .retrying })
        let waiting = try #require(set.snapshot().backend(id: "nfs-1"))
        #expect(waiting.host == "testnode@nfs-1")
        #expect(waiting.lastError?.kind == .backendUnavailable)
        #expect(waiting.lastError?.message == "no usable share: \(share): mount point \(share) does not exist")

        #expect(waitUntil { set.snapshot().backend(id: "lvm-1")?.state == .failed })
        #expect(set.snapshot().backend(id: "lvm-1")?.lastError?.kind == .configError)
        #expect(
            set.snapshot().backend(id: "lvm-1")?.lastError?.message
                == "\(directory.path)/volumed.conf:11: lvm-1.volume_group: required option is not set")
        #expect(waitUntil { set.snapshot().backend(id: "rest-1")?.state == .failed })
        #expect(set.snapshot().backend(id: "rest-1")?.lastError?.kind == .driverNotSupported)

        _ = try directory.makeDirectory("share")
        #expect(waitUntil { set.snapshot().backend(id: "nfs-1")?.capabilities != nil })
        let ready = try #require(set.snapshot().backend(id: "nfs-1"))
        #expect(ready.state == .ready)
        #expect(ready.capabilities?.storageProtocol == "nfs")
        #expect(ready.capabilities?.pools.map(\.poolName) == [share])
        #expect(set.snapshot().backend(id: "lvm-1")?.state == .failed)
    }
}
