import FuzzDriver
import FuzzHarness

/// libFuzzer's callback: one request per input, decoded as `RouteFuzzInput` describes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRouteExtractor(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzDriver.check(data, size, "route") { RouteFuzzHarness.violations(RouteFuzzInput(bytes: $0)) }
}

/// The entry point SwiftPM aliases `main` to.
@_cdecl("FuzzRouteExtractor_main")
public func fuzzRouteExtractorMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { fuzzRouteExtractor($0, $1) }
}
