// swift-tools-version: 6.1
import PackageDescription

/// Microbenchmarks of LatchCore's per-request routing code with ordo-one/benchmark, including
/// allocations per request. A package of its own so the main package's builds, tests and CI never
/// compile the benchmark library; only LatchCore and Yams are compiled from the main package. Run and
/// check with `Scripts/microbench` (release build, scratch `Benchmarks/.build`).
///
/// The `MallocInterposer` trait gives the malloc counts (mallocCountTotal, mallocFreeDelta) on Swift
/// 6.3+; naming it here leaves the library's other default trait (RuntimeInterposer) off.
let package = Package(
    name: "LatchBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // Named, so the product reference below does not depend on the checkout's directory name.
        .package(name: "Latch", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "Routing",
            dependencies: [
                .product(name: "LatchCore", package: "Latch"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Routing",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
