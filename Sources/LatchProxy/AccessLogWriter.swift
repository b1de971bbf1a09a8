#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers

/// Where access log lines go: standard output, or a file appended to (`O_APPEND`, created `0644`).
///
/// Each line goes out in one `write(2)` with its newline, under a lock, so lines from several event loops
/// never interleave, and appends from other processes to the same file stay whole. A write that fails is
/// counted (`writeErrors`) and the line dropped: the access log never takes the proxy down.
///
/// For logrotate: after the file is renamed away, `reopen()` (on SIGUSR1) starts a new file at `path`.
final class AccessLogWriter: Sendable {
    struct OpenError: Error, CustomStringConvertible, Equatable {
        var path: String
        var code: Int32

        var description: String { "cannot open access log \(path): \(String(cString: strerror(code)))" }
    }

    /// `nil`: standard output.
    let path: String?
    private let state: NIOLockedValueBox<State>

    private struct State {
        var fd: Int32
        var writeErrors = 0
    }

    /// Opens `path` for appending, creating it if needed; `nil` writes to standard output.
    /// - Throws: `OpenError` (`cannot open access log <path>: <reason>`).
    init(path: String?) throws {
        self.path = path
        let fd = try path.map(Self.open) ?? STDOUT_FILENO
        self.state = NIOLockedValueBox(State(fd: fd))
    }

    deinit {
        let fd = state.withLockedValue { $0.fd }
        if path != nil { _ = close(fd) }
    }

    /// Lines that could not be written (and were dropped) so far.
    var writeErrors: Int { state.withLockedValue { $0.writeErrors } }

    /// Writes `line` and a newline. Never throws, never crashes: a failure only counts in `writeErrors`.
    func write(_ line: String) {
        var text = line
        text.append("\n")
        text.withUTF8 { bytes in
            state.withLockedValue { state in
                if !Self.writeAll(bytes, to: state.fd) { state.writeErrors += 1 }
            }
        }
    }

    /// Closes the file and opens `path` again (a new file, once logrotate has moved the old one away).
    /// Nothing to do for standard output. If the new file cannot be opened, lines keep going to the old
    /// one and the error is thrown for the caller to report.
    func reopen() throws {
        guard let path else { return }
        let fd = try Self.open(path)
        let old = state.withLockedValue { state in
            defer { state.fd = fd }
            return state.fd
        }
        _ = close(old)
    }

    private static func open(_ path: String) throws(OpenError) -> Int32 {
        while true {
            #if canImport(Darwin)
            let fd = Darwin.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            #elseif canImport(Musl)
            let fd = Musl.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            #else
            let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            #endif
            if fd >= 0 { return fd }
            if errno != EINTR { throw OpenError(path: path, code: errno) }
        }
    }

    /// One `write(2)` in the usual case; continues after a short write or EINTR. False on any other error
    /// (EAGAIN on a non-blocking standard output included: the line is dropped rather than waited for).
    private static func writeAll(_ bytes: UnsafeBufferPointer<UInt8>, to fd: Int32) -> Bool {
        guard var next = bytes.baseAddress else { return true }
        var left = bytes.count
        while left > 0 {
            #if canImport(Darwin)
            let written = Darwin.write(fd, next, left)
            #elseif canImport(Musl)
            let written = Musl.write(fd, next, left)
            #else
            let written = Glibc.write(fd, next, left)
            #endif
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            if written == 0 { return false }
            next += written
            left -= written
        }
        return true
    }
}
