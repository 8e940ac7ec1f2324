import Foundation
import SharedTestSupport
import Testing

/// Runs `scripts/openapi-check` against a live server, so the spec and the server cannot drift.
@Suite(
    "OpenAPI conformance", .offCooperativePool,
    .enabled(if: Tool.available("python3"), "python3 is not installed; scripts/setup --test installs it"))
struct OpenAPIConformanceTests {
    static let packageRoot = URL(fileURLWithPath: repositoryRoot)

    /// Runs python3 with `arguments` from the package root; returns the exit status and output.
    static func runPython(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try ExternalTool("python3", package: "python3").run(arguments, directory: repositoryRoot)
        return (result.status, result.stdout + result.stderr)
    }

    /// Runs the checker against a live one-backend server with a copy of the spec in which `original`
    /// (which must occur) is replaced by `edited`.
    static func checkAgainstEditedSpec(replacing original: String, with edited: String) throws -> (
        status: Int32, output: String
    ) {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 30)
        defer { harness.stop() }
        let spec = try String(contentsOf: packageRoot.appendingPathComponent("openapi/openapi.yaml"), encoding: .utf8)
        try #require(spec.contains(original), "the spec no longer contains \(original)")
        let directory = try TemporaryDirectory()
        let path = try directory.write("openapi-edited.yaml", spec.replacingOccurrences(of: original, with: edited))
        return try withExtendedLifetime(directory) {
            try runPython(["scripts/openapi-check", harness.baseURL, "--spec", path])
        }
    }

    @Test("the spec is valid OpenAPI 3.1")
    func specIsValid() throws {
        let result = try Self.runPython(["-m", "openapi_spec_validator", "openapi/openapi.yaml"])
        #expect(result.status == 0, "\(result.output)")
    }

    @Test("a volume service with an in-process scheduler and backends in every state matches the spec")
    func liveServerMatchesSpec() throws {
        let harness = try APIHarness(
            [
                TestBackend("nfs-gold"),
                TestBackend("nfs-silver", storagePresent: false, reinitDriverCount: 0),
                TestBackend("lvm-1", misconfigured: true),
                TestBackend("lvm-2", storagePresent: false, reinitDriverCount: 1),
            ], tick: 0.2, adminToken: "openapi-token", withScheduler: true)
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "ready"))
        #expect(try harness.waitForState("lvm-1", "failed"))
        #expect(try harness.waitForState("lvm-2", "exhausted"))
        #expect(try waitUntil { try harness.poolNames() == ["node1@nfs-gold#nfs-gold"] })

        let result = try Self.runPython([
            "scripts/openapi-check", harness.baseURL, "--token", "openapi-token",
            "--reinit", "lvm-2", "--post-report",
        ])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("all match"))
    }

    @Test("a volume service without a scheduler or token matches the spec too")
    func volumeOnlyMatchesSpec() throws {
        let harness = try APIHarness([TestBackend("nfs-gold")], tick: 0.2)
        defer { harness.stop() }
        #expect(try harness.waitForState("nfs-gold", "ready"))
        let result = try Self.runPython(["scripts/openapi-check", harness.baseURL])
        #expect(result.status == 0, "\(result.output)")
    }

    @Test("the checker reports a mismatch when the server and the spec disagree")
    func checkerCatchesDrift() throws {
        // A copy of the spec whose driver schema demands a field the server never sends.
        let result = try Self.checkAgainstEditedSpec(
            replacing: "required: [id, host, volume_driver,", with: "required: [serial_number, id, host, volume_driver,"
        )
        #expect(result.status == 1)
        #expect(result.output.contains("'serial_number' is a required property"))
    }

    @Test("the checker reports a request schema looser than the server")
    func checkerCatchesLooseRequestSchema() throws {
        // A copy of the spec that lets the binary be empty, which the server refuses.
        let result = try Self.checkAgainstEditedSpec(
            replacing: "- { required: [binary], properties: { binary: { type: string, minLength: 1 } } }",
            with: "- { required: [binary], properties: { binary: { type: string } } }")
        #expect(result.status == 1)
        #expect(result.output.contains("the server refused (400) a request body the spec accepts"))
    }
}
