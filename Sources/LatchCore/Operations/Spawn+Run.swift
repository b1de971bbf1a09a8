#if canImport(Glibc)
import Glibc

extension Spawn {
    /// How a program run to its end ended, and what it printed on each stream.
    public struct Outcome: Sendable {
        public var status: ChildProcess.Termination
        public var stdout: String
        public var stderr: String
    }

    /// Runs `executable` to its end, `input` written to its standard input (empty: `/dev/null`), and
    /// collects what it prints on standard output and standard error.
    /// - Parameter environment: the child's whole environment; `nil`: this process's.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: String = ""
    ) throws(Failure) -> Outcome {
        let child = try start(
            executable, arguments, environment: environment,
            standardInput: input.isEmpty ? .null : .pipe, standardOutput: .pipe, standardError: .pipe)
        let (stdout, stderr) = exchange(with: child, input: Array(input.utf8))
        return Outcome(status: child.wait(), stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Writes `input` and reads both outputs as each becomes ready (`poll`), until the child has
    /// closed them: a child that fills one pipe while this side waits on another would wait forever.
    private static func exchange(with child: ChildProcess, input: [UInt8]) -> (stdout: [UInt8], stderr: [UInt8]) {
        let ends = [child.standardOutput, child.standardError, child.standardInput]
        var collected: [[UInt8]] = [[], []]
        var pending = input[...]
        var watched = ends.enumerated().map { index, end in
            pollfd(fd: end?.descriptor ?? -1, events: Int16(index < 2 ? POLLIN : POLLOUT), revents: 0)
        }
        if let input = child.standardInput {
            // Never blocked on a full pipe while the child waits for its output to be read.
            _ = fcntl(input.descriptor, F_SETFL, fcntl(input.descriptor, F_GETFL) | O_NONBLOCK)
        }
        while watched.contains(where: { $0.fd >= 0 }) {
            guard poll(&watched, nfds_t(watched.count), -1) >= 0 else {
                if errno == EINTR { continue }
                break
            }
            for index in 0..<2 where watched[index].fd >= 0 && watched[index].revents != 0 {
                let chunk = ends[index]!.read()
                if chunk.isEmpty { watched[index].fd = -1 } else { collected[index] += chunk }
            }
            if watched[2].fd >= 0, watched[2].revents != 0, let input = ends[2] {
                if let count = input.writeSome(pending) { pending = pending.dropFirst(count) } else { pending = [] }
                if pending.isEmpty {
                    input.close()
                    watched[2].fd = -1
                }
            }
        }
        // Closed whatever stopped the loop: a child still writing gets EPIPE rather than waiting.
        ends.forEach { $0?.close() }
        return (collected[0], collected[1])
    }
}
#endif
