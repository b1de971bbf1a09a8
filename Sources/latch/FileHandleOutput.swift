#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum FileHandleOutput {
    /// Unbuffered. What `print` buffered for standard output goes first, so the lines of the two
    /// streams keep their order when both go to one file or pipe (`2>&1`).
    static func writeStderr(_ string: String) {
        fflush(nil)
        var string = string
        string.withUTF8 { bytes in
            _ = write(2, bytes.baseAddress, bytes.count)
        }
    }
}
