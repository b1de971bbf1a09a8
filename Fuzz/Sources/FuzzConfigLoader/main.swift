import FuzzDriver
import FuzzHarness

/// libFuzzer's callback: each input is a whole `lb.yaml`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigLoader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzDriver.check(data, size, "config") { ConfigFuzzHarness.violations(bytes: $0) }
}

/// The entry point SwiftPM aliases `main` to.
@_cdecl("FuzzConfigLoader_main")
public func fuzzConfigLoaderMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { fuzzConfigLoader($0, $1) }
}
