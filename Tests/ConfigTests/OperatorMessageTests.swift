import Foundation
import SharedTestSupport
import Testing

@testable import Config

/// Messages an operator reads for the mistakes people make in a cinder.conf: each names the file
/// and line and says what to do.
@Suite struct OperatorMessageTests {
    @Test func aMultiLineValueStaysOneLineInMessages() throws {
        let configuration = ConfigFile.inspect(
            text: """
                [DEFAULT]
                reinit_driver_count = 3
                  more
                """, fileName: "volumed.conf")
        #expect(
            configuration.problems.map(\.description) == [
                #"volumed.conf:2: reinit_driver_count: expected a whole number >= 0, got "3\nmore""#
            ])
    }

    @Test func notUTF8NamesTheLineAndByte() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/latin1.conf"
        try Data("[DEFAULT]\nhost = n".utf8 + [0xE9] + "ud1\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(
            ConfigFile.inspect(path: path).problems.map(\.description) == [
                "\(path):2: the file is not UTF-8 text (byte 0xE9 at column 9); save it as UTF-8"
            ])
        // A sequence cut off at the end of the file.
        try Data("[DEFAULT]\n# caf".utf8 + [0xC3]).write(to: URL(fileURLWithPath: path))
        #expect(
            ConfigFile.inspect(path: path).problems.map(\.description) == [
                "\(path):2: the file is not UTF-8 text (byte 0xC3 at column 6); save it as UTF-8"
            ])
    }

    @Test func anEmptyFileIsFatal() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/empty.conf"
        for text in ["", "\n\n", "# only a comment\n; and another\n"] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let error = #expect(throws: ConfigError.self) { try ConfigFile.load(path: path) }
            #expect(
                error?.description
                    == "\(path): the file has no [section] (it is empty or only comments); write a [DEFAULT] section with enabled_backends"
            )
        }
        try "[DEFAULT]\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(ConfigFile.inspect(path: path).problems.isEmpty)
    }

    @Test func aDirectoryIsNamedAsOne() throws {
        let directory = try TemporaryDirectory()
        #expect(
            ConfigFile.inspect(path: directory.path).problems.map(\.description) == [
                "\(directory.path): cannot read the file: it is a directory; give the path of the configuration file itself"
            ])
    }
}
