// swift-tools-version: 6.0
import PackageDescription

/// The floor row of `Scripts/bench` and `Scripts/instructions --floor`: a bare SwiftNIO byte relay,
/// the cost of SwiftNIO itself beside Latch's. A package of its own (scratch `Benchmarks/Floor/.build`)
/// rather than a target of the microbenchmark package, whose benchmark plugin runs every executable
/// target there as a benchmark.
let package = Package(
    name: "LatchFloor",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.100.0"),
    ],
    targets: [
        .executableTarget(
            name: "Floor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
