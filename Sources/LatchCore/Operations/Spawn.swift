#if canImport(Glibc)
import Glibc

/// Starts programs with `posix_spawn`: the new Latch that SIGUSR2 starts, and the `latch` (or
/// `promtool`, `sh`) processes the tests run. Not Foundation's `Process`: on Linux it lists
/// /proc/self/fd before every start and can read past the end of an entry doing so
/// (swift-corelibs-foundation #5472), a crash that grows likelier with every descriptor the process
/// holds — and a balancer holds many.
///
/// What the child gets from this process, and nothing more:
/// - its standard streams as asked (``Stream``); every other descriptor is closed in the child
///   (`posix_spawn_file_actions_addclosefrom_np`, glibc 2.34 and later), so one opened without
///   `O_CLOEXEC` — a client connection, a listener — does not leak into it either; with an older glibc
///   only close-on-exec descriptors stay behind, as the pipes made here and SwiftNIO's sockets are;
/// - an empty signal mask and every signal at its default action: the threads of Swift's
///   concurrency pool block signals, and Latch ignores SIGPIPE, neither of which a new program
///   expects to start with;
/// - this process's group: a Ctrl-C at the terminal, or a supervisor that signals the group,
///   reaches it too.
public enum Spawn {
    /// Where one of the child's standard streams goes.
    public enum Stream: Sendable, Equatable {
        /// This process's own stream.
        case inherit
        /// `/dev/null`.
        case null
        /// A file: read for standard input; for output, created if missing and appended to.
        case file(String)
        /// A pipe whose other end is the caller's (``ChildProcess/standardInput`` and the others).
        case pipe
    }

    /// Why a program did not start, in the words an operator reads: "cannot start /x/latch: No such
    /// file or directory".
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let executable: String
        /// The `errno` of the call that failed.
        public let code: Int32
        /// What failed before the program could be started (`pipe`, a file for one of its streams),
        /// or `nil`: starting it.
        public let step: String?

