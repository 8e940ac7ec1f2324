import Foundation
import SharedTestSupport
import Testing

@testable import Config

/// `[coordination] backend_url`, as Cinder (tooz) spells it.
@Suite struct CoordinationOptionsTests {
    func inspect(_ coordination: String) -> ServiceConfiguration {
        ConfigFile.inspect(
            text: "[DEFAULT]\n[coordination]\n\(coordination)\n", fileName: "volumed.conf",
            baseDirectory: "/etc/volumed")
    }

    /// Warnings about the coordination section (not the "no backend is enabled" of these small files).
    func coordinationWarnings(_ configuration: ServiceConfiguration) -> [String] {
        configuration.warnings.filter {
            $0.subject?.hasPrefix("coordination") ?? ($0.description.contains("coordination"))
        }
        .map(\.description)
    }

    @Test func absentOrEmptyIsTheSingleHostMode() throws {
        #expect(try ConfigFile.parse(text: "[DEFAULT]\n", fileName: "volumed.conf").service.coordination == nil)
        let empty = inspect("backend_url =")
        #expect(empty.problems.isEmpty)
        #expect(empty.service.coordination == nil)
        #expect(coordinationWarnings(empty).isEmpty, "an empty [coordination] is not an unused section")
        // The same service options as a file without the section: nothing else changes.
        let plain = try ConfigFile.parse(text: "[DEFAULT]\n\n", fileName: "volumed.conf")
        #expect(empty.service == plain.service)
    }

    @Test func readsSeveralEndpointsWithDefaultPorts() throws {
        let configuration = inspect("backend_url = etcd3+http://h1:2379, 10.0.0.2 ,[fd00::3]:12379/")
        #expect(configuration.problems.isEmpty)
        let options = try #require(configuration.service.coordination)
        #expect(options.endpoints == ["http://h1:2379", "http://10.0.0.2:2379", "http://[fd00::3]:12379"])
        #expect(options.timeout == CoordinationOptions.defaultTimeout)
        #expect(options.caFile == nil)
        #expect(options.backendURL == "etcd3+http://h1:2379, 10.0.0.2 ,[fd00::3]:12379/")
    }

    @Test func readsTLSFilesAndTimeoutFromTheQueryAsToozDoes() throws {
        let directory = URL(fileURLWithPath: temporaryDirectory("coordination"))
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["ca.pem", "client.pem", "client.key"] {
            try Data("pem".utf8).write(to: directory.appendingPathComponent(name))
        }
        let text =
            "[DEFAULT]\n[coordination]\nbackend_url = etcd3+https://e1:2379,e2:2379?ca_cert=ca.pem&cert_cert=client.pem&cert_key=client.key&timeout=2.5\n"
        let configuration = ConfigFile.inspect(text: text, fileName: "volumed.conf", baseDirectory: directory.path)
        #expect(configuration.problems.isEmpty)
        let options = try #require(configuration.service.coordination)
        #expect(options.endpoints == ["https://e1:2379", "https://e2:2379"])
        #expect(options.caFile == directory.appendingPathComponent("ca.pem").path)
        #expect(options.certificateFile == directory.appendingPathComponent("client.pem").path)
        #expect(options.keyFile == directory.appendingPathComponent("client.key").path)
        #expect(options.timeout == 2.5)
    }

