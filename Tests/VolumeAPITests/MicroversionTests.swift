import Foundation
import HTTPServer
import Logging
import SharedTestSupport
import Testing

@testable import VolumeAPI

@Suite("OpenStack-API-Version parsing", .offCooperativePool)
struct MicroversionParserTests {
    func parse(_ values: [String]) -> MicroversionRequest { MicroversionRequest.parse(values) }

    @Test("no header, or a header for other services only, means 3.0")
    func absent() {
        #expect(parse([]) == .version(APIVersion(3, 0)))
        #expect(parse(["compute 2.1"]) == .version(APIVersion(3, 0)))
        #expect(parse(["compute 2.1, identity 3.10"]) == .version(APIVersion(3, 0)))
    }

    @Test("latest is the maximum; well-formed versions inside the range are served as asked")
    func served() {
        #expect(parse(["volume latest"]) == .version(.maximum))
        #expect(parse(["volume 3.49"]) == .version(APIVersion(3, 49)))
        #expect(parse(["volume 3.7"]) == .version(APIVersion(3, 7)))
        #expect(parse(["volume 3.0"]) == .version(APIVersion(3, 0)))
    }

    @Test("several services in one field or in several fields: the volume entry decides")
    func severalServices() {
        #expect(parse(["compute 2.1, volume 3.32"]) == .version(APIVersion(3, 32)))
        #expect(parse(["compute 2.1", "volume 3.28"]) == .version(APIVersion(3, 28)))
        #expect(parse(["volume 3.7,compute 2.60"]) == .version(APIVersion(3, 7)))
    }

    @Test("whitespace around and between the parts, and the service's case, do not matter")
    func whitespaceAndCase() {
        #expect(parse(["  volume   3.49  "]) == .version(APIVersion(3, 49)))
        #expect(parse(["\tvolume\t3.26"]) == .version(APIVersion(3, 26)))
        #expect(parse(["VOLUME 3.7"]) == .version(APIVersion(3, 7)))
        #expect(parse(["Volume latest"]) == .version(.maximum))
    }

    @Test("malformed versions are 400s")
    func malformed() {
        for text in [
            "3.x", "3", "3.", ".3", "03.1", "3.01", "-3.1", "3.1.1", "three", "", "3.1 extra", "LATEST", "0.1",
        ] {
            #expect(parse(["volume \(text)"]) == .malformed(text), "volume \(text)")
        }
        #expect(parse(["volume 3.x"]).fault()?.status == .badRequest)
        #expect(parse(["volume 3.x"]).fault()?.name == "badRequest")
    }

    @Test("versions outside 3.0 to the maximum are 406s")
    func unsupported() {
        #expect(parse(["volume 9.0"]) == .unsupported(APIVersion(9, 0)))
        #expect(parse(["volume 2.0"]) == .unsupported(APIVersion(2, 0)))
        #expect(parse(["volume 3.50"]) == .unsupported(APIVersion(3, 50)))
        let fault = parse(["volume 9.0"]).fault()
        #expect(fault?.status == .notAcceptable)
        #expect(fault?.message == "Version 9.0 is not supported by the API. Minimum is 3.0 and maximum is 3.49.")
    }

    @Test("versions order by major, then minor (3.10 is newer than 3.9)")
    func ordering() {
        #expect(APIVersion(3, 10) > APIVersion(3, 9))
        #expect(APIVersion("3.10") == APIVersion(3, 10))
        #expect(APIVersion(4, 0) > APIVersion(3, 71))
    }
}

@Suite("Request ids", .offCooperativePool)
struct RequestIDTests {
    @Test("req- and a version-4 UUID, never repeated")
    func format() {
        let generator = RequestIDGenerator()
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let id = generator.next().description
            #expect(RequestIDGenerator.isValid(id))
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
        let id = generator.next().description
        let uuid = String(id.dropFirst(4))
        #expect(UUID(uuidString: uuid) != nil)
        #expect(Array(uuid)[14] == "4")
        #expect("89ab".contains(Array(uuid)[19]))
    }

