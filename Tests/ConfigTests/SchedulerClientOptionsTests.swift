import Testing

@testable import Config

/// How the publisher talks to a remote scheduler: HTTP version and TLS trust.
@Suite struct SchedulerClientOptionsTests {
    @Test func defaultsAreHTTP11WithVerification() throws {
        let options = try ConfigFile.parse(text: "[DEFAULT]\n", fileName: "volumed.conf").service
        #expect(options.schedulerHTTPVersion == "1.1")
        #expect(options.schedulerCACertificatesFile == nil)
        #expect(options.schedulerInsecure == false)
    }

    @Test func readsHTTP2AndTLSOptions() throws {
        let text = """
            [DEFAULT]
            scheduler_http_version = 2
            scheduler_ca_certificates_file = /etc/volumed/ca.pem
            scheduler_insecure = yes
            """
        let configuration = try ConfigFile.parse(text: text, fileName: "volumed.conf")
        #expect(configuration.service.schedulerHTTPVersion == "2")
        #expect(configuration.service.schedulerCACertificatesFile == "/etc/volumed/ca.pem")
        #expect(configuration.service.schedulerInsecure == true)
        #expect(configuration.warnings.allSatisfy { !$0.description.contains("scheduler_") })
    }

    @Test func rejectsAnUnknownHTTPVersionWithItsLine() {
        let configuration = ConfigFile.inspect(
            text: "[DEFAULT]\n\nscheduler_http_version = 3\n", fileName: "volumed.conf")
        #expect(
            configuration.problems.map(\.description) == [
                "volumed.conf:3: scheduler_http_version: expected one of 1.1, 2, got \"3\""
            ])
    }
}
