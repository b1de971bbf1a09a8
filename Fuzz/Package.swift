// swift-tools-version: 6.0
import PackageDescription

/// libFuzzer targets for LatchCore's parsers of hostile input (request targets, Cookie headers,
/// lb.yaml, PROXY protocol headers). A package of its own so the main package's debug builds and tests never see the fuzzer
/// flags; only LatchCore and Yams are compiled here. Build and run with `Scripts/fuzz`.
///
/// `FuzzHarness` is `Sources/FuzzHarness`, a symlink to `Tests/LatchCoreTests/FuzzHarness`: the byte
/// layout and invariant checks are written once and compiled both here and into the test suite,
/// which replays the corpus through them (`FuzzCorpusTests`).
let package = Package(
    name: "LatchFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        // Named, so the product reference below does not depend on the checkout's directory name.
        .package(name: "Latch", path: ".."),
    ],
    targets: [
        .target(name: "FuzzHarness", dependencies: [.product(name: "LatchCore", package: "Latch")]),
        /// Declares `LLVMFuzzerRunDriver`; the definition comes from libFuzzer (`-sanitize=fuzzer`).
        .target(name: "CFuzzerDriver"),
        /// Runs an input through a harness check, and hands the process to libFuzzer.
        .target(name: "FuzzDriver", dependencies: ["CFuzzerDriver"]),
        .executableTarget(name: "FuzzRouteExtractor", dependencies: ["FuzzHarness", "FuzzDriver"]),
        .executableTarget(name: "FuzzConfigLoader", dependencies: ["FuzzHarness", "FuzzDriver"]),
        .executableTarget(name: "FuzzProxyHeader", dependencies: ["FuzzHarness", "FuzzDriver"]),
    ],
    swiftLanguageModes: [.v6]
)