    @Test("SipHash-2-4 with a 128-bit output: the reference implementation's vector for 8 bytes")
    func sipHashVector() {
        // Key 00 01 ... 0f, message 00 01 ... 07 (veorq/SipHash vectors.h, vectors_sip128[8]).
        let (first, second) = RequestIDGenerator.sipHash128(
            0x0706_0504_0302_0100, key: (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908))
        let bytes = withUnsafeBytes(of: (first.littleEndian, second.littleEndian)) { Array($0) }
        #expect(
            bytes == [
                0x3b, 0x62, 0xa9, 0xba, 0x62, 0x58, 0xf5, 0x61, 0x0f, 0x83, 0xe2, 0x64, 0xf3, 0x14, 0x97, 0xb4,
            ])
    }

    @Test("the 16 bytes as a version-4 UUID, exactly: the reference vector's bytes, version and variant set")
    func exactIDs() {
        // The counter's first value is the message of the vector above.
        let generator = RequestIDGenerator(
            key: (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908), counter: 0x0706_0504_0302_0100)
        // Byte 6 (0xf5) keeps its low nibble under version 4, byte 8 (0x0f) its low six bits under variant 10.
        #expect(generator.next().description == "req-3b62a9ba-6258-4561-8f83-e264f31497b4")
        #expect(generator.next().description != "req-3b62a9ba-6258-4561-8f83-e264f31497b4")
    }

    @Test("hex formatting: every nibble value in every position, no version or variant change")
    func exactFormat() {
        let id = RequestIDGenerator.format(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210)
        #expect(id.description == "req-01234567-89ab-cdef-fedc-ba9876543210")
        #expect(id.count == 40)
        #expect(RequestIDGenerator.format(high: 0, low: .max).description == "req-00000000-0000-0000-ffff-ffffffffffff")
        #expect(RequestIDGenerator.hex8(0xa1b2_c3d9) == UInt64(littleEndian: 0x3964_3363_3262_3161))  // "a1b2c3d9"
        #expect(RequestIDGenerator.hex4(0x0f0a) == UInt32(littleEndian: 0x6130_6630))  // "0f0a"
    }

    @Test("a client's global id must look like one")
    func validity() {
        #expect(RequestIDGenerator.isValid("req-" + UUID().uuidString))
        #expect(!RequestIDGenerator.isValid(UUID().uuidString))
        #expect(!RequestIDGenerator.isValid("req-123"))
        #expect(!RequestIDGenerator.isValid("req-zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"))
    }
}

@Suite("Run-time log levels", .offCooperativePool)
struct LogLevelRegistryTests {
    @Test("a prefix sets every label under it; a shorter prefix later replaces longer ones")
    func prefixes() {
        let registry = LogLevelRegistry(startLevel: .info)
        for label in ["volumed", "volumed.api", "volumed.access", "volumed.supervision"] {
            registry.register(label: label)
        }
        #expect(registry.level(for: "volumed.api") == .info)
        registry.set(prefix: "volumed.a", level: .debug)
        #expect(registry.level(for: "volumed.api") == .debug)
        #expect(registry.level(for: "volumed.access") == .debug)
        #expect(registry.level(for: "volumed.supervision") == .info)
        registry.set(prefix: "volumed.api", level: .error)
        #expect(registry.level(for: "volumed.api") == .error)
        #expect(registry.level(for: "volumed.access") == .debug)
        registry.set(prefix: "volumed", level: .warning)
        #expect(registry.level(for: "volumed.api") == .warning)
        #expect(registry.level(for: "volumed.access") == .warning)
        #expect(registry.levels(prefix: "volumed.a").map(\.label) == ["volumed.access", "volumed.api"])
        registry.set(prefix: "", level: .trace)
        #expect(registry.level(for: "volumed") == .trace)
    }

