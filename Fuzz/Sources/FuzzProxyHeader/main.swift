import FuzzDriver
import FuzzHarness

/// libFuzzer's callback: each input is the first bytes of a connection on a `proxy_protocol` listener.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProxyHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzDriver.check(data, size, "proxy header") { ProxyHeaderFuzzHarness.violations(bytes: $0) }
}

/// The entry point SwiftPM aliases `main` to.
@_cdecl("FuzzProxyHeader_main")
public func fuzzProxyHeaderMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { fuzzProxyHeader($0, $1) }
}
