import Coordination
import CurlClient
import Foundation
import Scheduler
import SharedTestSupport
import Supervision
import Testing

@testable import VolumeService

/// The volume service's errors are cases a caller can switch on, each with the text operators
/// have always read.
@Suite(.offCooperativePool) struct ServiceErrorTests {
    private static func report(_ host: String, capabilities: VolumeStats? = nil) -> BackendReport {
        BackendReport(
            backendID: "b", host: host, timestamp: Date(), backendState: capabilities == nil ? .down : .up,
            adminState: AdminState(), capabilities: capabilities)
    }

    private static let infiniteStats = VolumeStats(
        volumeBackendName: "b", vendorName: "v", driverVersion: "1", storageProtocol: "nfs",
        totalCapacityGB: .gib(.infinity), freeCapacityGB: .gib(1))

    @Test("creating a directory under a file, or writing where nothing exists, says which and why")
    func localFiles() throws {
        let directory = temporaryDirectory("local-files")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try LocalFiles.write("x", to: directory + "/file")
        let underFile = #expect(
            throws: LocalFiles.Failure.notADirectory(
                path: directory + "/file/sub", component: directory + "/file")
        ) {
            try LocalFiles.makeDirectories(directory + "/file/sub")
        }
        #expect(underFile?.description == "cannot create \(directory)/file/sub: \(directory)/file is not a directory")
        let nowhere = #expect(throws: LocalFiles.Failure.cannotWrite(path: directory + "/no/file", errno: ENOENT)) {
            try LocalFiles.write("x", to: directory + "/no/file")
        }
        #expect(nowhere?.description == "cannot write \(directory)/no/file: No such file or directory")
        #expect(
            LocalFiles.Failure.cannotCreate(path: "/proc/x", errno: ENOENT).description
                == "cannot create /proc/x: No such file or directory")
    }

    @Test("start-up failures keep their text and say which part failed")
    func startFailures() {
        let state = StartFailure.stateUnusable(LocalFiles.Failure.cannotCreate(path: "/s", errno: EACCES))
        #expect(state.description == "cannot create /s: Permission denied")
        let coordination = StartFailure.coordinationUnusable(EtcdError.badConfiguration("no endpoint"))
        #expect(coordination.description == "[coordination] backend_url: \(EtcdError.badConfiguration("no endpoint"))")
        guard case .coordinationUnusable(let cause) = coordination, cause is EtcdError else {
            Issue.record("expected coordinationUnusable carrying the EtcdError")
            return
        }
    }

    @Test("a scheduler that does not answer is an unreachable failure naming its URL")
    func curlPublisherUnreachable() throws {
        let port = try #require(Loopback.reservePort())
        let url = "http://127.0.0.1:\(port)/v3/scheduler/capabilities"
        let publisher = CurlCapabilityPublisher(
            url: { url }, client: try CurlClient(configuration: .init(connectTimeout: 2, totalTimeout: 5)),
            adminToken: nil)
        let failure = #expect(throws: CurlCapabilityPublisher.Failure.self) {
            try publisher.publishServiceCapabilities([Self.report("n1@b")])
        }
        guard case .unreachable(let failedURL, let error, let http2Hint)? = failure else {
            Issue.record("expected unreachable, got \(String(describing: failure))")
            return
        }
        #expect(failedURL == url)
        #expect(error.isConnectFailure)
        #expect(!http2Hint)
        #expect(failure?.description == "scheduler at \(url) unreachable: \(error)")
        #expect(
            CurlCapabilityPublisher.Failure.answered(url: "u", status: 503, excerpt: "busy").description
                == "scheduler at u answered 503: busy")
        #expect(
            CurlCapabilityPublisher.Failure.unencodable(.notFinite(name: "free_capacity_gb", value: .infinity))
                .description == "cannot encode the reports: free_capacity_gb is not a finite number: inf")
    }

    @Test("a batch the in-process scheduler cannot take says why, as a case")
    func inProcessPublisherUnencodable() throws {
        let publisher = InProcessCapabilityPublisher(store: CapabilityStore(serviceDownTime: 60))
        let failure = #expect(throws: InProcessCapabilityPublisher.Failure.self) {
            try publisher.publishServiceCapabilities([Self.report("n1@b", capabilities: Self.infiniteStats)])
        }
        #expect(failure == .unencodable(.notFinite(name: "total_capacity_gb", value: .infinity)))
        #expect(
            failure?.description
                == "the in-process scheduler refused the batch: total_capacity_gb is not a finite number: inf")
    }

    @Test("cluster membership failures keep their text")
    func clusterMembershipFailures() {
        #expect(
            ClusterMembership.Failure.notLeased(lastError: nil).description
                == "not in the cluster: no etcd lease (no lease yet)")
        let lost = EtcdError.leaseNotFound(leaseID: 7)
        #expect(
            ClusterMembership.Failure.notLeased(lastError: lost).description
                == "not in the cluster: no etcd lease (\(lost))")
        #expect(ClusterMembership.Failure.etcd(lost).description == "etcd: \(lost)")
    }
}
