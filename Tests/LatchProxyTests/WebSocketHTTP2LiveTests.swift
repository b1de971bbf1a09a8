import Foundation
import LatchCore
import NIOCore
import NIOHTTP2
import Testing

/// WebSocket over HTTP/2 (RFC 8441): a frame-level client opens a stream with the extended CONNECT,
/// the node (SwiftNIO's own WebSocket server) gets an HTTP/1.1 opening handshake and answers 101, and
/// WebSocket frames flow both ways as the stream's DATA.
@Suite("WebSocket over HTTP/2", .timeLimit(.minutes(1)))
struct WebSocketHTTP2LiveTests {
    static func withH2WebSockets(_ body: (WebSocketLiveTests.Harness, HTTP2FrameClient) async throws -> Void) async throws {
        let pki = try TestPKI()
        let files = try pki.write(names: ["localhost"], base: "localhost")
        try await WebSocketLiveTests.withWebSockets(configure: { config in
            config.listeners[0].tls = TLSListenerConfig(certificates: [files])
        }) { h in
            try await HTTP2FrameClient.with(port: h.port, group: h.group, trusting: pki.authority.caPEM) { client in
                // A first request and its answer: the SETTINGS that allow the extended CONNECT are in.
                let plain = try await client.request([
                    (":method", "GET"), (":scheme", "https"), (":authority", "chat.example.com"), (":path", "/"),
                    ("cookie", "JSESSIONID=P.ws1"),
                ])
                #expect(await client.until { $0[plain].ended })
                #expect(client.seen[plain].status == "426", "the node serves only WebSockets")
                try await body(h, client)
            }
        }
    }

    static func connect(_ client: HTTP2FrameClient, cookie: String, _ extra: [(String, String)] = [("sec-websocket-version", "13")])
        async throws -> HTTP2StreamID {
        try await client.request(
            [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"), (":authority", "chat.example.com"),
             (":path", "/chat"), ("cookie", cookie)] + extra,
            endStream: false)
    }

    static func frames(_ record: HTTP2FrameClient.StreamRecord) -> [(opcode: UInt8, payload: [UInt8])] {
        WebSocketWire.serverFrames(record.kept)
    }

    @Test("the extended CONNECT reaches the session's node as an opening handshake; messages larger than the windows go both ways; the close handshake ends the stream")
    func echoOverAStream() async throws {
        try await Self.withH2WebSockets { h, client in
            let id = try await Self.connect(client, cookie: "JSESSIONID=S1.ws2")
            #expect(await client.until { $0[id].status != nil || $0[id].ended || $0[id].reset != nil })
            let head = try #require(client.seen[id].head)
            #expect(head.first(":status") == "200", "RFC 8441 §5: the 101 becomes a 200")
            #expect(head.first("sec-websocket-accept") == nil)
            #expect(head.first("x-backend-node") == "ws2")
            #expect(!head.endStream)
            // The node got an HTTP/1.1 opening handshake with a key of Latch's making.
            let seen = try #require(h.node("ws2").upgrades.first)
            #expect(seen.method == .GET)
            #expect(seen.uri == "/chat")
            #expect(seen.headers["upgrade"] == ["websocket"])
            #expect(seen.headers["sec-websocket-version"] == ["13"])
            #expect(seen.headers["sec-websocket-key"].first?.count == 24)
            #expect(seen.headers["x-forwarded-for"] == ["127.0.0.1"])

            #expect(await client.until { Self.frames($0[id]).count >= 1 })
            #expect(Self.frames(client.seen[id]).first.map { String(decoding: $0.payload, as: UTF8.self) } == "node=ws2 session=JSESSIONID=S1.ws2")

            try await client.data(id, WebSocketWire.clientFrame(opcode: 1, Array("hello".utf8)))
            // 200 KiB each way, three times: over the 64 KiB stream windows, so flow control has to work.
            let large = (0..<(200 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            for _ in 0..<3 { try await client.data(id, WebSocketWire.clientFrame(opcode: 2, large)) }
            #expect(await client.until { Self.frames($0[id]).count >= 5 })
            var frames = Self.frames(client.seen[id])
            #expect(frames.dropFirst().first.map { String(decoding: $0.payload, as: UTF8.self) } == "hello")
            #expect(frames.dropFirst(2).prefix(3).allSatisfy { $0.opcode == 2 && $0.payload == large })

            try await client.data(id, WebSocketWire.clientFrame(opcode: 8, [0x03, 0xE8]))
            // The node answers the close and closes its connection: the stream ends.
            #expect(await client.until { $0[id].ended || $0[id].reset != nil })
            frames = Self.frames(client.seen[id])
            #expect(frames.last?.opcode == 8)
            #expect(frames.last?.payload == [0x03, 0xE8])
            #expect(client.seen[id].ended)
            #expect([nil, .noError].contains(client.seen[id].reset), "\(String(describing: client.seen[id].reset))")
            #expect(try await eventually { h.node("ws2").openSockets == 0 })
            // The connection is untouched and serves the next stream.
            #expect(client.seen.goAways.isEmpty)
            let next = try await Self.connect(client, cookie: "JSESSIONID=S2.ws3")
            #expect(await client.until { $0[next].status != nil })
            #expect(client.seen[next].status == "200")
        }
    }

    @Test("a WebSocket CONNECT Latch answers itself (a Host naming another authority: 400) ends the stream the client holds open")
    func answeredByLatch() async throws {
        try await Self.withH2WebSockets { h, client in
            let id = try await Self.connect(client, cookie: "JSESSIONID=S4.ws1", [("sec-websocket-version", "13"), ("host", "elsewhere.example")])
            #expect(await client.until { $0[id].reset != nil })
            #expect(client.seen[id].status == "400")
            #expect(client.seen[id].text.contains(":authority"), "\(client.seen[id].text)")
            #expect(client.seen[id].reset == .noError)
            #expect(h.nodes.allSatisfy { $0.upgrades.isEmpty })
            #expect(client.seen.goAways.isEmpty)
        }
    }

    @Test("a node that answers the handshake without 101: its answer is relayed, and the stream the client still holds open is asked to stop")
    func refusedHandshake() async throws {
        try await Self.withH2WebSockets { h, client in
            // No Sec-WebSocket-Version: SwiftNIO's upgrader declines, and the node answers 426.
            let id = try await Self.connect(client, cookie: "JSESSIONID=S3.ws1", [])
            // Sent before the answer; the stream may already be gone by the time it is written.
            try? await client.data(id, WebSocketWire.clientFrame(opcode: 1, Array("too early".utf8)))
            #expect(await client.until { $0[id].ended || $0[id].reset != nil })
            #expect(client.seen[id].status == "426")
            #expect(client.seen[id].text == "websocket only\n")
            #expect(h.node("ws1").openSockets == 0)
            // A stream the client still had open is asked to stop without error (RFC 9113 §8.1).
            #expect(await client.until { $0[id].reset != nil })
            #expect(client.seen[id].reset == .noError)
            #expect(client.seen.goAways.isEmpty)
            #expect(!client.seen.closed)
        }
    }
}
