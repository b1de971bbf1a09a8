import CFuzzerDriver

/// What both fuzz targets do around their checks; the `@_cdecl` entry points themselves must be
/// written in each executable, as their symbol names differ.
public enum FuzzDriver {
    /// One libFuzzer input through `check`. A broken invariant crashes with its description
    /// (`fatalError` keeps its message in release builds, where `precondition` only traps), so
    /// libFuzzer saves the input and its log says why.
    public static func check(_ data: UnsafePointer<UInt8>?, _ size: Int, _ what: String,
                             _ violations: ([UInt8]) -> [String]) -> CInt {
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        let problems = violations(bytes)
        if !problems.isEmpty {
            fatalError("\(what) invariant broken:\n" + problems.joined(separator: "\n"))
        }
        return 0
    }

    /// Hands the process to libFuzzer. SwiftPM links every Linux executable with
    /// `--defsym main=<Module>_main`, so libFuzzer's own `main` can never run; each target defines
    /// `<Module>_main` to call this instead (see `CFuzzerDriver.h`).
    public static func run(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                           _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt {
        var argc = argc
        var argv = argv
        return LLVMFuzzerRunDriver(&argc, &argv, callback)
    }
}
