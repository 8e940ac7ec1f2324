import Testing

@testable import Config

@Suite struct IniDocumentTests {
    func parse(_ text: String) -> IniDocument {
        IniDocument.parse(text: text, fileName: "volumed.conf", baseDirectory: "/etc/volumed")
    }

    @Test func readsSeparatorsCommentsAndQuotes() {
        let document = parse(
            """
            # a comment
            ; another comment
            [DEFAULT]
            host = node1
            storage_availability_zone: az-1
            scheduler_url = http://127.0.0.1:8777/x
            admin_token = "s3cret # not a comment"
            empty =
            colon_then_equal: a=b
            """)
        let values = document.sections["DEFAULT"]!.values
        #expect(values["host"]?.text == "node1")
        #expect(values["host"]?.location == SourceLocation(fileName: "volumed.conf", line: 4))
        #expect(values["storage_availability_zone"]?.text == "az-1")
        #expect(values["scheduler_url"]?.text == "http://127.0.0.1:8777/x")
        #expect(values["admin_token"]?.text == "s3cret # not a comment")
        #expect(values["empty"]?.text == "")
        #expect(values["colon_then_equal"]?.text == "a=b")
        #expect(document.syntaxProblems.isEmpty)
        #expect(
            document.sections["DEFAULT"]!.keys == [
                "host", "storage_availability_zone", "scheduler_url",
                "admin_token", "empty", "colon_then_equal",
            ])
    }

    @Test func joinsContinuationLinesUntilABlankLine() {
        let document = parse(
            """
            [DEFAULT]
            enabled_backends = nfs-1,
                lvm-1,
            \trest-1
            host = a

                stray continuation
            """)
        let values = document.sections["DEFAULT"]!.values
        #expect(values["enabled_backends"]?.text == "nfs-1,\nlvm-1,\nrest-1")
        #expect(values["enabled_backends"]?.location.line == 2)
        #expect(values["host"]?.text == "a")
        #expect(
            document.syntaxProblems.map(\.diagnostic.description) == [
                "volumed.conf:7: indented line continues no option (unexpected continuation line)"
            ])
        #expect(document.syntaxProblems.first?.section == "DEFAULT")
    }

    @Test func lastRepeatedValueWinsAndIsNoted() {
        let document = parse("[DEFAULT]\nhost = a\nhost = b\n[DEFAULT]\nhost = c\n")
        #expect(document.sections["DEFAULT"]!.values["host"]?.text == "c")
        #expect(document.sections["DEFAULT"]!.values["host"]?.location.line == 5)
        #expect(
            document.repeatedOptions.map(\.description) == [
                "volumed.conf:3: host: set again; this value replaces the one on line 2",
                "volumed.conf:5: host: set again; this value replaces the one on line 3",
            ])
    }

    @Test func sectionNamesAreCaseInsensitiveExceptDefaultAndKeysAreCaseSensitive() {
        let document = parse("[NFS-1]\nVolume_Driver = nfs\n[nfs-1]\nvolume_driver = lvm\n[default]\nx = 1\n")
        #expect(document.sectionOrder == ["nfs-1", "default"])
        #expect(document.sections["nfs-1"]!.values["Volume_Driver"]?.text == "nfs")
        #expect(document.sections["nfs-1"]!.values["volume_driver"]?.text == "lvm")
        #expect(document.sections["nfs-1"]!.values["volume_driver"]?.section == "nfs-1")
        #expect(document.sections["DEFAULT"] == nil)
    }

    @Test func handlesCRLFAndByteOrderMark() {
        let document = parse("\u{FEFF}[DEFAULT]\r\nhost = a\r\n  b\r\n\r\nport = 1\r\n")
        #expect(document.sections["DEFAULT"]!.values["host"]?.text == "a\nb")
        #expect(document.sections["DEFAULT"]!.values["port"]?.location.line == 5)
    }

    @Test func reportsEveryMalformedLineWithItsNumber() {
        let document = parse(
            """
            host = early
            [DEFAULT
            []
            [DEFAULT]
            just words
            = value
            [lvm-1]
            also words
            """)
        #expect(
            document.syntaxProblems.map(\.diagnostic.description) == [
                "volumed.conf:1: option \"host\" appears before any [section] header; put it under [DEFAULT]",
                "volumed.conf:2: section header is missing its closing ']'",
                "volumed.conf:3: section header has no name",
                "volumed.conf:5: expected 'option = value', got \"just words\"",
                "volumed.conf:6: option name is empty in \"= value\"",
                "volumed.conf:8: expected 'option = value', got \"also words\"",
            ])
        #expect(document.syntaxProblems.map(\.section) == [nil, nil, nil, "DEFAULT", "DEFAULT", "lvm-1"])
    }

    @Test func indentedCommentAfterAnOptionContinuesItAsInOslo() {
        let document = parse("[DEFAULT]\nhost = a\n  # b\n")
        #expect(document.sections["DEFAULT"]!.values["host"]?.text == "a\n# b")
    }
}
