import CurlClient
import Foundation
import SharedTestSupport
import Testing

// The real OpenStack clients (python-cinderclient, python-openstackclient, openstacksdk, pinned in
// requirements/openstack-clients.txt, installed into .venv-clients/ by `scripts/setup --test`)
// against a live `volumed serve`, asserting on what they print.

/// One run of a client command.
struct ClientRun: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var description: String { "exit \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }

    /// The cells of the table rows (`| a | b |`) whose first cells read `prefix`.
    func rows(startingWith prefix: [String]) -> [[String]] {
        stdout.split(separator: "\n").compactMap { line -> [String]? in
            guard line.hasPrefix("|") else { return nil }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
            return Array(cells.prefix(prefix.count)) == prefix ? cells : nil
        }
    }

    /// The header cells of the first table.
    var header: [String] {
        guard let line = stdout.split(separator: "\n").first(where: { $0.hasPrefix("|") }) else { return [] }
        return line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
    }
}

enum OpenStackClients {
    static let bin = repositoryRoot + "/.venv-clients/bin"

    /// Whether `scripts/setup --test` installed the clients (requirements/openstack-clients.txt) here.
    static var installed: Bool {
        ["cinder", "openstack", "python"].allSatisfy { FileManager.default.isExecutableFile(atPath: "\(bin)/\($0)") }
    }

