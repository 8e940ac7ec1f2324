import Foundation
import SharedTestSupport
import Testing

/// Keeps three things in agreement: `openapi/array-api.yaml`, the documents the stand-in array
/// serves in the driver's tests, and what the driver accepts (the off-contract document it rejects
/// must be rejected by the schema too).
@Suite(.offCooperativePool) struct ArrayContractTests {
    static let contract = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../openapi/array-api.yaml").standardizedFileURL.path

    static let checker = #"""
        import importlib.util, sys, yaml, jsonschema
        spec = yaml.safe_load(open(sys.argv[1]))
        loader = importlib.util.spec_from_file_location("array_server", sys.argv[2])
        server = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(server)

        def check(name, document):
            schema = {"$ref": "#/components/schemas/" + name, "components": spec["components"]}
            try:
                jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
                return "valid"
            except jsonschema.ValidationError as error:
                return "invalid: " + error.message

        paths = spec["paths"]
        print("health", check("Health", server.HEALTH))
        print("down", check("Health", server.DOWN))
        print("capacity", check("Capacity", server.CAPACITY))
        print("off-contract", check("Capacity", server.OFF_CONTRACT))
        print("health example", check("Health", paths["/health"]["get"]["responses"]["200"]["content"]["application/json"]["example"]))
        print("capacity example", check("Capacity", paths["/capacity"]["get"]["responses"]["200"]["content"]["application/json"]["example"]))
        """#

    static var pythonHasSchemaTools: Bool {
        (try? run(["-c", "import yaml, jsonschema"]).status) == 0
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try ExternalTool("python3", package: "python3").run(arguments)
        return (result.status, result.stdout + result.stderr)
    }

    @Test(.enabled(if: pythonHasSchemaTools, "needs python3 yaml and jsonschema (scripts/setup --test installs them)"))
    func servedDocumentsMatchTheContract() throws {
        let directory = try TemporaryDirectory()
        let server = try directory.write("array_server.py", ArrayServer.script)
        let checker = try directory.write("check.py", Self.checker)
        let result = try Self.run([checker, Self.contract, server])
        #expect(result.status == 0)
        #expect(
            result.output == """
                health valid
                down valid
                capacity valid
                off-contract invalid: 'lots' is not of type 'number'
                health example valid
                capacity example valid

                """)
    }
}