    @Test("Cinder's level names, case-insensitive; anything else is refused")
    func names() {
        #expect(LogLevelRegistry.level(named: "debug") == .debug)
        #expect(LogLevelRegistry.level(named: "WARNING") == .warning)
        #expect(LogLevelRegistry.level(named: "Critical") == .critical)
        #expect(LogLevelRegistry.level(named: "verbose") == nil)
        #expect(LogLevelRegistry.name(of: .debug) == "DEBUG")
    }
}

@Suite("The OpenStack protocol on a live API", .offCooperativePool)
struct OpenStackProtocolTests {
    @Test("GET / answers 300 with the versions document; /v3 and /v3/ answer 200; links follow Host")
    func discovery() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        let root = try harness.get("/", headers: [("Host", "volume.example:8776")])
        #expect(root.status == 300)
        let versions = try #require(root.json["versions"] as? [[String: Any]])
        #expect(versions.count == 1)
        let v3 = versions[0]
        #expect(v3["id"] as? String == "v3.0")
        #expect(v3["status"] as? String == "CURRENT")
        #expect(v3["version"] as? String == "3.49")
        #expect(v3["min_version"] as? String == "3.0")
        let links = try #require(v3["links"] as? [[String: Any]])
        #expect(
            links.contains {
                $0["rel"] as? String == "self" && $0["href"] as? String == "http://volume.example:8776/v3/"
            })
        let media = try #require(v3["media-types"] as? [[String: Any]])
        #expect(media.first?["type"] as? String == "application/vnd.openstack.volume+json;version=3")
        for path in ["/v3", "/v3/"] {
            let answer = try harness.get(path, headers: [("Host", "volume.example:8776")])
            #expect(answer.status == 200, "\(path)")
            #expect((answer.json["versions"] as? [[String: Any]])?.first?["id"] as? String == "v3.0")
        }
    }

    @Test("links use public_endpoint when set")
    func publicEndpoint() throws {
        let harness = try APIHarness(
            [TestBackend("nfs-gold")], tick: 30, publicEndpoint: "https://cloud.example/volume/")
        defer { harness.stop() }
        let links =
            (try harness.get("/").json["versions"] as? [[String: Any]])?.first?["links"] as? [[String: Any]] ?? []
        #expect(
            links.contains {
                $0["rel"] as? String == "self" && $0["href"] as? String == "https://cloud.example/volume/v3/"
            })
    }

    @Test("every response carries the version, Vary and a request id: handlers, faults, the router's 404 and 405")
    func headersEverywhere() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        let cases: [(RawResponse, Int, String)] = [
            (try harness.get("/v3/services", headers: []), 200, "volume 3.0"),
            (try harness.get("/v3/services", headers: [("OpenStack-API-Version", "volume 3.7")]), 200, "volume 3.7"),
            (
                try harness.get("/v3/services", headers: [("OpenStack-API-Version", "volume latest")]), 200,
                "volume 3.49"
            ),
            (try harness.get("/v3/services", headers: [("OpenStack-API-Version", "compute 2.1")]), 200, "volume 3.0"),
            (try harness.get("/nothing-here", headers: [("OpenStack-API-Version", "volume 3.32")]), 404, "volume 3.32"),
            (try harness.send("DELETE", "/v3/services"), 405, "volume 3.0"),
            (try harness.get("/drivers/missing", headers: []), 404, "volume 3.0"),
            (try harness.get("/v3/services", headers: [("OpenStack-API-Version", "volume 3.x")]), 400, "volume 3.0"),
            (try harness.get("/v3/services", headers: [("OpenStack-API-Version", "volume 9.0")]), 406, "volume 3.0"),
        ]
        var ids = Set<String>()
        for (response, status, version) in cases {
            #expect(response.status == status)
            #expect(response.header("OpenStack-API-Version") == version)
            #expect(response.header("Vary") == "OpenStack-API-Version")
            let id = try #require(response.header("x-openstack-request-id"))
            #expect(RequestIDGenerator.isValid(id))
            ids.insert(id)
        }
        #expect(ids.count == cases.count)
        #expect(fault(cases[7].0)?.name == "badRequest")
        #expect(fault(cases[8].0)?.name == "notAcceptable")
        #expect(fault(cases[8].0)?.code == 406)
    }

    @Test("os-services: cluster from 3.7, backend_state from 3.49, neither at 3.0")
    func versionedServiceFields() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30, withScheduler: true)
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "ready"))
        func listed(_ version: String?) throws -> [[String: Any]] {
            services(
                try harness.get(
                    "/v3/os-services", headers: version.map { [("OpenStack-API-Version", "volume \($0)")] } ?? []))
        }
        for version in [nil, "3.0", "3.6"] {
            let all = try listed(version)
            #expect(all.count == 2)
            for service in all {
                #expect(service["cluster"] == nil, "\(version ?? "none")")
                #expect(service["backend_state"] == nil, "\(version ?? "none")")
                #expect(service["disabled_reason"] != nil)
            }
            let volume = try #require(all.first { $0["binary"] as? String == "cinder-volume" })
            #expect(volume["frozen"] as? Bool == false)
            #expect(volume["replication_status"] as? String == "disabled")
        }
        for version in ["3.7", "3.48"] {
            for service in try listed(version) {
                #expect(service["cluster"] is NSNull)
                #expect(service["backend_state"] == nil)
            }
        }
        for version in ["3.49", "latest"] {
            let all = try listed(version)
            let volume = try #require(all.first { $0["binary"] as? String == "cinder-volume" })
            let scheduler = try #require(all.first { $0["binary"] as? String == "cinder-scheduler" })
            #expect(volume["backend_state"] as? String == "up")
            #expect(volume["cluster"] is NSNull)
            #expect(scheduler["backend_state"] == nil)
        }
    }

    @Test(
        "actions: unknown ones are 404, log levels need 3.32, failover needs 3.26, failovers are 400 without replication"
    )
    func actions() throws {
        let harness = try APIHarness(
            [TestBackend("nfs-gold")], tick: 30, logLevels: LogLevelRegistry(startLevel: .info))
        defer { harness.stop() }
        let host = #"{"host": "node1@nfs-gold"}"#
        #expect(try harness.send("PUT", "/v3/os-services/explode", json: host).status == 404)
        #expect(try harness.send("PUT", "/v3/os-services/set-log", json: #"{"level": "DEBUG"}"#).status == 404)
        #expect(try harness.send("PUT", "/v3/os-services/get-log", json: "{}").status == 404)
        #expect(
            try harness.send(
                "PUT", "/v3/os-services/failover", json: host,
                headers: [("OpenStack-API-Version", "volume 3.25")]
            ).status == 404)
        for (action, version) in [("failover_host", "3.0"), ("failover", "3.26")] {
            let answer = try harness.send(
                "PUT", "/v3/os-services/\(action)", json: host,
                headers: [("OpenStack-API-Version", "volume \(version)")])
            #expect(answer.status == 400, "\(action)")
            #expect(fault(answer)?.message.contains("no replication configured") == true)
        }
        let unknownHost = try harness.send("PUT", "/v3/os-services/failover_host", json: #"{"host": "node1@nope"}"#)
        #expect(unknownHost.status == 404)
    }

    @Test("set-log changes the process's levels at once; get-log reads them per service")
    func logLevels() throws {
        let registry = LogLevelRegistry(startLevel: .info)
        for label in ["volumed.api", "volumed.access", "volumed.supervision"] { registry.register(label: label) }
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30, withScheduler: true, logLevels: registry)
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "ready"))
        let v332 = [("OpenStack-API-Version", "volume 3.32")]
        let set = try harness.send(
            "PUT", "/v3/os-services/set-log",
            json: #"{"level": "debug", "binary": "cinder-volume", "prefix": "volumed.access"}"#, headers: v332)
        #expect(set.status == 202)
        #expect(registry.level(for: "volumed.access") == .debug)
        #expect(registry.level(for: "volumed.api") == .info)

        let all = try harness.send("PUT", "/v3/os-services/get-log", json: #"{"prefix": "volumed.a"}"#, headers: v332)
        #expect(all.status == 200)
        let entries = try #require(all.json["log_levels"] as? [[String: Any]])
        #expect(
            entries.map { "\($0["binary"]!)@\($0["host"]!)" } == [
                "cinder-api@node1", "cinder-scheduler@node1", "cinder-volume@node1@nfs-gold",
            ])
        for entry in entries {
            #expect(entry["levels"] as? [String: String] == ["volumed.access": "DEBUG", "volumed.api": "INFO"])
        }
        let byServer = try harness.send(
            "PUT", "/v3/os-services/get-log",
            json: #"{"binary": "cinder-volume", "server": "node1"}"#, headers: v332)
        #expect((byServer.json["log_levels"] as? [[String: Any]])?.map { $0["host"] as? String } == ["node1@nfs-gold"])

        let badLevel = try harness.send("PUT", "/v3/os-services/set-log", json: #"{"level": "LOUD"}"#, headers: v332)
        #expect(badLevel.status == 400)
        let badBinary = try harness.send(
            "PUT", "/v3/os-services/get-log", json: #"{"binary": "nova-compute"}"#, headers: v332)
        #expect(badBinary.status == 400)
        // A server that names no service changes nothing.
        #expect(
            try harness.send(
                "PUT", "/v3/os-services/set-log", json: #"{"level": "ERROR", "server": "elsewhere"}"#,
                headers: v332
            ).status == 202)
        #expect(registry.level(for: "volumed.api") == .info)
    }

    @Test("freeze keeps the driver supervised, lists frozen and disabled, leaves get_pools, is stored; thaw undoes it")
    func freezeAndThaw() throws {
        let harness = try APIHarness(
            [TestBackend("nfs-gold"), TestBackend("nfs-silver")], tick: 0.2, withScheduler: true)
        defer { harness.stop() }
        #expect(try waitUntil { try harness.poolNames().count == 2 })
        #expect(try harness.send("PUT", "/v3/os-services/freeze", json: "{}").status == 400)
        #expect(try harness.send("PUT", "/v3/os-services/freeze", json: #"{"host": "node1@nope"}"#).status == 404)

        let frozen = try harness.send("PUT", "/v3/os-services/freeze", json: #"{"host": "node1@nfs-gold"}"#)
        #expect(frozen.status == 200)
        #expect(frozen.body.isEmpty)
        let gold = try #require(
            services(try harness.get("/v3/os-services", headers: [])).first {
                $0["host"] as? String == "node1@nfs-gold"
            })
        #expect(gold["frozen"] as? Bool == true)
        #expect(gold["status"] as? String == "disabled")
        #expect(gold["disabled_reason"] as? String == "frozen")
        #expect(try waitUntil { try harness.poolNames().allSatisfy { !$0.hasPrefix("node1@nfs-gold#") } })
        #expect(try harness.poolNames().count == 1)
        #expect(try harness.driverState("nfs-gold") == "ready")
        #expect(harness.savedState.contains("\"frozen\": true") || harness.savedState.contains("\"frozen\":true"))
        let report = try #require(harness.store?.backends().first { $0.host == "node1@nfs-gold" })
        #expect(report.frozen)

        #expect(try harness.send("PUT", "/v3/os-services/thaw", json: #"{"host": "node1@nfs-gold"}"#).status == 200)
        let thawed = try #require(
            services(try harness.get("/v3/os-services")).first { $0["host"] as? String == "node1@nfs-gold" })
        #expect(thawed["frozen"] as? Bool == false)
        #expect(thawed["status"] as? String == "enabled")
        #expect(try waitUntil { try harness.poolNames().count == 2 })
    }

    @Test("get_pools filters apply from 3.28 (name, capabilities), are ignored below; volume_type is 404 from 3.35")
    func poolFilters() throws {
        let harness = try APIHarness(
            [TestBackend("nfs-gold"), TestBackend("nfs-silver")], tick: 0.2, withScheduler: true)
        defer { harness.stop() }
        #expect(try waitUntil { try harness.poolNames().count == 2 })
        let names = try harness.poolNames()
        func pools(_ query: String, _ version: String) throws -> [String] {
            let answer = try harness.get(
                "/v3/scheduler-stats/get_pools\(query)", headers: [("OpenStack-API-Version", "volume \(version)")])
            return (answer.json["pools"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        }
        let gold = try #require(names.first { $0.contains("@nfs-gold#") })
        let encoded = gold.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? gold
        #expect(try pools("?name=\(encoded)", "3.27") == names)
        #expect(try pools("?name=\(encoded)", "3.28") == [gold])
        #expect(try pools("?volume_backend_name=nfs-silver", "3.28").count == 1)
        #expect(try pools("?volume_backend_name=nfs-silver", "3.28").first?.contains("@nfs-silver#") == true)
        #expect(try pools("?volume_backend_name=nothing", "3.28") == [])
        #expect(try pools("?thin_provisioning_support=true&volume_backend_name=nfs-gold", "3.28").count <= 1)
        let detail = try harness.get(
            "/v3/scheduler-stats/get_pools?detail=true&volume_backend_name=nfs-gold",
            headers: [("OpenStack-API-Version", "volume 3.28")])
        let pool = try #require((detail.json["pools"] as? [[String: Any]])?.first)
        #expect((pool["capabilities"] as? [String: Any])?["volume_backend_name"] as? String == "nfs-gold")
        #expect(
            try harness.get(
                "/v3/scheduler-stats/get_pools?volume_type=gold",
                headers: [("OpenStack-API-Version", "volume 3.35")]
            ).status == 404)
        #expect(try pools("?volume_type=gold", "3.34") == [])
    }

    @Test("auth_strategy noauth accepts user:project tokens from any client; the admin token still works")
    func noauth() throws {
        let request = try HTTPRequest(
            method: .put, target: "/v3/os-services/enable", headers: ["X-Auth-Token": "admin:admin"],
            peer: PeerAddress(family: .ipv4, bytes: [192, 0, 2, 7], port: 1))
        let noauth = AccessPolicy(adminToken: "s3cret", strategy: .noauth)
        #expect(throws: Never.self) { try noauth.authorizeMutation(request) }
        let tokenOnly = AccessPolicy(adminToken: "s3cret")
        #expect(throws: OpenStackFault.self) { try tokenOnly.authorizeMutation(request) }
        let admin = try HTTPRequest(
            method: .put, target: "/", headers: ["X-Auth-Token": "s3cret"],
            peer: PeerAddress(family: .ipv4, bytes: [192, 0, 2, 7], port: 1))
        #expect(throws: Never.self) { try noauth.authorizeMutation(admin) }
        for bad in ["admin", ":admin", "admin:", "a:b:c"] {
            let attempt = try HTTPRequest(
                method: .put, target: "/", headers: ["X-Auth-Token": bad],
                peer: PeerAddress(family: .ipv4, bytes: [192, 0, 2, 7], port: 1))
            #expect(throws: OpenStackFault.self) { try noauth.authorizeMutation(attempt) }
        }
        // Without a token and without noauth, a remote client still cannot write.
        let remote = try HTTPRequest(
            method: .put, target: "/", peer: PeerAddress(family: .ipv4, bytes: [192, 0, 2, 7], port: 1))
        #expect(throws: OpenStackFault.self) {
            try AccessPolicy(adminToken: nil, strategy: .noauth).authorizeMutation(remote)
        }
    }
}
