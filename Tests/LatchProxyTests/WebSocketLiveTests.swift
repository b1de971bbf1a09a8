import Foundation
import LatchCore
import LatchProxy
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// WebSocket through Latch: a raw client does the opening handshake with a session cookie, the
/// node (SwiftNIO's own WebSocket server) answers 101, and frames flow both ways through the tunnel.
@Suite("WebSocket and Upgrade pass-through", .timeLimit(.minutes(1)))
struct WebSocketLiveTests {
    struct Harness {
        let group: MultiThreadedEventLoopGroup
        let nodes: [WebSocketBackend]
        let server: ProxyServer
        let port: Int

        func node(_ name: String) -> WebSocketBackend { nodes.first { $0.name == name }! }

        /// Sends the opening handshake for `cookie` and returns the client once the 101's head is in.
        func open(cookie: String, path: String = "/chat", tls: (context: NIOSSLContext, serverName: String?)? = nil)
            async throws -> (client: RawClient, head: String) {
            let client = try await RawClient.connect(port: port, group: group, tls: tls)
            try await client.send("GET \(path) HTTP/1.1\r\nHost: chat.example.com\r\nCookie: \(cookie)\r\n\(WebSocketWire.upgradeHeaders)\r\n")
            let text = try await client.wait { text, closed in text.contains("\r\n\r\n") || closed }
            return (client, String(text.prefix { _ in true }.components(separatedBy: "\r\n\r\n")[0]))
        }
    }

