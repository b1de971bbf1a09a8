import Foundation
import LatchCore
import NIOCore
import NIOPosix
import Testing

/// A real `latch run` at its descriptor limit (`ulimit -n 48`): the accepts that fail pause the
/// listener instead of spinning the event loop, the failure is logged in words, and once clients go
/// away Latch accepts and serves again.
@Suite("Accepting at the descriptor limit", .timeLimit(.minutes(1)))
struct AcceptLimitLiveTests {
    /// User plus system CPU time of `pid`, in clock ticks (`/proc/<pid>/stat`, fields 14 and 15).
    static func cpuTicks(_ pid: pid_t) -> Int? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }

    @Test("80 clients against 48 descriptors: no spinning, the failure in words, served again once they leave")
    func descriptorLimit() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let backend = try await TestBackend.start(name: "tomcat1", group: group)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("latch-emfile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/lb.yaml"
        try """
            listen:
              - address: 127.0.0.1:0
            control_socket: false
            threads: 1
            clusters:
              - name: shop
                nodes:
                  - { name: tomcat1, address: 127.0.0.1:\(backend.port) }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let log = directory + "/latch.log"
        let latch = try Spawn.start(
            "/bin/sh", ["-c", "ulimit -n 48 && exec \"$0\" run --config \"$1\"", CLITests.latchBinary.path, config],
            standardOutput: .null, standardError: .file(log))
        defer {
            latch.terminate()
            _ = latch.wait()
        }
        func text() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        _ = try await eventually(within: .seconds(20)) { TakeOverLiveTests.port(inLog: text()) != nil }
        let port = try #require(TakeOverLiveTests.port(inLog: text()), "\(text())")

        var clients: [any Channel] = []
        for _ in 0..<80 {
            if let channel = try? await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get() {
                clients.append(channel)
            }
        }
        #expect(try await eventually(within: .seconds(10)) { text().contains("cannot accept a connection: Too many open files") }, "\(text())")
        // Spinning is a whole core: 100 ticks a second. Paused, the loop sleeps between retries.
        let before = try #require(Self.cpuTicks(latch.pid))
        try await Task.sleep(for: .seconds(2))
        let after = try #require(Self.cpuTicks(latch.pid))
        #expect(after - before < 100, "\(after - before) ticks of CPU in 2 s at the descriptor limit")
        #expect(text().contains("raise the descriptor limit"), "\(text())")

        for client in clients { try? await client.close() }
        let answered = try await eventually(within: .seconds(10)) {
            guard let client = try? await RawClient.connect(port: port, group: group) else { return false }
            try? await client.send("GET / HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n")
            let answer = (try? await client.wait(timeout: .seconds(3)) { _, closed in closed }) ?? ""
            await client.close()
            return answer.hasPrefix("HTTP/1.1 200")
        }
        #expect(answered, "served again once the clients left: \(text())")
        await backend.close()
        try await group.shutdownGracefully()
    }
}
