// swift-tools-version: 6.0
import PackageDescription

/// The HTTP/2 floor row of `Scripts/bench`: the least a SwiftNIO program does to relay HTTP/2 streams
/// to HTTP/1.1 nodes (TLS, swift-nio-http2 at frame level with no stream channels, NIOHTTP1's client
/// codec toward the nodes), the cost of the libraries themselves beside Latch's. A package of its own,
/// as `Benchmarks/Floor` is, so the HTTP/1 floor does not build swift-nio-ssl.
let package = Package(
    name: "LatchH2Floor",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.100.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
    ],
    targets: [
        .executableTarget(
            name: "H2Floor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