    static func withWebSockets<T>(
        nodes names: [String] = ["ws1", "ws2", "ws3"],
        configure: (inout LatchConfig) -> Void = { _ in },
        _ body: (Harness) async throws -> T
    ) async throws -> T {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var nodes: [WebSocketBackend] = []
        for name in names { nodes.append(try await WebSocketBackend.start(name: name, group: group)) }
        var config = LatchConfig(
            listeners: [ListenerConfig(address: HostPort(host: "127.0.0.1", port: 0))],
            clusters: [ClusterConfig(
                name: "chat",
                nodes: nodes.map { NodeConfig(name: $0.name, address: HostPort(host: "127.0.0.1", port: $0.port)) })]
        )
        configure(&config)
        var logger = Logger(label: "latch-test")
        logger.logLevel = ProcessInfo.processInfo.environment["LATCH_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        let server = ProxyServer(config: config, group: group, logger: logger, accessLogger: logger)
        let port = try await server.start()[0].port!
        let harness = Harness(group: group, nodes: nodes, server: server, port: port)
        defer {}
        do {
            let result = try await body(harness)
            await server.shutdown(grace: .seconds(1))
            for node in nodes { await node.close() }
            try? await group.shutdownGracefully()
            return result
        } catch {
            await server.shutdown(grace: .seconds(1))
            for node in nodes { await node.close() }
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Frames received after the 101's head.
    static func frames(_ client: RawClient) -> [(opcode: UInt8, payload: [UInt8])] {
        let bytes = client.bytes
        guard let end = RawRequestFramer.find(Array("\r\n\r\n".utf8), in: bytes, from: 0) else { return [] }
        return WebSocketWire.serverFrames(Array(bytes[(end + 4)...]))
    }

    static func waitForFrames(_ client: RawClient, count: Int) async throws -> [(opcode: UInt8, payload: [UInt8])] {
        _ = try await eventually { frames(client).count >= count || client.isClosed }
        return frames(client)
    }

    @Test("the handshake reaches the session's node, and messages, large ones too, go both ways; the close handshake ends it")
    func echoOnTheSessionsNode() async throws {
        try await Self.withWebSockets { h in
            let (client, head) = try await h.open(cookie: "JSESSIONID=S1.ws2")
            #expect(head.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"), "\(head)")
            #expect(head.contains("\r\nUpgrade: websocket"))
            #expect(head.contains("\r\nConnection: Upgrade"))
            #expect(head.contains("\r\nSec-WebSocket-Accept: \(WebSocketWire.expectedAccept)"))
            #expect(head.contains("\r\nX-Backend-Node: ws2"))
            #expect(head.contains("\r\nVia: 1.1 latch"))
            // The node saw the upgrade as a client would send it, plus Latch's forwarding fields.
            let seen = try #require(h.node("ws2").upgrades.first)
            #expect(seen.headers["upgrade"] == ["websocket"])
            #expect(seen.headers["sec-websocket-key"] == ["dGhlIHNhbXBsZSBub25jZQ=="])
            #expect(seen.headers["x-forwarded-for"] == ["127.0.0.1"])

            var frames = try await Self.waitForFrames(client, count: 1)
            #expect(frames.first.map { String(decoding: $0.payload, as: UTF8.self) } == "node=ws2 session=JSESSIONID=S1.ws2")

            try await client.send(WebSocketWire.clientFrame(opcode: 1, Array("hello".utf8)))
            // 1 MiB each way, three times: more than any socket buffer, so backpressure has to work.
            let large = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let frame = WebSocketWire.clientFrame(opcode: 2, large)
            for _ in 0..<3 { try await client.send(frame) }
            frames = try await Self.waitForFrames(client, count: 5)
            #expect(frames.count == 5)
            #expect(frames.dropFirst().first.map { String(decoding: $0.payload, as: UTF8.self) } == "hello")
            #expect(frames.dropFirst(2).allSatisfy { $0.opcode == 2 && $0.payload == large })

            try await client.send(WebSocketWire.clientFrame(opcode: 8, [0x03, 0xE8]))
            // Polled without decoding the 3 MiB received as text, which is slow in a debug build.
            _ = try await eventually { client.isClosed }
            frames = Self.frames(client)
            #expect(frames.last?.opcode == 8)
            #expect(frames.last?.payload == [0x03, 0xE8])
            #expect(client.isClosed)
            await client.close()
        }
    }

    @Test("a frame sent in the same write as the handshake reaches the node once the tunnel opens")
    func frameBehindTheHandshake() async throws {
        try await Self.withWebSockets { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            var bytes = ByteBuffer(string: "GET /chat HTTP/1.1\r\nHost: chat.example.com\r\nCookie: JSESSIONID=S1.ws3\r\n\(WebSocketWire.upgradeHeaders)\r\n")
            var frame = WebSocketWire.clientFrame(opcode: 1, Array("early".utf8))
            bytes.writeBuffer(&frame)
            try await client.send(bytes)
            // The node's greeting, then its echo of the frame Latch held behind the upgrade request.
            let frames = try await Self.waitForFrames(client, count: 2)
            #expect(client.text.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
            #expect(frames.count == 2)
            #expect(frames.dropFirst().first.map { String(decoding: $0.payload, as: UTF8.self) } == "early")
            await client.close()
        }
    }

    @Test("wss: a WebSocket through a TLS listener")
    func throughTLS() async throws {
        let pki = try TestPKI()
        let files = try pki.write(names: ["chat.example.com"], base: "chat")
        try await Self.withWebSockets(configure: { config in
            config.listeners[0].tls = TLSListenerConfig(certificates: [files])
        }) { h in
            let (client, head) = try await h.open(cookie: "JSESSIONID=T.ws3", tls: (pki.clientContext(), "chat.example.com"))
            #expect(head.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"), "\(head)")
            #expect(h.node("ws3").upgrades.first?.headers["x-forwarded-proto"] == ["https"])
            try await client.send(WebSocketWire.clientFrame(opcode: 1, Array("over tls".utf8)))
            let frames = try await Self.waitForFrames(client, count: 2)
            #expect(frames.map { String(decoding: $0.payload, as: UTF8.self) } == ["node=ws3 session=JSESSIONID=T.ws3", "over tls"])
            await client.close()
        }
    }

    @Test("an upgrade the node declines is answered as it is, and the client connection closes after it")
    func declinedUpgrade() async throws {
        try await Self.withWebSockets { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("GET / HTTP/1.1\r\nHost: a\r\nCookie: JSESSIONID=S.ws1\r\nUpgrade: foo/2\r\nConnection: Upgrade\r\n\r\n")
            let text = try await client.wait { _, closed in closed }
            #expect(text.hasPrefix("HTTP/1.1 426 Upgrade Required\r\n"), "\(text)")
            #expect(text.contains("X-Backend-Node: ws1"))
            #expect(text.hasSuffix("websocket only\n"))
            #expect(client.isClosed)
        }
    }

    @Test("a tunnel stays on its node when the node goes to maintenance; the next handshake goes to the replica")
    func openTunnelsKeepTheirNode() async throws {
        try await Self.withWebSockets(configure: { config in
            config.clusters[0].nodes[0].replicas = ["ws2"]
        }) { h in
            let (first, _) = try await h.open(cookie: "JSESSIONID=S.ws1")
            _ = try await Self.waitForFrames(first, count: 1)
            #expect(h.server.setNodeState(cluster: "chat", node: "ws1", .maintenance) == .active)

            try await first.send(WebSocketWire.clientFrame(opcode: 1, Array("still here".utf8)))
            let frames = try await Self.waitForFrames(first, count: 2)
            #expect(frames.last.map { String(decoding: $0.payload, as: UTF8.self) } == "still here")

            let (second, head) = try await h.open(cookie: "JSESSIONID=S.ws1")
            #expect(head.contains("X-Backend-Node: ws2"), "\(head)")
            await first.close()
            await second.close()
        }
    }

    @Test("a tunnel with no bytes either way for timeouts.tunnel is closed on both sides")
    func idleTunnelCloses() async throws {
        try await Self.withWebSockets(nodes: ["ws1"], configure: { config in
            config.timeouts.tunnel = .milliseconds(500)
        }) { h in
            let opened = ContinuousClock.now
            let (client, _) = try await h.open(cookie: "JSESSIONID=S.ws1")
            _ = try await Self.waitForFrames(client, count: 1)
            try await client.wait(timeout: .seconds(10)) { _, closed in closed }
            #expect(client.isClosed)
            // Not before the timeout after the last byte (the greeting, which came after `opened`).
            #expect(ContinuousClock.now - opened >= .milliseconds(500))
            #expect(try await eventually { h.node("ws1").openSockets == 0 })
        }
    }

    @Test("a client that goes away closes the node's side of its tunnel")
    func clientCloseReachesTheNode() async throws {
        try await Self.withWebSockets(nodes: ["ws1"]) { h in
            let (client, _) = try await h.open(cookie: "JSESSIONID=S.ws1")
            _ = try await Self.waitForFrames(client, count: 1)
            #expect(h.node("ws1").openSockets == 1)
            await client.close()
            #expect(try await eventually { h.node("ws1").openSockets == 0 })
        }
    }

    @Test("Upgrade: h2c is never passed on; the request is served as plain HTTP")
    func h2cIsStripped() async throws {
        try await withLatch(nodes: ["tomcat1"]) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n")
            let text = try await client.wait { _, closed in closed }
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(text)")
            let seen = try #require(h.backend("tomcat1").requests.first)
            #expect(!seen.head.headers.contains(name: "upgrade"))
            #expect(!seen.head.headers.contains(name: "http2-settings"))
        }
    }
}