        public var description: String {
            "cannot start \(executable): \(step.map { "\($0): " } ?? "")\(String(cString: strerror(code)))"
        }
    }

    /// Whether every descriptor but the standard streams is closed in the child
    /// (`posix_spawn_file_actions_addclosefrom_np`); without it, only close-on-exec ones are.
    public static var closesInheritedDescriptors: Bool { LibC.addCloseFrom != nil }

    /// Starts `executable` (a path; `PATH` is not searched) with `arguments`, `argv[0]` being the
    /// path. The caller waits for it (``ChildProcess/wait()``), or it stays a zombie until this
    /// process ends.
    /// - Parameter environment: the child's whole environment; `nil`: this process's.
    public static func start(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        standardInput: Stream = .inherit, standardOutput: Stream = .inherit, standardError: Stream = .inherit
    ) throws(Failure) -> ChildProcess {
        func check(_ result: Int32, _ step: String) throws(Failure) {
            if result != 0 { throw Failure(executable: executable, code: result, step: step) }
        }
        var actions = posix_spawn_file_actions_t()
        try check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init")
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        try check(posix_spawnattr_init(&attributes), "posix_spawnattr_init")
        defer { posix_spawnattr_destroy(&attributes) }

        // The caller's ends of pipes (closed when released, should the start fail), and the
        // descriptors the child's streams are made from, which are closed here once it has its copies.
        var callerEnds: [PipeEnd?] = [nil, nil, nil]
        var childEnds: [Int32] = []
        defer { childEnds.forEach { _ = close($0) } }
        for (target, stream) in [standardInput, standardOutput, standardError].enumerated() {
            let descriptor = Int32(target)
            let output = target != STDIN_FILENO
            switch stream {
            case .inherit:
                break
            case .null, .file:
                // Opened here rather than in the child, so that a file that cannot be opened is named.
                let path = if case .file(let path) = stream { path } else { "/dev/null" }
                let file = aboveStandardStreams(open(path, (output ? O_WRONLY | O_CREAT | O_APPEND : O_RDONLY) | O_CLOEXEC, 0o644))
                guard file >= 0 else { throw Failure(executable: executable, code: errno, step: path) }
                childEnds.append(file)
                try check(posix_spawn_file_actions_adddup2(&actions, file, descriptor), path)
            case .pipe:
                var ends: [Int32] = [-1, -1]
                guard LibC.pipe2(&ends, O_CLOEXEC) == 0 else { throw Failure(executable: executable, code: errno, step: "pipe") }
                let (opened, callerEnd) = output ? (ends[1], ends[0]) : (ends[0], ends[1])
                let childEnd = aboveStandardStreams(opened)
                guard childEnd >= 0 else {
                    let code = errno
                    _ = close(callerEnd)
                    throw Failure(executable: executable, code: code, step: "pipe")
                }
                childEnds.append(childEnd)
                callerEnds[target] = PipeEnd(callerEnd)
                try check(posix_spawn_file_actions_adddup2(&actions, childEnd, descriptor), "pipe")
            }
        }
        if let addCloseFrom = LibC.addCloseFrom {
            try check(addCloseFrom(&actions, 3), "posix_spawn_file_actions_addclosefrom_np")
        }

        var signals = sigset_t()
        sigemptyset(&signals)
        try check(posix_spawnattr_setsigmask(&attributes, &signals), "posix_spawnattr_setsigmask")
        sigfillset(&signals)
        try check(posix_spawnattr_setsigdefault(&attributes, &signals), "posix_spawnattr_setsigdefault")
        try check(posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)), "posix_spawnattr_setflags")

        var pid = pid_t()
        let result = withCStrings([executable] + arguments) { argv in
            guard let environment else { return posix_spawn(&pid, executable, &actions, &attributes, argv, environ) }
            return withCStrings(environment.map { "\($0.key)=\($0.value)" }) { envp in
                posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            }
        }
        guard result == 0 else { throw Failure(executable: executable, code: result, step: nil) }
        return ChildProcess(
            pid: pid, executable: executable, standardInput: callerEnds[0], standardOutput: callerEnds[1], standardError: callerEnds[2])
    }

    /// `descriptor`, moved to 3 or above when it is a standard stream's number (this process runs
    /// with 0, 1 or 2 closed): the child's streams are put in place by `dup2` actions in order, and
    /// one that read from a number an earlier action had already replaced would get the wrong file.
    /// -1 stays -1 (`errno` says why); a failed move closes the descriptor and gives -1.
    private static func aboveStandardStreams(_ descriptor: Int32) -> Int32 {
        guard descriptor >= 0, descriptor <= STDERR_FILENO else { return descriptor }
        let moved = fcntl(descriptor, F_DUPFD_CLOEXEC, STDERR_FILENO + 1)
        let code = errno
        _ = close(descriptor)
        errno = code
        return moved
    }

    /// `strings` as the null-terminated array of C strings `argv` and `envp` are, for `body`.
    private static func withCStrings<Result>(
        _ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Result
    ) -> Result {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// glibc functions Swift's Glibc module leaves out (they are declared only under `_GNU_SOURCE`),
/// looked up by name in the C library the process already runs on.
enum LibC {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

    /// `pipe2(2)`: both ends made close-on-exec at once, so a program another thread starts
    /// meanwhile cannot inherit them. In glibc since 2.9.
    static let pipe2: Pipe2 = function("pipe2") ?? { ends, flags in
        guard let ends, pipe(ends) == 0 else { return -1 }
        _ = fcntl(ends[0], F_SETFD, flags & O_CLOEXEC != 0 ? FD_CLOEXEC : 0)
        _ = fcntl(ends[1], F_SETFD, flags & O_CLOEXEC != 0 ? FD_CLOEXEC : 0)
        return 0
    }

    /// `posix_spawn_file_actions_addclosefrom_np(3)`, glibc 2.34 and later.
    static let addCloseFrom: AddCloseFrom? = function("posix_spawn_file_actions_addclosefrom_np")

    private static func function<Function>(_ name: String) -> Function? {
        // A null handle is RTLD_DEFAULT: the symbol as the process's own lookup finds it.
        dlsym(nil, name).map { unsafeBitCast($0, to: Function.self) }
    }
}
#endif
