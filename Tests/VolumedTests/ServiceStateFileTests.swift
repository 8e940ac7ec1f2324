import Foundation
import ServiceDecisions
import SharedTestSupport
import Supervision
import Testing
import VolumeService

/// The state file on its own: the formats it reads, the files it refuses, and how it writes.
@Suite(.offCooperativePool) struct ServiceStateFileTests {
    static let host = "node1"

    private func withDirectory(_ body: (String) throws -> Void) throws {
        let dir = temporaryDirectory("statefile-unit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(dir)
    }

    @Test func versionOneFilesAreCarriedOverToServiceKeys() throws {
        try withDirectory { dir in
            try
                #"{"version": 1, "services": {"gold": {"disabled": true, "disabled_reason": "firmware"}, "silver": {"disabled": false}}}"#
                .write(toFile: dir + "/service-state.json", atomically: true, encoding: .utf8)
            let loaded = try ServiceStateFile(directory: dir).load(host: Self.host)
            #expect(
                loaded == [
                    .volume(host: Self.host, backend: "gold"): AdminState(disabled: true, disabledReason: "firmware")
                ])
        }
    }

    @Test func decisionsRoundTripWithFrozenAndServicesNotConfigured() throws {
        try withDirectory { dir in
            let file = try ServiceStateFile(directory: dir)
            let all: [ServiceKey: AdminState] = [
                .volume(host: "node1", backend: "gold"): AdminState(
                    disabled: true, disabledReason: "a \"quoted\"\nreason"),
                .volume(host: "other", backend: "gone"): AdminState(disabled: false, frozen: true),
            ]
            try file.commit(all.first!.value, for: all.first!.key, all: all)
            #expect(try ServiceStateFile(directory: dir).load(host: Self.host) == all)
            let text = try String(contentsOfFile: dir + "/service-state.json", encoding: .utf8)
            #expect(
                text.hasPrefix(#"{"version": 2, "services": [{"host": "node1@gold", "binary": "cinder-volume""#),
                "\(text)")
        }
    }

    @Test(arguments: ["99", "1.5", "-1", "0"])
    func anUnknownVersionIsRefusedNamingTheVersionsUnderstood(version: String) throws {
        try withDirectory { dir in
            try #"{"version": \#(version), "services": []}"#.write(
                toFile: dir + "/service-state.json", atomically: true, encoding: .utf8)
            let error = #expect(throws: DecisionStoreError.self) {
                try ServiceStateFile(directory: dir).load(host: Self.host)
            }
            #expect(
                error == .unsupportedVersion(path: dir + "/service-state.json", found: version, understood: [1, 2]))
            #expect(
                error?.description.contains(
                    "has \"version\": \(version), which this volumed does not understand (it reads version 1 and 2)")
                    == true,
                "\(String(describing: error))")
        }
    }

    @Test func aDanglingSymlinkIsRefused() throws {
        try withDirectory { dir in
            try FileManager.default.createSymbolicLink(
                atPath: dir + "/service-state.json", withDestinationPath: dir + "/nowhere.json")
            let error = #expect(throws: DecisionStoreError.self) {
                try ServiceStateFile(directory: dir).load(host: Self.host)
            }
            let text = error?.description ?? ""
            #expect(
                text.contains("service-state.json: it is a symbolic link to \(dir)/nowhere.json, which does not exist"),
                "\(text)")
        }
    }

    @Test func aSymlinkToAValidFileIsRefusedToo() throws {
        try withDirectory { dir in
            try #"{"version": 2, "services": []}"#.write(
                toFile: dir + "/elsewhere.json", atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(
                atPath: dir + "/service-state.json", withDestinationPath: dir + "/elsewhere.json")
            let error = #expect(throws: DecisionStoreError.self) {
                try ServiceStateFile(directory: dir).load(host: Self.host)
            }
            #expect(error?.description.contains("never reads or writes its state through a link") == true)
        }
    }

    @Test func aDirectoryInPlaceOfTheFileIsRefused() throws {
        try withDirectory { dir in
            try FileManager.default.createDirectory(
                atPath: dir + "/service-state.json", withIntermediateDirectories: false)
            let error = #expect(throws: DecisionStoreError.self) {
                try ServiceStateFile(directory: dir).load(host: Self.host)
            }
            #expect(error?.description.contains("it is not a regular file (a directory)") == true)
        }
    }

    /// The old writer used `service-state.json.tmp.<pid>` opened with O_CREAT|O_TRUNC: a link
    /// planted under that name had its target overwritten.
    @Test func aLinkPlantedAtTheOldTemporaryNameIsNotWrittenThrough() throws {
        try withDirectory { dir in
            let victim = dir + "/victim"
            try "precious\n".write(toFile: victim, atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(
                atPath: dir + "/service-state.json.tmp.\(getpid())", withDestinationPath: victim)
            let file = try ServiceStateFile(directory: dir)
            let key = ServiceKey.volume(host: Self.host, backend: "gold")
            try file.commit(AdminState(disabled: true), for: key, all: [key: AdminState(disabled: true)])
            #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
            #expect(try file.load(host: Self.host) == [key: AdminState(disabled: true)])
            // No temporary file is left behind, and two temporary names never repeat or carry the pid.
            let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".tmp") }
            #expect(names.isEmpty, "\(names)")
        }
    }

    @Test func aFileThatIsNotJSONSaysWhereItBroke() throws {
        try withDirectory { dir in
            try "{\"version\": 2, \"services\": [".write(
                toFile: dir + "/service-state.json", atomically: true, encoding: .utf8)
            let error = #expect(throws: DecisionStoreError.self) {
                try ServiceStateFile(directory: dir).load(host: Self.host)
            }
            #expect(
                error?.description.contains("is not a volumed state file (invalid JSON at byte") == true,
                "\(String(describing: error))")
        }
    }
}
