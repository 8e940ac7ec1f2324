import Foundation
import SharedTestSupport
import Testing

/// `[coordination] backend_url = etcd3+https://...?ca_cert=...&cert_cert=...&cert_key=...` against
/// a real three-member etcd that serves its clients over TLS and requires client certificates
/// (`--client-cert-auth`), with a CA and certificates made by `openssl` for the test.
@Suite("Cluster mode: etcd over TLS", .offCooperativePool, .serialized)
struct ClusterModeTLSTests {
    static let openssl = Tool.path("openssl")

    static func startHost(backendURL: String, directory: String) throws -> (VolumedProcess, String) {
        var config = FaultConfig(directory: directory, defaults: ["service_down_time": "3"])
        try config.addNfs("gold")
        return try ClusterModeFaultTests.serveInClusterMode(config, backendURL: backendURL, directory: directory)
    }

    @Test(.enabled(if: openssl != nil, "openssl is not installed; scripts/setup --test installs it"))
    func hostsAndSchedulersCoordinateOverTLSWithClientCertificates() throws {
        let dir = temporaryDirectory("cluster-tls")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cluster = try EtcdCluster(tls: try .generate(in: dir + "/pki"))
        let url = cluster.tlsBackendURL()
        #expect(url.hasPrefix("etcd3+https://") && !url.contains("\(cluster.members[0].clientPort)"))
        let (scheduler, schedulerBase) = try startScheduler(
            directory: dir, extra: "service_down_time = 60\n\n[coordination]\nbackend_url = \(url)\n")
        defer { scheduler.stop() }
        let (host, _) = try Self.startHost(backendURL: url, directory: dir)
        defer { host.stop() }
        #expect(
            JSONClient().waitFor(schedulerBase + "/v3/scheduler-stats/get_pools", timeout: 30) {
                listsBackend("gold", $0)
            } != nil,
            "host stderr: \(host.stderr)\nscheduler stderr: \(scheduler.stderr)")
        #expect(host.stderr.contains("joined the cluster"))
    }

    /// A CA that did not sign the members' certificates, or no client certificate, is a clear
    /// error within a request's time, repeated while the host runs alone: no hang, no crash.
    @Test(.enabled(if: openssl != nil, "openssl is not installed; scripts/setup --test installs it"))
    func theWrongCAOrAMissingClientCertificateIsAClearErrorNotAHang() throws {
        let dir = temporaryDirectory("cluster-tls-wrong")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tls = try EtcdCluster.TLSMaterial.generate(in: dir + "/pki")
        let cluster = try EtcdCluster(tls: tls)
        let cases = [
            ("wrong-ca", cluster.tlsBackendURL(caFile: tls.otherCAFile), "SSL certificate problem"),
            ("no-client-certificate", cluster.tlsBackendURL(clientCertificate: false), "bad certificate"),
        ]
        for (name, url, words) in cases {
            let hostDirectory = dir + "/" + name
            try FileManager.default.createDirectory(atPath: hostDirectory, withIntermediateDirectories: true)
            let started = ContinuousClock.now
            let (host, base) = try Self.startHost(backendURL: url, directory: hostDirectory)
            defer { host.stop() }
            #expect(
                host.waitForOutput(timeout: 20) { _, stderr in
                    stderr.contains("not in the cluster") && stderr.contains(words)
                },
                "\(name): \(host.stderr)")
            // The default request timeout is 5 s per member: the failure is the handshake's, at once.
            #expect(ContinuousClock.now - started < .seconds(15), "\(name)")
            #expect(host.process.isRunning, "\(name): the host runs alone")
            #expect((try? JSONClient().get(base + "/v3/os-services"))?.status == 200, "\(name)")
            #expect(!host.stderr.contains("joined the cluster"), "\(name): \(host.stderr)")
        }
    }
}