    /// Runs `bin/<tool> arguments` with its output in files (no pipe to drain), killed after 120 s.
    static func run(_ tool: String, _ arguments: [String], directory: String) throws -> ClientRun {
        let tag = UUID().uuidString.prefix(8)
        let outPath = "\(directory)/\(tool)-\(tag).out"
        let errPath = "\(directory)/\(tool)-\(tag).err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(bin)/\(tool)")
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OS_") }
        environment["HOME"] = directory  // no clouds.yaml or client cache from the machine
        environment["PYTHONWARNINGS"] = "ignore"
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
        if !waitUntil(seconds: 120, { !process.isRunning }) {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        return ClientRun(
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    /// A service with an admin token and `auth_strategy = noauth`, two NFS backends, `gold` and `silver`.
    static func startService(_ name: String, authStrategy: String? = "noauth") throws -> (
        VolumedProcess, String, FaultConfig
    ) {
        var config = FaultConfig(directory: temporaryDirectory(name), defaults: ["admin_token": token])
        if let authStrategy { config.defaults["auth_strategy"] = authStrategy }
        try config.addNfs("gold")
        try config.addNfs("silver")
        let (process, base) = try VolumeClientTestsSupport.start(config)
        return (process, base, config)
    }

    static let token = "s3cret-admin-token"
}

enum VolumeClientTestsSupport {
    /// Starts the service and waits until get_pools lists `waitForPools` pools.
    static func start(_ config: FaultConfig, waitForPools: Int = 2) throws -> (VolumedProcess, String) {
        let (process, base) = try startService(config)
        // The backends up and listed before any client looks.
        let client = JSONClient()
        guard client.waitFor(base + "/v3/scheduler-stats/get_pools", { poolNames($0).count == waitForPools }) != nil
        else {
            process.stop()
            throw FaultTestError("the pools never appeared; stderr: \(process.stderr)")
        }
        return (process, base)
    }
}

@Suite(
    "Real OpenStack clients against volumed serve", .offCooperativePool,
    .enabled(
        if: OpenStackClients.installed,
        "the OpenStack clients are not in .venv-clients; scripts/setup --test installs requirements/openstack-clients.txt"
    ))
struct OpenStackClientTests {
    let gold = hostOf("gold")

    func cinder(_ base: String, _ directory: String, _ arguments: [String]) throws -> ClientRun {
        try OpenStackClients.run(
            "cinder",
            [
                "--os-auth-type", "noauth", "--os-user-id", "admin", "--os-project-id", "admin",
                "--os-endpoint", base + "/v3",
            ] + arguments, directory: directory)
    }

    @Test("cinder: service-list at the negotiated version, 3.0, 3.49; disable/enable; get-pools; log levels")
    func cinderShell() throws {
        let (volumed, base, config) = try OpenStackClients.startService("cinder")
        defer { volumed.stop() }
        let directory = config.directory

        // Automatic negotiation: the shell asks GET / and settles on volumed's maximum.
        let negotiated = try cinder(base, directory, ["service-list"])
        #expect(negotiated.status == 0, "\(negotiated)")
        #expect(negotiated.stderr.contains("downgrading to 3.49 based on server support"), "\(negotiated)")
        #expect(
            negotiated.header == [
                "Binary", "Host", "Zone", "Status", "State", "Updated_at", "Cluster", "Disabled Reason",
                "Backend State",
            ], "\(negotiated)")
        #expect(negotiated.rows(startingWith: ["cinder-volume", gold]).first?.last == "up", "\(negotiated)")
        #expect(negotiated.rows(startingWith: ["cinder-scheduler", FaultConfig.host]).count == 1, "\(negotiated)")

        let v30 = try cinder(base, directory, ["--os-volume-api-version", "3.0", "service-list"])
        #expect(v30.status == 0, "\(v30)")
        #expect(v30.header == ["Binary", "Host", "Zone", "Status", "State", "Updated_at", "Disabled Reason"], "\(v30)")
        #expect(v30.rows(startingWith: ["cinder-volume", gold]).first?[3] == "enabled", "\(v30)")

        let v349 = try cinder(base, directory, ["--os-volume-api-version", "3.49", "service-list"])
        #expect(v349.status == 0, "\(v349)")
        #expect(v349.header.last == "Backend State", "\(v349)")
        #expect(v349.rows(startingWith: ["cinder-volume", hostOf("silver")]).first?.last == "up", "\(v349)")

        // cinderclient's own maximum: the shell reads volumed's from GET / and comes down to it.
        let maximum = try cinder(base, directory, ["--os-volume-api-version", "3.71", "service-list"])
        #expect(maximum.status == 0, "\(maximum)")
        #expect(
            maximum.stderr.contains("API version 3.71 requested") && maximum.stderr.contains("downgrading to 3.49"),
            "\(maximum)")
        #expect(maximum.header.last == "Backend State", "\(maximum)")

        // noauth: cinder's "admin:admin" token may change state although an admin token is configured.
        let disabled = try cinder(
            base, directory, ["service-disable", "--reason", "array firmware upgrade", gold, "cinder-volume"])
        #expect(disabled.status == 0, "\(disabled)")
        #expect(
            disabled.rows(startingWith: [gold, "cinder-volume"]).first == [
                gold, "cinder-volume", "disabled", "array firmware upgrade",
            ],
            "\(disabled)")
        let listed = try cinder(base, directory, ["service-list"])
        #expect(listed.rows(startingWith: ["cinder-volume", gold]).first?[3] == "disabled", "\(listed)")
        #expect(listed.rows(startingWith: ["cinder-volume", gold]).first?[7] == "array firmware upgrade", "\(listed)")
        let pools = try cinder(base, directory, ["get-pools"])
        #expect(!pools.stdout.contains(gold) && pools.stdout.contains(hostOf("silver")), "\(pools)")
        let enabled = try cinder(base, directory, ["service-enable", gold, "cinder-volume"])
        #expect(enabled.status == 0, "\(enabled)")
        #expect(
            enabled.rows(startingWith: [gold, "cinder-volume"]).first == [gold, "cinder-volume", "enabled"],
            "\(enabled)")

        let detail = try cinder(base, directory, ["get-pools", "--detail"])
        #expect(detail.status == 0, "\(detail)")
        #expect(
            detail.rows(startingWith: ["volume_backend_name"]).map { $0[1] }.sorted() == ["gold", "silver"], "\(detail)"
        )
        #expect(detail.rows(startingWith: ["storage_protocol"]).allSatisfy { $0[1] == "nfs" }, "\(detail)")

        // Log levels: the access log is off, set-log turns it on at once, get-log reads it back.
        let before = try cinder(
            base, directory, ["service-get-log", "--binary", "cinder-api", "--prefix", "volumed.access"])
        #expect(
            before.rows(startingWith: ["cinder-api", FaultConfig.host, "volumed.access"]).first?.last == "INFO",
            "\(before)")
        let set = try cinder(base, directory, ["service-set-log", "--prefix", "volumed.access", "debug"])
        #expect(set.status == 0, "\(set)")
        let after = try cinder(base, directory, ["service-get-log", "--prefix", "volumed.access"])
        #expect(after.rows(startingWith: ["cinder-volume", gold, "volumed.access"]).first?.last == "DEBUG", "\(after)")
        #expect(
            after.rows(startingWith: ["cinder-api", FaultConfig.host, "volumed.access"]).first?.last == "DEBUG",
            "\(after)")
        #expect(
            volumed.waitForOutput(timeout: 20) { _, err in
                err.split(separator: "\n").contains {
                    $0.contains(" debug PUT /v3/os-services/get-log ") && $0.hasSuffix("(volumed.access)")
                }
            }, "\(volumed.stderr.suffix(2000))")
        // The set-log that turned the log on has its own line: the level at the end of an exchange decides.
        #expect(
            volumed.stderr.split(separator: "\n").contains {
                $0.contains(" debug PUT /v3/os-services/set-log ") && $0.hasSuffix("(volumed.access)")
            }, "\(volumed.stderr.suffix(2000))")

        // A client's own X-OpenStack-Request-ID is logged as the global request id; the answer
        // carries the service's own id.
        let global = "req-" + UUID().uuidString.lowercased()
        let traced = try CurlClient(configuration: .init(connectTimeout: 5, totalTimeout: 20))
            .get(base + "/v3/services?host=traced", headers: [CurlHeader("X-OpenStack-Request-ID", global)])
        let own = try #require(traced.headers.first { $0.name.lowercased() == "x-openstack-request-id" }?.value)
        #expect(own.hasPrefix("req-") && own != global)
        #expect(
            volumed.waitForOutput(timeout: 20) { _, err in
                err.split(separator: "\n").contains {
                    $0.contains("GET /v3/services?host=traced") && $0.contains("global_request_id=\(global)")
                        && $0.contains("request_id=\(own)")
                }
            }, "\(volumed.stderr.suffix(2000))")

        // freeze-host: listed frozen and disabled, out of get-pools, still supervised; survives a restart.
        let freeze = try cinder(base, directory, ["freeze-host", gold])
        #expect(freeze.status == 0, "\(freeze)")
        let frozenList = try cinder(base, directory, ["service-list"])
        #expect(frozenList.rows(startingWith: ["cinder-volume", gold]).first?[3] == "disabled", "\(frozenList)")
        #expect(frozenList.rows(startingWith: ["cinder-volume", gold]).first?[7] == "frozen", "\(frozenList)")
        let frozenPools = try cinder(base, directory, ["get-pools"])
        #expect(
            !frozenPools.stdout.contains(gold + "#") && frozenPools.stdout.contains(hostOf("silver") + "#"),
            "\(frozenPools)")
        let api = JSONClient()
        #expect(service(gold, in: try api.get(base + "/v3/services").json)?["frozen"] as? Bool == true)
        #expect(state("gold", try api.get(base + "/drivers").json) == "ready")
        volumed.stop()
        let (restarted, newBase) = try VolumeClientTestsSupport.start(config, waitForPools: 1)
        defer { restarted.stop() }
        #expect(service(gold, in: try api.get(newBase + "/v3/services").json)?["frozen"] as? Bool == true)
        let thaw = try cinder(newBase, directory, ["thaw-host", gold])
        #expect(thaw.status == 0, "\(thaw)")
        let thawed = try cinder(newBase, directory, ["service-list"])
        #expect(thawed.rows(startingWith: ["cinder-volume", gold]).first?[3] == "enabled", "\(thawed)")
        #expect(service(gold, in: try api.get(newBase + "/v3/services").json)?["frozen"] as? Bool == false)

        let failover = try cinder(newBase, directory, ["failover-host", gold])
        #expect(
            failover.status != 0 && failover.stderr.contains("no replication configured")
                && failover.stderr.contains("HTTP 400"),
            "\(failover)")
    }

    @Test("without auth_strategy = noauth, cinder's noauth token is refused when an admin token is set")
    func noauthIsOptIn() throws {
        let (volumed, base, config) = try OpenStackClients.startService("cinder-token", authStrategy: nil)
        defer { volumed.stop() }
        let refused = try cinder(base, config.directory, ["service-disable", gold, "cinder-volume"])
        #expect(refused.status != 0 && refused.stderr.contains("HTTP 403"), "\(refused)")
        let listed = try cinder(base, config.directory, ["--os-volume-api-version", "3.0", "service-list"])
        #expect(listed.rows(startingWith: ["cinder-volume", gold]).first?[3] == "enabled", "\(listed)")
    }

    @Test("openstack: volume service list --long, service set --disable, backend pool list --long")
    func openstackShell() throws {
        let (volumed, base, config) = try OpenStackClients.startService("openstack")
        defer { volumed.stop() }
        let common = [
            "--os-auth-type", "admin_token", "--os-token", OpenStackClients.token, "--os-endpoint", base + "/v3",
        ]
        func openstack(_ arguments: [String]) throws -> ClientRun {
            try OpenStackClients.run("openstack", common + arguments, directory: config.directory)
        }
        let list = try openstack(["volume", "service", "list", "--long"])
        #expect(list.status == 0, "\(list)")
        #expect(list.header.starts(with: ["Binary", "Host", "Zone", "Status", "State", "Updated At"]), "\(list)")
        #expect(list.rows(startingWith: ["cinder-volume", gold]).first?[3] == "enabled", "\(list)")

        let disable = try openstack([
            "volume", "service", "set", "--disable", "--disable-reason", "rack move", gold, "cinder-volume",
        ])
        #expect(disable.status == 0, "\(disable)")
        let after = try openstack(["volume", "service", "list", "--long"])
        let row = try #require(after.rows(startingWith: ["cinder-volume", gold]).first, "\(after)")
        #expect(row[3] == "disabled", "\(after)")
        #expect(row.last == "rack move", "\(after)")

        let pools = try openstack(["volume", "backend", "pool", "list", "--long"])
        #expect(pools.status == 0, "\(pools)")
        #expect(pools.header == ["Name", "Capabilities"], "\(pools)")
        #expect(pools.stdout.contains(hostOf("silver") + "#") && !pools.stdout.contains(gold + "#"), "\(pools)")
        #expect(pools.stdout.contains("volume_backend_name='silver'"), "\(pools)")
    }

    @Test("openstacksdk: services, backend_pools, disable_service, enable_service, get_service_log_levels")
    func sdk() throws {
        let (volumed, base, config) = try OpenStackClients.startService("sdk")
        defer { volumed.stop() }
        let script = """
            import openstack
            conn = openstack.connect(auth_type="admin_token",
                                     auth={"token": "\(OpenStackClients.token)", "endpoint": "\(base)/v3"},
                                     block_storage_endpoint_override="\(base)/v3")
            bs = conn.block_storage
            for s in sorted(bs.services(), key=lambda s: s.host):
                print("service", s.binary, s.host, s.status, s.state)
            for p in sorted(bs.backend_pools(), key=lambda p: p.name):
                print("pool", p.name, p.capabilities["volume_backend_name"])
            gold = next(s for s in bs.services() if s.host == "\(gold)")
            d = bs.disable_service(gold, reason="sdk maintenance")
            print("disabled", d.status, d.disabled_reason)
            print("listed", next(s.status for s in bs.services() if s.host == "\(gold)"))
            e = bs.enable_service(gold)
            print("enabled", e.status)
            for level in bs.get_service_log_levels(binary="cinder-api", prefix="volumed.api"):
                print("log", level.binary, level.host, sorted(level.levels.items()))
            """
        let path = config.directory + "/sdk_check.py"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let run = try OpenStackClients.run("python", [path], directory: config.directory)
        #expect(run.status == 0, "\(run)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("service cinder-scheduler \(FaultConfig.host) enabled up"), "\(run)")
        #expect(lines.contains("service cinder-volume \(gold) enabled up"), "\(run)")
        #expect(lines.contains("service cinder-volume \(hostOf("silver")) enabled up"), "\(run)")
        #expect(
            lines.filter { $0.hasPrefix("pool ") }.map { $0.split(separator: " ").last! } == ["gold", "silver"],
            "\(run)")
        #expect(lines.contains("disabled disabled sdk maintenance"), "\(run)")
        #expect(lines.contains("listed disabled"), "\(run)")
        #expect(lines.contains("enabled enabled"), "\(run)")
        #expect(lines.contains("log cinder-api \(FaultConfig.host) [('volumed.api', 'INFO')]"), "\(run)")
    }
}
