// swift-tools-version: 6.0
// Benchmark-only executable: volumed's HTTPServer (its sources, linked in by symlink so the product
// package needs no extra library product) serving a fixed body. Built by scripts/bench-http.
import PackageDescription

let package = Package(
    name: "volumed-http-bench",
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .target(name: "CHTTPServer"),
        .target(name: "NetworkAddress"),
        .target(name: "JSON"),
        .target(name: "HTTPServer", dependencies: ["CHTTPServer", "NetworkAddress", .product(name: "Logging", package: "swift-log")]),
        // The road not taken: bare Dispatch read sources, no parsing, for a same-run comparison.
        .executableTarget(name: "dispatch-bare"),
        // VolumeAPI's OpenStack exchange hooks and faults (the same files, by symlink), for the
        // with/without comparison of the microversion and request-id headers.
        .target(name: "OpenStackHooks", dependencies: ["HTTPServer", "JSON", .product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "volumed-http-bench", dependencies: [
            "HTTPServer", "OpenStackHooks", .product(name: "Logging", package: "swift-log"),
        ]),
    ]
)
