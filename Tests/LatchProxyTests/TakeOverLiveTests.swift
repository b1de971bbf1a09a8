#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import LatchCore
import Testing

@testable import LatchProxy

/// `latch run --take-over` as an operator upgrading under load would run it: two real `latch`
/// processes, one real node, and clients that keep sending — on keep-alive connections and on a new
/// connection per request — before, during and after the hand-over. Not one request may fail, and
/// no connection may be refused or reset.
@Suite("take-over under load", .timeLimit(.minutes(2)))
struct TakeOverLiveTests {
    /// What the clients saw.
    struct Tally: Sendable {
        var served = 0
        var failures: [String] = []
        /// Responses that said `Connection: close` (the old process's last ones on a keep-alive connection).
        var closingResponses = 0
    }

    /// A client connection that sends GETs and reads whole responses (HTTP/1.1 via NIOHTTP1's codec).
    final class Connection: @unchecked Sendable {
        let channel: any Channel
        private let collector: Collector

        private init(channel: any Channel, collector: Collector) {
            self.channel = channel
            self.collector = collector
        }

        static func open(port: Int, group: any EventLoopGroup) async throws -> Connection {
            let collector = Collector()
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(collector)
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            return Connection(channel: channel, collector: collector)
        }

        struct NoAnswer: Error, CustomStringConvertible {
            var description: String { "no answer and no close within 10 s" }
        }

        /// Sends one GET and returns the response's head once its end has come (a request neither
        /// answered nor closed within 10 s fails).
        func get(_ path: String, close: Bool) async throws -> HTTPResponseHead {
            let promise = channel.eventLoop.makePromise(of: HTTPResponseHead.self)
            channel.eventLoop.scheduleTask(in: .seconds(10)) { [collector, channel] in
                guard collector.pending?.futureResult === promise.futureResult else { return }
                collector.pending = nil
                promise.fail(NoAnswer())
                channel.close(promise: nil)
            }
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
            head.headers.add(name: "Host", value: "shop")
            head.headers.add(name: "Cookie", value: "JSESSIONID=S.tomcat1")
            if close { head.headers.add(name: "Connection", value: "close") }
            try await channel.eventLoop.submit { [collector, channel, head] in
                collector.pending = promise
                channel.write(HTTPClientRequestPart.head(head), promise: nil)
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            }.get()
            return try await promise.futureResult.get()
        }

        func close() async {
            try? await channel.close()
        }

        private final class Collector: ChannelInboundHandler, @unchecked Sendable {
            typealias InboundIn = HTTPClientResponsePart
            var pending: EventLoopPromise<HTTPResponseHead>?
            private var head: HTTPResponseHead?

            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                switch unwrapInboundIn(data) {
                case .head(let received): head = received
                case .body: break
                case .end:
                    if let head { pending?.succeed(head) }
                    pending = nil
                    head = nil
                }
            }

            func channelInactive(context: ChannelHandlerContext) {
                pending?.fail(ChannelError.eof)
                pending = nil
                context.fireChannelInactive()
            }

