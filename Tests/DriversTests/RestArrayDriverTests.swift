import Config
import Foundation
import SharedTestSupport
import Supervision
import Testing

@testable import Drivers

@Suite(
    .offCooperativePool,
    .enabled(if: Tool.available("python3"), "python3 is not installed; scripts/setup --test installs it"))
struct RestArrayDriverTests {
    func driver(
        _ server: ArrayServer, credentials: RestArrayDriver.Credentials = .basic(login: "admin", password: "pa:ss"),
        timeout: Double = 10
    ) -> RestArrayDriver {
        RestArrayDriver(
            options: .init(
                volumeBackendName: "array-1", apiURL: server.url, credentials: credentials,
                timeout: timeout))
    }

    @Test func anArrayThatComesUpLateFailsThenRecovers() throws {
        let server = try ArrayServer(mode: "500")
        let driver = driver(server)
        #expect(driver.supported == false)
        try driver.doSetup()

        let refused = driverError { try driver.checkForSetupError() }
        #expect(refused?.kind == .backendUnavailable)
        let refusal = refused?.message ?? ""
        #expect(
            refusal.hasPrefix("cannot connect to \(server.url)/health: ") && refusal.hasSuffix(" (curl error 7)"),
            "\(refusal)")
        #expect(
            refusal.components(separatedBy: "Couldn't connect to server").count <= 2, "libcurl's text once: \(refusal)")

        server.startListening()
        #expect(
            driverError { try driver.checkForSetupError() }
                == DriverError(
                    .backendUnavailable,
                    "the array answered HTTP 500 to GET \(server.url)/health: controller failover in progress"))

        try server.setMode("401")
        let rejected = driverError { try driver.checkForSetupError() }
        #expect(
            rejected
                == DriverError(
                    .configError,
                    "the array rejected the credentials for GET \(server.url)/health "
                        + "(HTTP 401): bad credentials; fix san_login/san_password or san_api_token"))
        #expect(rejected?.errorClass == .unrecoverable)

        try server.setMode("malformed")
        let malformed = driverError { try driver.checkForSetupError() }
        #expect(
            malformed
                == DriverError(
                    .other,
                    "health document from \(server.url)/health: not valid JSON: "
                        + "line 1, column 17: expected a string key"))
        #expect(malformed?.errorClass == .recoverable)

        try server.setMode("ok")
        try driver.checkForSetupError()
        let stats = try driver.getVolumeStats()
        #expect(
            stats
                == VolumeStats(
                    volumeBackendName: "array-1", vendorName: "Acme Storage", driverVersion: "1.0.0",
                    storageProtocol: "FC",
                    totalCapacityGB: .gib(3072.5), freeCapacityGB: .gib(2512.26), reservedPercentage: 0,
                    pools: [
                        PoolStats(
                            poolName: "gold", totalCapacityGB: .gib(1024), freeCapacityGB: .gib(512.26),
                            thinProvisioningSupport: true, maxOverSubscriptionRatio: 10),
                        PoolStats(
                            poolName: "silver", totalCapacityGB: .gib(2048.5), freeCapacityGB: .gib(2000),
                            thinProvisioningSupport: false, maxOverSubscriptionRatio: 20),
                    ]))
        let basic = "Basic " + Data("admin:pa:ss".utf8).base64EncodedString()
        #expect(
            try server.requests().suffix(3) == [
                "/api/v1/health \(basic)", "/api/v1/health \(basic)", "/api/v1/capacity \(basic)",
            ])
    }

    @Test func serverSideStatesAndDocumentsAreClassified() throws {
        let server = try ArrayServer(mode: "down")
        server.startListening()
        let driver = driver(server, credentials: .token("t0ken"))
        try driver.doSetup()
        #expect(
            driverError { try driver.checkForSetupError() }
                == DriverError(
                    .backendUnavailable,
                    "the array at \(server.url) reports status down: all paths lost"))

        try server.setMode("404")
        #expect(
            driverError { try driver.checkForSetupError() }
                == DriverError(
                    .configError,
                    "no array API at \(server.url)/health (HTTP 404); check san_api_url"))

        try server.setMode("off-contract")
        #expect(
            driverError { _ = try driver.getVolumeStats() }
                == DriverError(
                    .other,
                    "capacity document from \(server.url)/capacity: pools[0].total_capacity_gb: expected a number of GiB >= 0, "
                        + "got a string \"lots\""))
        #expect(try server.requests().last == "/api/v1/capacity Bearer t0ken")
    }

    @Test func aSlowArrayTimesOutAsUnavailable() throws {
        let server = try ArrayServer(mode: "slow")
        server.startListening()
        let driver = driver(server, credentials: .none, timeout: 0.5)
        try driver.doSetup()
        let error = driverError { try driver.checkForSetupError() }
        #expect(error?.kind == .backendUnavailable)
        #expect(
            error?.message.hasPrefix("GET \(server.url)/health timed out: ") == true, "\(String(describing: error))")
        #expect(error?.message.hasSuffix(" (curl error 28)") == true, "\(String(describing: error))")
        #expect(try server.requests() == ["/api/v1/health -"])
    }

    @Test func optionsAreTypedByTheFactory() throws {
        let directory = try TemporaryDirectory()
        let configuration = try configuration(
            """
            [DEFAULT]
            enabled_backends = a, b, c
            [a]
            volume_driver = volumed.drivers.rest.RestArrayDriver
            san_api_url = https://array.example.com/api/
            san_login = admin
            san_password = secret
            san_api_timeout = 3
            driver_ssl_cert_path = ca.pem
            [b]
            volume_driver = rest
            san_api_url = ftp://array
            san_login = admin
            [c]
            volume_driver = rest
            enable_unsupported_driver = true
            san_api_url = http://127.0.0.1:1
            san_api_token = tok
            san_password = p
            """, in: directory)
        let file = directory.path + "/volumed.conf"
        let a = try #require(
            DriverFactory.makeDriver(for: configuration.backends[0], service: configuration.service) as? RestArrayDriver
        )
        #expect(
            a.options
                == RestArrayDriver.Options(
                    volumeBackendName: "a", apiURL: "https://array.example.com/api",
                    credentials: .basic(login: "admin", password: "secret"),
                    timeout: 3, verifyTLS: true, caFile: directory.path + "/ca.pem"))
        #expect(a.supported == false)

        let b = try #require(
            DriverFactory.makeDriver(for: configuration.backends[1], service: configuration.service)
                as? InvalidBackendDriver)
        #expect(
            b.error
                == DriverError(
                    .configError,
                    "\(file):12: b.san_api_url: expected an http:// or https:// URL with a host and no query, got \"ftp://array\"; "
                        + "\(file):13: b.san_login: san_password is not set"))

        let c = try #require(
            DriverFactory.makeDriver(for: configuration.backends[2], service: configuration.service)
                as? InvalidBackendDriver)
        #expect(
            c.error.message == "\(file):18: c.san_api_token: set san_login and san_password, or san_api_token, not both"
        )

        let validation = DriverFactory.validate(configuration)
        #expect(
            validation["a"]?.errors.map(\.description) == [
                "\(file):4: a.volume_driver: the rest driver is unsupported (no third-party CI, as Cinder marks such drivers); "
                    + "set enable_unsupported_driver = true to run it"
            ])
        #expect(validation["c"]?.errors.count == 1)
    }
}
