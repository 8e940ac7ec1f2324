// swift-tools-version: 6.0
// Benchmark peer only: Hummingbird 2 serving the same body as volumed's server. Never a dependency of
// the product; built by scripts/bench-http in its own .build.
import PackageDescription

let package = Package(
    name: "hummingbird-peer",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    ],
    targets: [
        .executableTarget(name: "hummingbird-peer", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
    ]
)