            func errorCaught(context: ChannelHandlerContext, error: any Error) {
                pending?.fail(error)
                pending = nil
                context.close(promise: nil)
            }
        }
    }

    /// A keep-alive client: reuses its connection until a response says `Connection: close`.
    static func keepAliveClient(port: Int, group: any EventLoopGroup, stop: NIOLockedValueBox<Bool>, tally: NIOLockedValueBox<Tally>) async {
        var connection: Connection?
        var index = 0
        while !stop.withLockedValue({ $0 }) {
            index += 1
            do {
                if connection == nil { connection = try await Connection.open(port: port, group: group) }
                let head = try await connection!.get("/keep/\(index)", close: false)
                let closes = !head.isKeepAlive
                tally.withLockedValue { tally in
                    if head.status == .ok { tally.served += 1 } else { tally.failures.append("keep-alive: status \(head.status.code)") }
                    if closes { tally.closingResponses += 1 }
                }
                if closes {
                    await connection?.close()
                    connection = nil
                }
            } catch {
                tally.withLockedValue { $0.failures.append("keep-alive request \(index): \(error)") }
                await connection?.close()
                connection = nil
            }
        }
        await connection?.close()
    }

    /// A client that opens a connection per request and says `Connection: close`.
    static func connectionPerRequestClient(port: Int, group: any EventLoopGroup, stop: NIOLockedValueBox<Bool>, tally: NIOLockedValueBox<Tally>) async {
        var index = 0
        while !stop.withLockedValue({ $0 }) {
            index += 1
            do {
                let connection = try await Connection.open(port: port, group: group)
                let head = try await connection.get("/new/\(index)", close: true)
                await connection.close()
                tally.withLockedValue { tally in
                    if head.status == .ok { tally.served += 1 } else { tally.failures.append("new connection: status \(head.status.code)") }
                }
            } catch {
                tally.withLockedValue { $0.failures.append("new-connection request \(index): \(error)") }
            }
        }
    }

    @Test("a new Latch takes the listening sockets over while clients keep sending: no request fails, the old one exits 0")
    func takeOverUnderLoad() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let backend = try await TestBackend.start(name: "tomcat1", group: group)
        let (directory, config) = try Self.configDirectory(node: "127.0.0.1:\(backend.port)", extra: "shutdown_grace: 10s\nthreads: 1")
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let old = try LatchProcess(config: config, takeOver: false)
        let port = try #require(await old.port(), "\(old.text)")

        let stop = NIOLockedValueBox(false)
        let tally = NIOLockedValueBox(Tally())
        let load = Task {
            await withTaskGroup(of: Void.self) { clients in
                for _ in 0..<6 { clients.addTask { await Self.keepAliveClient(port: port, group: group, stop: stop, tally: tally) } }
                for _ in 0..<3 { clients.addTask { await Self.connectionPerRequestClient(port: port, group: group, stop: stop, tally: tally) } }
            }
        }
        // Counted in requests, not seconds: the machine may be busy with other tests.
        _ = try await eventually(within: .seconds(20)) { tally.withLockedValue { $0.served } >= 100 }
        let beforeTakeOver = tally.withLockedValue { $0.served }

        let new = try LatchProcess(config: config, takeOver: true)
        let oldStatus = await old.waitForExit()
        let atOldExit = tally.withLockedValue { $0.served }
        // The new process serves alone from here.
        _ = try await eventually(within: .seconds(20)) { tally.withLockedValue { $0.served } >= atOldExit + 100 }
        stop.withLockedValue { $0 = true }
        await load.value
        let result = tally.withLockedValue { $0 }

        #expect(oldStatus == .exited(0), "the old Latch exits 0 after handing over: \(old.text)")
        #expect(result.failures.isEmpty, "\(result.failures.count) failed: \(result.failures.prefix(10))")
        #expect(beforeTakeOver >= 100, "load before the take-over: \(beforeTakeOver)")
        #expect(result.served - atOldExit >= 100, "served after the old Latch exited: \(result.served - atOldExit)")
        #expect(result.closingResponses >= 1, "keep-alive connections on the old Latch ended with Connection: close")
        #expect(old.text.contains("handed over to the new Latch"), "\(old.text)")
        #expect(old.text.contains("connections_cut_at_grace=0"), "\(old.text)")
        #expect(new.text.contains("took over the listening sockets"), "\(new.text)")
        #expect(new.text.contains("listening (socket taken over)"), "\(new.text)")

        // The new Latch now holds the control socket: it can be taken over in turn, and stops cleanly.
        #expect(await new.waitFor("control socket listening"), "\(new.text)")
        new.process.terminate()
        #expect(await new.waitForExit() == .exited(0), "\(new.text)")
        await backend.close()
        try await group.shutdownGracefully()
    }

    /// What a latch on `port` answers a GET with (its only node is never reached: a 50x).
    static func answer(port: Int) async throws -> String {
        let client = try await RawClient.connect(port: port, group: MultiThreadedEventLoopGroup.singleton)
        try await client.send("GET / HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n")
        return try await client.wait { _, closed in closed }
    }

    /// A directory with an lb.yaml whose control socket is in the directory. Its listener is on
    /// port 0 — a port picked free beforehand could be taken by another test's connection in the
    /// meantime — and a take-over matches `127.0.0.1:0` to `127.0.0.1:0`: the port stays the one the
    /// first Latch got (read from its log, ``LatchProcess/port()``).
    static func configDirectory(node: String = "127.0.0.1:9", extra: String = "") throws -> (directory: String, config: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("latch-takeover-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let config = directory + "/lb.yaml"
        try """
            listen:
              - address: 127.0.0.1:0
            control_socket: \(directory)/latch.sock
            clusters:
              - name: shop
                nodes:
                  - { name: tomcat1, address: \(node) }
            \(extra)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        return (directory, config)
    }

    /// The port in a `latch running … listeners=127.0.0.1:PORT` line.
    static func port(inLog text: String) -> Int? {
        guard let line = text.split(separator: "\n").first(where: { $0.contains("latch running") }),
            let range = line.range(of: "listeners=127.0.0.1:")
        else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    @Test("--take-over with no Latch running just starts; with control_socket false it is refused by name")
    func nothingToTakeOver() async throws {
        let (directory, config) = try Self.configDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let alone = try LatchProcess(config: config, takeOver: true)
        #expect(await alone.waitFor("control socket listening"), "\(alone.text)")
        #expect(alone.text.contains("--take-over: no Latch answers on \(directory)/latch.sock; starting afresh"), "\(alone.text)")
        alone.process.terminate()
        #expect(await alone.waitForExit() == .exited(0))
        // A socket file left behind by a Latch that is gone is replaced.
        #expect(!FileManager.default.fileExists(atPath: directory + "/latch.sock"))

        let off = try CLITests.temporaryFile("""
            listen:
              - address: 127.0.0.1:0
            control_socket: false
            clusters:
              - name: shop
                nodes:
                  - { name: tomcat1, address: 127.0.0.1:9 }
            """)
        defer { try? FileManager.default.removeItem(atPath: off) }
        let refused = try CLITests.latch(["run", "--config", off, "--take-over"])
        #expect(refused.status == .exited(2))
        #expect(refused.stderr.contains(
            "error: --take-over: control_socket is false in \(off), so no running Latch offers its sockets; remove the key or set a path"), "\(refused.stderr)")
    }

    @Test("a Latch running another lb.yaml on the same control socket refuses to hand over, and serves on")
    func anotherConfiguration() async throws {
        let (directory, config) = try Self.configDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let running = try LatchProcess(config: config, takeOver: false)
        let port = try #require(await running.port(), "\(running.text)")
        let other = directory + "/other.yaml"
        try String(contentsOfFile: config, encoding: .utf8).write(toFile: other, atomically: true, encoding: .utf8)
        let attempt = try CLITests.latch(["run", "--config", other, "--take-over"])
        #expect(attempt.status == .exited(1))
        #expect(attempt.stderr.contains(
            "error: --take-over: the Latch on \(directory)/latch.sock refused the take-over: this Latch runs \(ControlService.resolvedConfigPath(config)), not \(ControlService.resolvedConfigPath(other)); the running Latch carries on"),
            "\(attempt.stderr)")
        #expect(running.process.isRunning)
        #expect(try await Self.answer(port: port).hasPrefix("HTTP/1.1 50"), "still answering")
        running.process.terminate()
        #expect(await running.waitForExit() == .exited(0))
    }

    /// The datagrams the service manager would hear until one satisfies `last`, waiting up to 30 s in
    /// all for each (three reads of 10 s: a loaded machine starts a debug build slowly).
    static func datagrams(from notify: SystemdNotifyTests.NotifySocket, until last: (String) -> Bool) -> [String] {
        var heard: [String] = []
        var misses = 0
        while misses < 3 {
            guard let datagram = notify.next() else {
                misses += 1
                continue
            }
            misses = 0
            heard.append(datagram)
            if last(datagram) { break }
        }
        return heard
    }

    @Test("SIGUSR2 under systemd: the binary on disk takes over, names itself the main process, and the old one never says STOPPING")
    func upgradeOnSIGUSR2() async throws {
        let (directory, config) = try Self.configDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let notify = try SystemdNotifyTests.NotifySocket()
        let log = directory + "/latch.log"
        let old = try Spawn.start(
            CLITests.latchBinary.path, ["run", "--config", config], environment: CLITests.withEnvironment(["NOTIFY_SOCKET": notify.path]),
            standardOutput: .null, standardError: .file(log))
        defer {
            old.terminate()
            old.wait()
        }
        var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        // Up to 30 s: with the whole suite running, a debug build can take long to start.
        let ready = try #require(notify.next() ?? notify.next() ?? notify.next(), "no READY=1: \(logText)")
        #expect(ready.split(separator: "\n").contains("READY=1"), "\(ready)")
        let port = try #require(Self.port(inLog: logText), "\(logText)")

        old.terminate(signal: SIGUSR2)
        // What the service manager hears until the new process names itself: never STOPPING=1.
        let heard = Self.datagrams(from: notify) { $0.contains("MAINPID=") }
        let named = try #require(heard.last { $0.contains("MAINPID=") }, "\(heard): \(logText)")
        let newPID = try #require(named.split(separator: "\n").first { $0.hasPrefix("MAINPID=") }.flatMap { Int32($0.dropFirst("MAINPID=".count)) })
        defer { kill(newPID, SIGKILL) }
        #expect(newPID != old.pid)
        #expect(named.split(separator: "\n").contains("READY=1"), "\(named)")
        #expect(!heard.contains { $0.contains("STOPPING=1") }, "\(heard)")

        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(20)
        while old.isRunning, clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(old.termination == .exited(0))
        #expect(logText.contains("SIGUSR2: started a new Latch to take this one over"), "\(logText)")

        // The new process serves the port, and stops as the service's main process does.
        #expect(try await Self.answer(port: port).hasPrefix("HTTP/1.1 50"), "the new Latch answers")
        kill(newPID, SIGTERM)
        let afterwards = Self.datagrams(from: notify) { $0.contains("STOPPING=1") }
        #expect(afterwards.last?.split(separator: "\n").contains("STOPPING=1") == true, "\(afterwards)")
    }

    @Test("a new Latch that goes away after the old one paused: the old one accepts again and serves on")
    func abandonedAfterRelease() async throws {
        let (directory, config) = try Self.configDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let old = try LatchProcess(config: config, takeOver: false)
        let port = try #require(await old.port(), "\(old.text)")

        // A new process's side of the conversation, spoken by hand, up to the point it vanishes.
        let connection = ControlConnection(descriptor: try UnixSocket.connectTo(directory + "/latch.sock"))
        try await connection.send(.request(configPath: ControlService.resolvedConfigPath(config)))
        let (listeners, descriptors) = try #require(try await connection.receive(milliseconds: 10_000))
        guard case .listeners(let pid, let sockets) = listeners else {
            Issue.record("expected LISTENERS, got \(listeners)")
            return
        }
        #expect(pid == old.process.pid)
        #expect(sockets == [TakeOverMessage.Socket(.listen, HostPort(host: "127.0.0.1", port: 0))])
        #expect(descriptors.count == 1 && descriptors.allSatisfy(ListeningSocket.isListening))
        descriptors.forEach { close($0) }
        try await connection.send(.ready)
        #expect(try await connection.receive(milliseconds: 10_000)?.0 == .released)
        connection.close()

        // Paused, then back: a client is served by the old Latch, which has not exited.
        #expect(await old.waitFor("this one accepts again and serves on"), "\(old.text)")
        #expect(try await Self.answer(port: port).hasPrefix("HTTP/1.1 50"), "answered by the old Latch")
        #expect(old.process.isRunning)
        old.process.terminate()
        #expect(await old.waitForExit() == .exited(0))
    }
}
