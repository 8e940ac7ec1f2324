// swift-tools-version: 6.0
// Fuzzing-only package, never a dependency of the product: libFuzzer targets that compile the
// product's HTTPServer, Config and Scheduler sources (linked in by symlink) into their own modules, so the
// harnesses reach internal types (the head scanner, the body reader) without widening the product's
// API. Built and run by scripts/fuzz-run with -sanitize=fuzzer,address; each harness's
// main.swift starts libFuzzer's loop through LLVMFuzzerRunDriver.
import PackageDescription

let package = Package(
    name: "volumed-fuzz",
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .target(name: "CHTTPServer"),
        // Declares libFuzzer's LLVMFuzzerRunDriver, which each harness's main.swift calls.
        .target(name: "CLibFuzzer"),
        // Sources/HTTPServer (symlinked into this target) plus the harness.
        .executableTarget(name: "FuzzHTTPParser", dependencies: [
            "CHTTPServer", "CLibFuzzer", "JSON", "NetworkAddress", .product(name: "Logging", package: "swift-log"),
        ]),
        // Sources/Config (symlinked into this target) plus the harness.
        .executableTarget(name: "FuzzConfig", dependencies: ["CLibFuzzer", "NetworkAddress", "ServiceNames"]),
        // The product's leaf modules (symlinked) that HTTPServer, Config and Scheduler import.
        .target(name: "Clocks"),
        .target(name: "JSON"),
        .target(name: "NetworkAddress"),
        .target(name: "ServiceNames"),
        .target(name: "ServiceVocabulary"),
        // Sources/Scheduler (symlinked into this target) plus the harness: capability report bodies.
        .executableTarget(
            name: "FuzzCapabilityReport",
            dependencies: ["CLibFuzzer", "Clocks", "JSON", "ServiceNames", "ServiceVocabulary"]),
    ]
)