    @Test(arguments: [
        (
            "backend_url = etcd3://h1:2379",
            "volumed.conf:3: coordination.backend_url: etcd3:// is etcd's gRPC protocol, which volumed does not speak; use etcd3+http:// or etcd3+https:// (etcd's JSON gateway, same port)"
        ),
        (
            "backend_url = redis://h1:6379",
            "volumed.conf:3: coordination.backend_url: unsupported coordination backend \"redis\"; volumed coordinates through etcd: etcd3+http:// or etcd3+https://"
        ),
        (
            "backend_url = h1:2379",
            "volumed.conf:3: coordination.backend_url: expected etcd3+http://host:port[,host:port...] or etcd3+https://..., got \"h1:2379\""
        ),
        (
            "backend_url = etcd3+http://h1:2379,,h2",
            "volumed.conf:3: coordination.backend_url: an endpoint is empty (two commas, or a comma at an end)"
        ),
        (
            "backend_url = etcd3+http://h1:99999",
            "volumed.conf:3: coordination.backend_url: endpoint h1:99999: expected host:port with a port 1-65535"
        ),
        (
            "backend_url = etcd3+http://h1:2379,h1",
            "volumed.conf:3: coordination.backend_url: endpoint h1 is listed twice"
        ),
        (
            "backend_url = etcd3+http://h1/v3",
            "volumed.conf:3: coordination.backend_url: expected only host:port endpoints after etcd3+http:// (no path, user or fragment), got \"etcd3+http://h1/v3\""
        ),
        (
            "backend_url = etcd3+http://h_1:2379",
            "volumed.conf:3: coordination.backend_url: endpoint h_1:2379: \"h_1\" is not a host name or IPv4 address (write IPv6 as [address]:port)"
        ),
        (
            "backend_url = etcd3+http://h1?ca_cert=/etc/ca.pem",
            "volumed.conf:3: coordination.backend_url: ca_cert, cert_cert and cert_key need etcd3+https://; the endpoints are plain http"
        ),
        (
            "backend_url = etcd3+http://h1?timeot=3",
            "volumed.conf:3: coordination.backend_url: unknown option \"timeot\" in backend_url (known: ca_cert, cert_cert, cert_key, timeout) (did you mean timeout?)"
        ),
        (
            "backend_url = etcd3+http://h1?timeout=0",
            "volumed.conf:3: coordination.backend_url: timeout in backend_url: expected seconds > 0 and <= 3600, got \"0\""
        ),
        (
            "backend_url = etcd3+https://h1?cert_cert=/c.pem",
            "volumed.conf:3: coordination.backend_url: cert_cert and cert_key go together (a client certificate and its key)"
        ),
        (
            "backend_url = etcd3+https://h1?ca_cert=/nonexistent/ca.pem",
            "volumed.conf:3: coordination.backend_url: cannot read /nonexistent/ca.pem"
        ),
    ])
    func refusesWhatCannotWorkNamingTheLine(line: String, message: String) {
        let configuration = inspect(line)
        #expect(configuration.problems.map(\.description) == [message])
        #expect(throws: ConfigError.self) {
            try ConfigFile.parse(text: "[DEFAULT]\n[coordination]\n\(line)\n", fileName: "volumed.conf")
        }
    }

    @Test func unknownOptionsInTheSectionAreWarnings() {
        let configuration = inspect("backend_url = etcd3+http://h1\nbackend_ulr = x")
        #expect(configuration.problems.isEmpty)
        #expect(
            coordinationWarnings(configuration) == [
                "volumed.conf:4: coordination.backend_ulr: unknown option, ignored (did you mean backend_url?)"
            ])
    }

    @Test func aChangedBackendURLNeedsARestart() throws {
        let old = try ConfigFile.parse(text: "[DEFAULT]\n", fileName: "volumed.conf")
        let new = try ConfigFile.parse(
            text: "[DEFAULT]\n[coordination]\nbackend_url = etcd3+http://h1\n", fileName: "volumed.conf")
        let diff = ConfigDiff(from: old, to: new)
        #expect(diff.restartOptions == ["coordination.backend_url"])
        #expect(diff.liveOptions.isEmpty)
    }

    @Test func hostFollowsClusterIsOffUnlessTurnedOnAndMustBeABoolean() throws {
        let plain = try #require(inspect("backend_url = etcd3+http://h1").service.coordination)
        #expect(plain.hostFollowsCluster == false)
        let on = inspect("backend_url = etcd3+http://h1\nhost_follows_cluster = yes")
        #expect(on.problems.isEmpty)
        #expect(coordinationWarnings(on).isEmpty)
        #expect(on.service.coordination?.hostFollowsCluster == true)
        let bad = inspect("backend_url = etcd3+http://h1\nhost_follows_cluster = sometimes")
        #expect(
            bad.problems.map(\.description).contains {
                $0.contains("host_follows_cluster") && $0.contains("expected a boolean")
            }, "\(bad.problems)")
        // Without backend_url there is no cluster to follow: said, not silently ignored.
        let alone = inspect("host_follows_cluster = true")
        #expect(alone.service.coordination == nil)
        #expect(
            coordinationWarnings(alone).contains { $0.contains("no effect without backend_url") }, "\(alone.warnings)")
    }

    @Test func aChangedHostFollowsClusterNeedsARestart() throws {
        let old = try ConfigFile.parse(
            text: "[DEFAULT]\n[coordination]\nbackend_url = etcd3+http://h1\n", fileName: "volumed.conf")
        let new = try ConfigFile.parse(
            text: "[DEFAULT]\n[coordination]\nbackend_url = etcd3+http://h1\nhost_follows_cluster = true\n",
            fileName: "volumed.conf")
        let diff = ConfigDiff(from: old, to: new)
        #expect(diff.restartOptions == ["coordination.host_follows_cluster"])
        #expect(diff.liveOptions.isEmpty)
    }
}
