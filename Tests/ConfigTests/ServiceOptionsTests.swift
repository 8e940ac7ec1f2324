import Foundation
import SharedTestSupport
import Testing

@testable import Config

@Suite struct ServiceOptionsTests {
    @Test func defaultsMatchCinderAndTheBrief() throws {
        let configuration = try ConfigFile.parse(
            text: "[DEFAULT]\n", fileName: "volumed.conf", baseDirectory: "/etc/volumed")
        let options = configuration.service
        #expect(options.host == ServiceOptions.machineHostName())
        #expect(!options.host.isEmpty)
        #expect(options.storageAvailabilityZone == "nova")
        #expect(options.enabledBackends == [])
        #expect(options.reinitDriverCount == 3)
        #expect(options.reinitBackoffMax == 300)
        #expect(options.backendStatsPollingInterval == 60)
        #expect(options.serviceDownTime == 60)
        #expect(options.driverInitTimeout == 60)
        #expect(options.driverStatsTimeout == 30)
        #expect(options.enableUnsupportedDriver == false)
        #expect(options.schedulerURL == nil)
        #expect(options.osapiVolumeListen == "127.0.0.1")
        #expect(options.osapiVolumeListenPort == 8776)
        #expect(options.schedulerListenPort == 8777)
        #expect(options.adminToken == nil)
        #expect(options.statePath == "/var/lib/volumed")
        #expect(options.http == HTTPLimits())
        #expect(options.http.maxHeaderBytes == 16384)
        #expect(options.http.maxHeaders == 100)
        #expect(options.http.maxBodyBytes == 1_048_576)
        #expect(options.http.headerTimeout == 10)
        #expect(options.http.keepaliveTimeout == 60)
        #expect(options.http.maxConnections == 10000)
        #expect(
            configuration.warnings.map(\.description) == [
                "volumed.conf: enabled_backends: no backend is enabled; the service will run none"
            ])
    }

    @Test func readsEveryOption() throws {
        let text = """
            [DEFAULT]
            host = node-7
            storage_availability_zone = az2
            enabled_backends = nfs-1, lvm-1,,rest-1
            reinit_driver_count = 0
            reinit_backoff_max = 12.5
            backend_stats_polling_interval = 0.25
            service_down_time = 30
            driver_init_timeout = 2
            enable_unsupported_driver = Yes
            scheduler_url = http://127.0.0.1:8777/
            scheduler_timeout = 3
            scheduler_connect_timeout = 1.5
            osapi_volume_listen = ::1
            osapi_volume_listen_port = 0
            osapi_volume_workers = 1
            scheduler_listen = localhost
            scheduler_listen_port = 9000
            admin_token = abc
            state_path = state
            http_max_header_bytes = 8192
            http_max_headers = 50
            http_max_body_bytes = 0
            http_header_timeout = 1
            http_keepalive_timeout = 5
            http_max_connections = 20
            http_max_queued_response_bytes = 4096
            http_max_buffered_output_bytes = 1048576
            http_max_buffered_request_bytes = 2097152
            """
        let configuration = ConfigFile.inspect(text: text, fileName: "volumed.conf", baseDirectory: "/etc/volumed")
        let options = configuration.service
        #expect(options.host == "node-7")
        #expect(options.storageAvailabilityZone == "az2")
        #expect(options.enabledBackends == ["nfs-1", "lvm-1", "rest-1"])
        #expect(options.reinitDriverCount == 0)
        #expect(options.reinitBackoffMax == 12.5)
        #expect(options.backendStatsPollingInterval == 0.25)
        #expect(options.serviceDownTime == 30)
        #expect(options.driverInitTimeout == 2)
        #expect(options.enableUnsupportedDriver == true)
        #expect(options.schedulerURL == "http://127.0.0.1:8777")
        #expect(options.schedulerTimeout == 3)
        #expect(options.schedulerConnectTimeout == 1.5)
        #expect(options.osapiVolumeListen == "::1")
        #expect(options.osapiVolumeListenPort == 0)
        #expect(options.osapiVolumeWorkers == 1)
        #expect(options.schedulerListen == "localhost")
        #expect(options.schedulerListenPort == 9000)
        #expect(options.http.maxQueuedResponseBytes == 4096)
        #expect(options.http.maxBufferedOutputBytes == 1_048_576)
        #expect(options.http.maxBufferedRequestBytes == 2_097_152)
        #expect(options.adminToken == "abc")
        #expect(options.statePath == "/etc/volumed/state")
        #expect(options.http.maxHeaderBytes == 8192)
        #expect(options.http.maxHeaders == 50)
        #expect(options.http.maxBodyBytes == 0)
        #expect(options.http.headerTimeout == 1)
        #expect(options.http.keepaliveTimeout == 5)
        #expect(options.http.maxConnections == 20)
        #expect(configuration.problems == [])
    }

    @Test(arguments: ["true", "TRUE", "yes", "On", "1"])
    func acceptsOsloTrueWords(_ word: String) throws {
        let configuration = try ConfigFile.parse(
            text: "[DEFAULT]\nenable_unsupported_driver = \(word)\n", fileName: "v.conf")
        #expect(configuration.service.enableUnsupportedDriver == true)
    }

    @Test(arguments: ["false", "No", "off", "0"])
    func acceptsOsloFalseWords(_ word: String) throws {
        let configuration = try ConfigFile.parse(
            text: "[DEFAULT]\nenable_unsupported_driver = \(word)\n", fileName: "v.conf")
        #expect(configuration.service.enableUnsupportedDriver == false)
    }

    @Test func everyBadDefaultValueIsFatalAndListedWithItsLine() {
        let text = """
            [DEFAULT]
            host = node@1
            storage_availability_zone =
            enabled_backends = good, bad@name, good
            reinit_driver_count = three
            reinit_backoff_max = -1
            backend_stats_polling_interval = 0
            service_down_time = soon
            driver_init_timeout = inf
            enable_unsupported_driver = maybe
            scheduler_url = ftp://x
            osapi_volume_listen = not an address
            osapi_volume_listen_port = 70000
            osapi_volume_workers = 0
            scheduler_listen_port = -1
            http_max_headers = 0
            """
        let configuration = ConfigFile.inspect(text: text, fileName: "volumed.conf", baseDirectory: "/")
        #expect(
            configuration.problems.map(\.description) == [
                #"volumed.conf:2: host: must not contain '@' (backends are named host@backend#pool), got "node@1""#,
                "volumed.conf:3: storage_availability_zone: must not be empty",
                #"volumed.conf:4: enabled_backends: "bad@name" cannot name a backend (no '@', '#', '/', brackets, spaces or control characters; not DEFAULT or backend_defaults)"#,
                #"volumed.conf:5: reinit_driver_count: expected a whole number >= 0, got "three""#,
                #"volumed.conf:6: reinit_backoff_max: expected a number of seconds > 0, got "-1""#,
                #"volumed.conf:7: backend_stats_polling_interval: expected a number of seconds > 0, got "0""#,
                #"volumed.conf:8: service_down_time: expected a number of seconds > 0, got "soon""#,
                #"volumed.conf:9: driver_init_timeout: expected a number of seconds > 0, got "inf""#,
                #"volumed.conf:10: enable_unsupported_driver: expected a boolean (true/false, yes/no, on/off, 1/0), got "maybe""#,
                #"volumed.conf:11: scheduler_url: expected an http:// or https:// URL with a host and no query, got "ftp://x""#,
                #"volumed.conf:12: osapi_volume_listen: expected an IP address or host name, got "not an address""#,
                #"volumed.conf:13: osapi_volume_listen_port: expected a port number 0-65535, got "70000""#,
                #"volumed.conf:14: osapi_volume_workers: expected a whole number >= 1, got "0""#,
                #"volumed.conf:15: scheduler_listen_port: expected a port number 0-65535, got "-1""#,
                #"volumed.conf:16: http_max_headers: expected a whole number >= 1, got "0""#,
            ])
        #expect(
            configuration.warnings.map(\.description).contains(
                #"volumed.conf:4: enabled_backends: backend "good" is listed twice; it runs once"#))
        #expect(throws: ConfigError(problems: configuration.problems)) {
            try ConfigFile.parse(text: text, fileName: "volumed.conf", baseDirectory: "/")
        }
    }

    @Test func theBriefsExampleMessage() {
        var lines = Array(repeating: "# filler", count: 11)
        lines[0] = "[DEFAULT]"
        lines.append("reinit_driver_count = three")
        let error = #expect(throws: ConfigError.self) {
            try ConfigFile.parse(text: lines.joined(separator: "\n"), fileName: "volumed.conf")
        }
        #expect(
            error?.description == #"volumed.conf:12: reinit_driver_count: expected a whole number >= 0, got "three""#)
    }

    @Test func unknownAndMisplacedOptionsAreWarningsNotErrors() throws {
        let configuration = try ConfigFile.parse(
            text: """
                [DEFAULT]
                debug = true
                volume_driver = nfs
                enabled_backends =
                [database]
                connection = sqlite://
                junk line
                """, fileName: "volumed.conf")
        #expect(
            configuration.warnings.map(\.description) == [
                "volumed.conf:2: debug: unknown option, ignored",
                "volumed.conf:3: volume_driver: not used in [DEFAULT]: set it in a backend section or [backend_defaults]",
                "volumed.conf:4: enabled_backends: no backend is enabled; the service will run none",
                "volumed.conf:5: section [database] is not used (not listed in enabled_backends), ignored",
                "volumed.conf:7: expected 'option = value', got \"junk line\"",
            ])
    }

    @Test func adminTokenFileIsReadAndConflictsWithAdminToken() throws {
        let directory = try TemporaryDirectory()
        let tokenFile = directory.path + "/token"
        try "  tok-123\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o600)
        let good = try ConfigFile.parse(
            text: "[DEFAULT]\nadmin_token_file = token\n",
            fileName: directory.path + "/volumed.conf")
        #expect(good.service.adminToken == "tok-123")
        #expect(good.service.adminTokenFile == tokenFile)
        #expect(good.warnings.filter { $0.subject == "admin_token_file" } == [])

        chmod(tokenFile, 0o644)
        let exposed = try ConfigFile.parse(text: "[DEFAULT]\nadmin_token_file = \(tokenFile)\n", fileName: "v.conf")
        #expect(
            exposed.warnings.map(\.description).contains(
                "v.conf:2: admin_token_file: \(tokenFile) is readable by other users (mode 644); chmod 600 it"))

        let both = ConfigFile.inspect(
            text: "[DEFAULT]\nadmin_token = x\nadmin_token_file = \(tokenFile)\n", fileName: "v.conf")
        #expect(
            both.problems.map(\.description) == [
                "v.conf:3: admin_token_file: set either admin_token (line 2) or admin_token_file, not both"
            ])

        let missing = ConfigFile.inspect(text: "[DEFAULT]\nadmin_token_file = /nonexistent/token\n", fileName: "v.conf")
        #expect(
            missing.problems.map(\.description) == [
                "v.conf:2: admin_token_file: cannot read /nonexistent/token: No such file or directory"
            ])
    }

    @Test func loadsFromDiskAndReportsAnUnreadableFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/volumed.conf"
        try "[DEFAULT]\nhost = disk\nstate_path = ./state\n".write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try ConfigFile.load(path: path)
        #expect(configuration.service.host == "disk")
        #expect(configuration.service.statePath == directory.path + "/state")
        #expect(configuration.baseDirectory == directory.path)

        let error = #expect(throws: ConfigError.self) { try ConfigFile.load(path: directory.path + "/absent.conf") }
        #expect(error?.description == "\(directory.path)/absent.conf: cannot read the file: No such file or directory")

        try Data([0x5B, 0xFF, 0xFE, 0x5D]).write(to: URL(fileURLWithPath: path))
        let binary = #expect(throws: ConfigError.self) { try ConfigFile.load(path: path) }
        #expect(
            binary?.description == "\(path):1: the file is not UTF-8 text (byte 0xFF at column 2); save it as UTF-8")
    }
}

@Suite struct APIWorkersOptionTests {
    @Test func workersDefaultToOnePerCPUAndAreBounded() {
        #expect(
            ConfigFile.inspect(text: "[DEFAULT]\n", fileName: "v.conf", baseDirectory: "/").service.osapiVolumeWorkers
                == nil)
        let tooMany = ConfigFile.inspect(
            text: "[DEFAULT]\nosapi_volume_workers = 257\n", fileName: "v.conf", baseDirectory: "/")
        #expect(
            tooMany.problems.map(\.description) == [
                "v.conf:2: osapi_volume_workers: expected 1 to 256 event loops, got 257"
            ])
        let two = ConfigFile.inspect(
            text: "[DEFAULT]\nosapi_volume_workers = 2\n", fileName: "v.conf", baseDirectory: "/")
        #expect(two.service.osapiVolumeWorkers == 2)
        #expect(two.problems.isEmpty)
    }
}
