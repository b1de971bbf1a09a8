import LatchCore
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import LatchProxy

/// The client side of a connection on an `EmbeddedChannel`: the pipeline `ClientPipeline.http1`
/// builds (``ProxyHandler`` alone, parsing and keeping the deadlines), for what Latch answers by itself —
/// refusals, parse errors, deadlines — byte by byte, with time advanced instead of slept. Exchanges
/// that reach a node are the live suites' (they need real connections).
@Suite("ProxyHandler on an EmbeddedChannel")
struct ProxyHandlerTests {
    /// `EmbeddedChannel` closes fully whatever the mode; this stands for the socket's half-close, so
    /// a lingering close can be watched: it records the FIN and keeps the channel open.
    final class HalfClose: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var outputClosed = false

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            guard mode == .output else {
                context.close(mode: mode, promise: promise)
                return
            }
            outputClosed = true
            promise?.succeed(())
        }
    }

    struct Client {
        let channel: EmbeddedChannel
        let server: RuntimeHolder
        let halfClose = HalfClose()

        var loop: EmbeddedEventLoop { channel.embeddedEventLoop }

        /// - Parameter quiescing: the connection is accepted after shutdown began.
        init(quiescing: Bool = false, configure: (inout LatchConfig) -> Void = { _ in }) throws {
            var config = LatchConfig(
                listeners: [ListenerConfig(address: HostPort(host: "127.0.0.1", port: 0))],
                clusters: [
                    ClusterConfig(
                        name: "shop",
                        nodes: [
                            NodeConfig(name: "tomcat1", address: HostPort(host: "127.0.0.1", port: 1), state: .maintenance),
                            NodeConfig(name: "tomcat2", address: HostPort(host: "127.0.0.1", port: 2), state: .maintenance),
                        ]
                    )
                ]
            )
            configure(&config)
            channel = EmbeddedChannel()
            server = try .embedded(config, on: channel.embeddedEventLoop)
            if quiescing { server.beginQuiescing() }
            try channel.pipeline.syncOperations.addHandler(halfClose)
            try ClientPipeline.http1(channel, holder: server, scheme: "http")
            try channel.connect(to: SocketAddress(ipAddress: "10.1.2.3", port: 40000)).wait()
        }

        func send(_ text: String) throws {
            try channel.writeInbound(channel.allocator.buffer(string: text))
        }

        /// What Latch wrote to the client so far, as text.
        func answer() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }
    }

    @Test("no usable node: 503 on the same keep-alive connection, the next request answered in turn")
    func noNodeIsUsable() throws {
        let client = try Client()
        try client.send("GET /a HTTP/1.1\r\nHost: shop\r\n\r\nGET /b HTTP/1.1\r\nHost: shop\r\n\r\n")
        let text = try client.answer()
        #expect(text.components(separatedBy: "HTTP/1.1 503 Service Unavailable\r\n").count == 3, "\(text)")
        #expect(text.contains("503 Service Unavailable: no application server is available\n"))
        #expect(client.channel.isActive)
        let stats = client.server.current.clusters[0].stats()
        #expect(stats.unserved[.noNode] == 2)
    }

    @Test("a head over max_request_head gets 431, then FIN: the client's further bytes are read and dropped")
    func headTooLargeLingers() throws {
        let client = try Client { $0.limits.maxRequestHead = 1024 }
        try client.send("GET / HTTP/1.1\r\nHost: shop\r\nX-Big: " + String(repeating: "b", count: 2048))
        #expect(try client.answer().hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(client.halfClose.outputClosed, "FIN after the answer")
        #expect(client.channel.isActive, "lingering: output closed, input still read")
        try? client.send(String(repeating: "c", count: 4096))
        #expect(client.channel.isActive, "what the client still sends is dropped, not answered with a reset")
        #expect(try client.answer().isEmpty)
        client.loop.advanceTime(by: .seconds(11))
        #expect(!client.channel.isActive, "closed at the end of the linger time")
    }

    @Test("a malformed request line gets 400 and the connection closes")
    func malformedRequest() throws {
        let client = try Client()
        try? client.send("GET / HTTP/1.1 extra\r\nHost: shop\r\n\r\n")
        let text = try client.answer()
        #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(text)")
        #expect(text.lowercased().contains("connection: close"))
    }

    @Test("a request validator refusal: a second Host gets 400 and closes")
    func duplicateHost() throws {
        let client = try Client()
        try client.send("GET / HTTP/1.1\r\nHost: shop\r\nHost: other\r\n\r\n")
        let text = try client.answer()
        #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(text)")
        #expect(text.lowercased().contains("connection: close"))
    }

    @Test("a client that never finishes its head gets 408 after request_head, without sleeping")
    func slowHead() throws {
        let client = try Client { $0.timeouts.requestHead = .seconds(10) }
        try client.send("GET / HTTP/1.1\r\nHo")
        client.loop.advanceTime(by: .seconds(9))
        #expect(try client.answer().isEmpty)
        client.loop.advanceTime(by: .seconds(2))
        #expect(try client.answer().hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
    }

    @Test("an idle keep-alive connection closes after timeouts.idle")
    func idleKeepAlive() throws {
        let client = try Client { $0.timeouts.idle = .seconds(60) }
        try client.send("GET / HTTP/1.1\r\nHost: shop\r\n\r\n")
        _ = try client.answer()
        client.loop.advanceTime(by: .seconds(59))
        #expect(client.channel.isActive)
        client.loop.advanceTime(by: .seconds(2))
        #expect(!client.channel.isActive)
    }

    @Test("CONNECT is answered 501 by Latch itself")
    func connectIsNotImplemented() throws {
        let client = try Client()
        try client.send("CONNECT shop:443 HTTP/1.1\r\nHost: shop:443\r\n\r\n")
        #expect(try client.answer().hasPrefix("HTTP/1.1 501 Not Implemented\r\n"))
    }

    @Test("a half-close after a complete request: it is answered, then the connection closes")
    func halfCloseAfterARequest() throws {
        let client = try Client()
        try client.send("GET / HTTP/1.1\r\nHost: shop\r\n\r\n")
        client.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try client.answer().hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(!client.channel.isActive)
    }

    @Test("a half-close with no request under way closes at once")
    func halfCloseWhenIdle() throws {
        let client = try Client()
        client.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!client.channel.isActive)
    }

    @Test("shutdown closes a keep-alive connection between requests after a quiet second, not under a request on its way")
    func quiesceWhenIdle() throws {
        let client = try Client()
        try client.send("GET / HTTP/1.1\r\nHost: shop\r\n\r\n")
        _ = try client.answer()
        #expect(client.channel.isActive)
        client.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        client.loop.advanceTime(by: .milliseconds(999))
        #expect(client.channel.isActive)
        client.loop.advanceTime(by: .milliseconds(1))
        #expect(!client.channel.isActive)
    }

    @Test("at shutdown, the request that comes within the quiet second is answered, with Connection: close, and ends the connection")
    func quiesceServesTheNextRequest() throws {
        let client = try Client()
        try client.send("GET /a HTTP/1.1\r\nHost: shop\r\n\r\n")
        #expect(!(try client.answer().lowercased().contains("connection: close")))
        client.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        client.loop.advanceTime(by: .milliseconds(500))
        try client.send("GET /b HTTP/1.1\r\nHost: shop\r\n\r\n")
        let last = try client.answer()
        #expect(last.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(last)")
        #expect(last.lowercased().contains("connection: close"), "\(last)")
        #expect(!client.channel.isActive)
    }

    @Test("a connection accepted as shutdown began serves its first request, with Connection: close")
    func acceptedWhileQuiescing() throws {
        let client = try Client(quiescing: true)
        #expect(client.channel.isActive)
        try client.send("GET / HTTP/1.1\r\nHost: shop\r\n\r\n")
        let text = try client.answer()
        #expect(text.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(text)")
        #expect(text.lowercased().contains("connection: close"), "\(text)")
        #expect(!client.channel.isActive)

        // One that sends nothing is closed after the quiet second.
        let silent = try Client(quiescing: true)
        silent.loop.advanceTime(by: .seconds(1))
        #expect(!silent.channel.isActive)
    }

    @Test("Connection: close ends the line: the pipelined request behind it is not answered")
    func connectionCloseEndsThePipeline() throws {
        let client = try Client()
        try client.send("GET /a HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: shop\r\n\r\n")
        let text = try client.answer()
        #expect(text.components(separatedBy: "HTTP/1.1 503").count == 2, "one answer only: \(text)")
        #expect(text.lowercased().contains("connection: close"))
        #expect(!client.channel.isActive)
    }

    @Test("a refused upload is answered, then FIN, and the rest of the body is read and dropped")
    func refusedUploadLingers() throws {
        let client = try Client { $0.limits.maxBody = 10 }
        try client.send("POST / HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n")
        #expect(try client.answer().hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(client.halfClose.outputClosed)
        try client.send("10\r\n0123456789abcdef\r\n0\r\n\r\n")
        #expect(client.channel.isActive, "lingering")
        #expect(try client.answer().isEmpty)
    }
}
