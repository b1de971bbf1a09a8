#if canImport(Glibc)
import Foundation
import Glibc
import Synchronization

/// A program ``Spawn`` started: its pid, the caller's ends of the pipes it was given, and how it
/// ended once it has. Waiting reaps it; a child nobody waits for stays a zombie until this process ends.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    public let executable: String
    /// The ends of the pipes asked for with ``Spawn/Stream/pipe``: the child reads the first, writes
    /// the others. Closed when this is released.
    public let standardInput: PipeEnd?
    public let standardOutput: PipeEnd?
    public let standardError: PipeEnd?
    /// Set once, when the child is reaped.
    private let ended = Mutex<Termination?>(nil)

    init(pid: pid_t, executable: String, standardInput: PipeEnd?, standardOutput: PipeEnd?, standardError: PipeEnd?) {
        self.pid = pid
        self.executable = executable
        self.standardInput = standardInput
        self.standardOutput = standardOutput
        self.standardError = standardError
    }

    /// How a child ended.
    public enum Termination: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case killed(signal: Int32)
        /// Reaped by someone else (SIGCHLD ignored, or a `waitpid(-1)`): gone, how is not known.
        case unobserved

        public var description: String {
            switch self {
            case .exited(let status): "exited with status \(status)"
            case .killed(let signal): "killed by signal \(signal) (\(String(cString: strsignal(signal))))"
            case .unobserved: "ended, reaped elsewhere"
            }
        }

        /// From a `waitpid` status (`WIFEXITED`, `WTERMSIG`: C macros Swift does not import).
        init(status: Int32) {
            let signal = status & 0x7f
            self = signal == 0 ? .exited((status >> 8) & 0xff) : .killed(signal: signal)
        }
    }

    /// How it ended, or `nil` while it runs; reaps it if it has ended, without waiting.
    public var termination: Termination? {
        ended.withLock { ended in
            if ended == nil { ended = Self.reap(pid) }
            return ended
        }
    }

    public var isRunning: Bool { termination == nil }

    /// Sends `signal`, unless the child has been reaped (its pid may be another process's by now).
    public func terminate(signal: Int32 = SIGTERM) {
        ended.withLock { ended in
            if ended == nil { _ = kill(pid, signal) }
        }
    }

    /// Waits for the child to end and reaps it; at once if it has been.
    @discardableResult
    public func wait() -> Termination {
        while true {
            if let termination { return termination }
            // Blocks until it has ended without reaping it (WNOWAIT), so the lock is not held while
            // waiting: `termination` answers other threads meanwhile, and reaps it here next time round.
            var info = siginfo_t()
            if waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0, errno != EINTR {
                return ended.withLock { ended in
                    if ended == nil { ended = .unobserved }
                    return ended!
                }
            }
        }
    }

    /// Waits on a thread of its own (a child may run as long as this process does, too long to
    /// hold a thread of a shared pool), then calls `ended`.
    public func waitInBackground(then ended: @escaping @Sendable (Termination) -> Void = { _ in }) {
        Thread.detachNewThread { ended(self.wait()) }
    }

    /// `waitpid` without waiting: how `pid` ended, `nil` while it runs.
    private static func reap(_ pid: pid_t) -> Termination? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return Termination(status: status) }
            if result == 0 { return nil }
            if errno != EINTR { return .unobserved }
        }
    }
}

/// This process's end of a pipe to a child's standard stream. Closed when released. One reader or
/// writer at a time: `close` on one thread while another reads leaves that read to an unknown fate.
public final class PipeEnd: Sendable {
    /// -1 once closed.
    private let open: Mutex<Int32>

    init(_ descriptor: Int32) {
        open = Mutex(descriptor)
    }

    deinit {
        close()
    }

    var descriptor: Int32 { open.withLock { $0 } }

    /// What has come since the last read, waiting for some; empty at the end (the child closed its
    /// end, or ended) or on an error.
    public func read() -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let fd = descriptor
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count >= 0 { return Array(buffer[..<count]) }
            if errno != EINTR { return [] }
        }
    }

    /// Everything until the child closes its end.
    public func readToEnd() -> [UInt8] {
        var all: [UInt8] = []
        while case let chunk = read(), !chunk.isEmpty { all += chunk }
        return all
    }

    /// Writes all of `bytes`, waiting for room; `false` when the child closed its end first.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        var rest = bytes[...]
        while !rest.isEmpty {
            guard let count = writeSome(rest) else { return false }
            rest = rest.dropFirst(count)
        }
        return true
    }

    /// One `write`: how many bytes went (0 if a non-blocking pipe is full), `nil` once the child
    /// closed its end (EPIPE, without the SIGPIPE that would end this process) or on an error.
    func writeSome(_ bytes: ArraySlice<UInt8>) -> Int? {
        let fd = descriptor
        return Self.withoutSIGPIPE {
            while true {
                let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if count >= 0 { return count }
                if errno == EAGAIN { return 0 }
                if errno != EINTR { return nil }
            }
        }
    }

    /// Closes it: for a child's standard input, the end of its input.
    public func close() {
        open.withLock { descriptor in
            if descriptor >= 0 { _ = Glibc.close(descriptor) }
            descriptor = -1
        }
    }

    /// Runs `body` with SIGPIPE blocked on this thread, and discards the SIGPIPE a write to a closed
    /// pipe raised meanwhile (it is this thread's, pending; `write` said EPIPE already).
    private static func withoutSIGPIPE<Result>(_ body: () -> Result) -> Result {
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        defer {
            var pending = sigset_t()
            if sigismember(&previous, SIGPIPE) == 0, sigpending(&pending) == 0, sigismember(&pending, SIGPIPE) == 1 {
                var now = timespec()
                _ = sigtimedwait(&pipeSignal, nil, &now)
            }
            pthread_sigmask(SIG_SETMASK, &previous, nil)
        }
        return body()
    }
}
#endif
