#if canImport(Glibc)
import Foundation
import Glibc
import Testing

@testable import LatchCore

/// ``Spawn``: programs started with `posix_spawn`, their streams, how they ended, and what they inherit.
@Suite("starting programs", .timeLimit(.minutes(1)))
struct SpawnTests {
    static func shell(_ script: String, input: String = "", environment: [String: String]? = nil) throws -> Spawn.Outcome {
        try Spawn.run("/bin/sh", ["-c", script], environment: environment, input: input)
    }

    @Test("the exit status, and the signal that killed the program, in words")
    func termination() throws {
        #expect(try Self.shell("exit 0").status == .exited(0))
        #expect(try Self.shell("exit 3").status == .exited(3))
        let killed = try Self.shell("kill -KILL $$").status
        #expect(killed == .killed(signal: SIGKILL))
        #expect("\(killed)" == "killed by signal 9 (Killed)")
        #expect("\(ChildProcess.Termination.exited(2))" == "exited with status 2")
    }

    @Test("standard output and standard error are collected apart, standard input is fed")
    func streams() throws {
        let printed = try Self.shell("printf out; printf err >&2")
        #expect(printed.stdout == "out")
        #expect(printed.stderr == "err")
        #expect(try Self.shell("cat", input: "line 1\nline 2\n").stdout == "line 1\nline 2\n")
        #expect(try Self.shell("cat").stdout == "", "no input: /dev/null")
    }

    @Test("more than a pipe holds on every stream at once does not deadlock")
    func largeStreams() throws {
        let input = String(repeating: "0123456789abcdef", count: 64 * 1024)
        let echoed = try Self.shell("head -c 300000 /dev/zero | tr '\\0' e >&2; cat", input: input)
        #expect(echoed.status == .exited(0))
        #expect(echoed.stdout == input)
        #expect(echoed.stderr.utf8.count == 300_000)
        // The child reads none of it and exits: the rest of the input is dropped, without SIGPIPE here.
        #expect(try Self.shell("exit 4", input: input).status == .exited(4))
    }

    @Test("the environment is this process's unless one is given")
    func environment() throws {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? ""
        #expect(try Self.shell("printf %s \"$HOME\"").stdout == home)
        let given = try Self.shell("printf '%s,%s' \"$LATCH_SPAWN\" \"$HOME\"", environment: ["LATCH_SPAWN": "a=b c"])
        #expect(given.stdout == "a=b c,")
    }

    @Test("a program that cannot start is named with the reason")
    func missingExecutable() {
        #expect(throws: Spawn.Failure(executable: "/nonexistent/latch", code: ENOENT, step: nil)) {
            try Spawn.start("/nonexistent/latch", ["run"])
        }
        #expect("\(Spawn.Failure(executable: "/nonexistent/latch", code: ENOENT, step: nil))" == "cannot start /nonexistent/latch: No such file or directory")
        #expect(throws: Spawn.Failure(executable: "/bin/sh", code: ENOENT, step: "/nonexistent/latch.log")) {
            try Spawn.start("/bin/sh", ["-c", "exit 0"], standardError: .file("/nonexistent/latch.log"))
        }
        #expect("\(Spawn.Failure(executable: "/bin/sh", code: ENOENT, step: "/nonexistent/latch.log"))"
            == "cannot start /bin/sh: /nonexistent/latch.log: No such file or directory")
        let notProgram = FileManager.default.temporaryDirectory.path
        #expect(throws: Spawn.Failure(executable: notProgram, code: EACCES, step: nil)) {
            try Spawn.start(notProgram, [])
        }
    }

    @Test("output to a file is appended; to /dev/null it is gone")
    func files() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("latch-spawn-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        for word in ["one", "two"] {
            let child = try Spawn.start("/bin/sh", ["-c", "echo \(word); echo \(word) >&2"], standardOutput: .null, standardError: .file(path))
            #expect(child.wait() == .exited(0))
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "one\ntwo\n")
        let reading = try Spawn.start("/bin/cat", [], standardInput: .file(path), standardOutput: .pipe)
        #expect(reading.standardOutput?.readToEnd() == Array("one\ntwo\n".utf8))
        #expect(reading.wait() == .exited(0))
    }

    /// From a task: a thread of the concurrency pool blocks signals, which the child must not keep.
    @Test("a running program is signalled, reaped once, and seen running until then")
    func terminate() async throws {
        let child = try Spawn.start("/bin/sleep", ["30"], standardInput: .pipe, standardOutput: .pipe)
        #expect(child.isRunning && child.termination == nil)
        child.terminate()
        #expect(child.wait() == .killed(signal: SIGTERM))
        #expect(child.termination == .killed(signal: SIGTERM) && !child.isRunning)
        #expect(child.standardOutput?.read() == [], "its end closed: the end of file")
        #expect(child.standardInput?.write(Array("late".utf8)) == false, "nobody reads: EPIPE, not SIGPIPE")
        child.terminate()
        #expect(child.wait() == .killed(signal: SIGTERM))

        let ended = try Spawn.start("/bin/sh", ["-c", "exit 5"])
        let heard = await withCheckedContinuation { continuation in
            ended.waitInBackground { continuation.resume(returning: $0) }
        }
        #expect(heard == .exited(5))
    }

    @Test("the child has its three standard streams and no other descriptor of this process")
    func descriptorsStayHere() throws {
        let closeOnExec = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(closeOnExec) }
        let piped = try Spawn.start("/bin/cat", [], standardInput: .pipe, standardOutput: .pipe)
        defer {
            piped.standardInput?.close()
            piped.wait()
        }
        for descriptor in [closeOnExec, piped.standardInput!.descriptor, piped.standardOutput!.descriptor] {
            #expect(try Self.shell("test -e /proc/self/fd/\(descriptor)").status == .exited(1), "descriptor \(descriptor)")
        }
    }

    @Test("a descriptor opened without O_CLOEXEC is not inherited either", .enabled(if: Spawn.closesInheritedDescriptors))
    func descriptorsWithoutCloseOnExec() throws {
        let inheritable = open("/dev/null", O_RDONLY)
        defer { close(inheritable) }
        #expect(try Self.shell("test -e /proc/self/fd/\(inheritable)").status == .exited(1))
        // `ls` lists its own: 0, 1 and 2, and the directory it reads.
        #expect(try Spawn.run("/bin/ls", ["/proc/self/fd"]).stdout == "0\n1\n2\n3\n")
    }
}
#endif
