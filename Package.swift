// swift-tools-version: 6.0
// volumed: a block-storage volume service that supervises backend drivers and brings failed ones back.
import PackageDescription

let package = Package(
    name: "volumed",
    products: [
        .executable(name: "volumed", targets: ["volumed"])
    ],
    dependencies: [
        // Command-line parsing with generated --help for every subcommand; far better than our own.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The standard logging API of server-side Swift; lets tests and the CLI pick the backend.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        // libcurl as Debian ships it, found through pkg-config.
        .systemLibrary(
            name: "CLibcurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev", "libnghttp2-dev"])]
        ),
        // Fixed-type C wrappers over libcurl's variadic calls, which Swift cannot call.
        .target(name: "CCurl", dependencies: ["CLibcurl"]),
        .target(name: "CurlClient", dependencies: ["CCurl"]),
        // epoll, eventfd and accept4, which the Glibc module does not import, for HTTPServer.
        .target(name: "CHTTPServer"),
        // The one rule for listen addresses, shared by Config (check) and HTTPServer (bind).
        .target(name: "NetworkAddress"),
        .target(
            name: "HTTPServer",
            dependencies: ["CHTTPServer", "NetworkAddress", .product(name: "Logging", package: "swift-log")]),
        // The one time source: a monotonic clock for deadlines and durations, the wall clock for what is
        // shown or sent. A leaf, so every module that reads the time takes the same injectable clock.
        .target(name: "Clocks"),
        // Cinder's backend_state and service status: the words a volume service and the scheduler share.
        .target(name: "ServiceVocabulary"),
        .target(
            name: "Supervision",
            dependencies: ["Clocks", "ServiceVocabulary", .product(name: "Logging", package: "swift-log")]),
        // The one JSON of volumed: a strict parser that keeps member order and number text, and the
        // writer every body comes out of. A leaf: every module that reads or writes JSON imports it.
        .target(name: "JSON"),
        // The one rule for the names in `host@backend#pool`, shared by Config, Drivers and Scheduler.
        .target(name: "ServiceNames"),
        .target(name: "Config", dependencies: ["ServiceNames", "NetworkAddress"]),
        .target(name: "Scheduler", dependencies: ["Clocks", "JSON", "ServiceNames", "ServiceVocabulary"]),
        .target(name: "Drivers", dependencies: ["Supervision", "CurlClient", "Config", "JSON", "ServiceNames"]),
        // Operator decisions (disable, enable, freeze): the store seam, one writer, durable before answered.
        .target(
            name: "ServiceDecisions", dependencies: ["Supervision", .product(name: "Logging", package: "swift-log")]),
        // The etcd v3 client (JSON gateway over CurlClient) and the cluster's key layout; Scheduler for
        // the capability reports and timestamps it stores, ServiceDecisions for the operator decisions
        // it keeps.
        .target(
            name: "Coordination",
            dependencies: ["Clocks", "CurlClient", "JSON", "Scheduler", "ServiceDecisions", "Supervision"]),
        .target(
            name: "VolumeAPI",
            dependencies: [
                "Clocks", "HTTPServer", "JSON", "Supervision", "Scheduler", "ServiceDecisions",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "VolumeService",
            dependencies: [
                "Clocks", "HTTPServer", "JSON", "Supervision", "Scheduler", "Config", "Drivers", "CurlClient",
                "VolumeAPI", "ServiceDecisions", "Coordination",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "volumed",
            dependencies: [
                "VolumeService", "VolumeAPI", "Config", "Drivers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Helpers more than one test target uses. A plain target so test targets can import it; no
        // product depends on it, so none of it reaches the volumed binary.
        .target(name: "SharedTestSupport", dependencies: ["Clocks"], path: "Tests/SharedTestSupport"),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "SharedTestSupport"]),
        .testTarget(name: "SupervisionTests", dependencies: ["Clocks", "Supervision", "SharedTestSupport"]),
        .testTarget(name: "CurlClientTests", dependencies: ["CurlClient", "HTTPServer", "SharedTestSupport"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "SharedTestSupport"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "SchedulerTests", dependencies: ["Clocks", "JSON", "Scheduler", "SharedTestSupport"]),
        .testTarget(name: "DriversTests", dependencies: ["Drivers", "Supervision", "HTTPServer", "SharedTestSupport"]),
        .testTarget(
            name: "VolumeAPITests",
            dependencies: [
                "Clocks", "VolumeAPI", "HTTPServer", "Supervision", "Scheduler", "SharedTestSupport",
                "ServiceDecisions", "VolumeService",
            ]),
        .testTarget(
            name: "CoordinationTests", dependencies: ["Coordination", "JSON", "Scheduler", "SharedTestSupport"]),
        // A host's membership of an etcd cluster (VolumeService over Coordination) against real etcd.
        .testTarget(
            name: "ClusterTests",
            dependencies: [
                "VolumeService", "Coordination", "JSON", "Supervision", "Scheduler", "ServiceDecisions",
                "SharedTestSupport",
            ]),
        .testTarget(
            name: "VolumedTests",
            dependencies: [
                "VolumeService", "CurlClient", "ServiceDecisions", "Supervision", "Coordination", "SharedTestSupport",
            ]),
    ]
)

// Every Swift target spells existential types `any P`, so a reader sees where dynamic dispatch and
// boxing happen (Swift 6's upcoming default).
let cTargets: Set<String> = ["CLibcurl", "CCurl", "CHTTPServer"]
for target in package.targets where !cTargets.contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("ExistentialAny")]
}
