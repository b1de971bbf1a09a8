import LatchCore
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import LatchProxy

/// The node side of an exchange on an `EmbeddedChannel`: ``UpstreamHandler``, the one handler
/// ``UpstreamPool`` puts on a node connection, driven byte by byte, with time advanced on the
/// embedded loop instead of slept.
@Suite("UpstreamHandler on an EmbeddedChannel")
struct UpstreamHandlerTests {
    /// Records what the handler tells the exchange that leased the connection.
    final class Recorder: UpstreamDelegate {
        var parts: [HTTPClientResponsePart] = []
        var failures: [UpstreamFailure] = []
        var readCompletes = 0
        var stalls = 0
        var awaitingClientBody = false
        var downstreamWritable = true

        /// What each head's fields were found to say.
        var fields: [ResponseFields] = []

        func upstreamResponseHead(_ head: NodeResponseHead) {
            parts.append(.head(head.nio))
            self.fields.append(head.facts)
        }
        func upstreamResponseBody(_ body: ByteBuffer) { parts.append(.body(body)) }
        func upstreamResponseEnd(_ trailers: HTTPHeaders?) { parts.append(.end(trailers)) }
        func upstreamFailed(_ failure: UpstreamFailure) { failures.append(failure) }
        func upstreamWritabilityChanged(_ writable: Bool) {}
        func upstreamReadComplete() { readCompletes += 1 }
        func downstreamStalled() { stalls += 1 }
    }

    /// Counts the reads the handler lets through to the socket.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    struct Node {
        let channel: EmbeddedChannel
        let handler: UpstreamHandler
        let recorder: Recorder
        let reads: ReadCounter

        var loop: EmbeddedEventLoop { channel.embeddedEventLoop }

        init() throws {
            channel = EmbeddedChannel()
            handler = UpstreamHandler()
            reads = ReadCounter()
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(reads)
            try sync.addHandler(handler)
            recorder = Recorder()
            handler.delegate = recorder
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8081)).wait()
        }

        func send(_ text: String) throws {
            try channel.writeInbound(channel.allocator.buffer(string: text))
        }

        /// Everything the handler wrote toward the node, as text.
        func written() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }
    }

    /// A client's request as ``HeaderRewriter`` writes it for the node.
    static func get(_ uri: String = "/cart", method: HTTPMethod = .GET, headers: [(String, String)] = []) -> UpstreamRequest {
        var fields = HTTPHeaders([("Host", "shop.example.com")])
        fields.add(contentsOf: headers)
        return HeaderRewriter.upstreamRequest(
            .test(method, uri, headers: fields),
            forwarded: ForwardedFields(forwarding: ForwardingConfig()), clientIP: nil, scheme: "http")
    }

    /// What the rewriter adds to every head in these tests.
    static let added = "Via: 1.1 latch\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.example.com\r\n"

    @Test("a request leaves as HTTP/1.1 bytes; a body of unknown length is chunk-framed")
    func writesRequests() throws {
        let node = try Node()
        node.handler.writeHead(Self.get())
        node.handler.write(.end(nil))
        node.handler.flush()
        #expect(try node.written() == "GET /cart HTTP/1.1\r\nHost: shop.example.com\r\n\(Self.added)\r\n")

        // A POST without Content-Length (an HTTP/2 client's, say) goes chunked to the node.
        node.handler.writeHead(Self.get("/upload", method: .POST))
        node.handler.write(.body(.byteBuffer(node.channel.allocator.buffer(string: "hello"))))
        node.handler.write(.end(nil))
        node.handler.flush()
        #expect(try node.written() == "POST /upload HTTP/1.1\r\nHost: shop.example.com\r\nTransfer-Encoding: chunked\r\n\(Self.added)\r\n"
            + "5\r\nhello\r\n0\r\n\r\n")
    }

    @Test("a response arrives as head, body and end in one read; the read's end is reported")
    func deliversResponses() throws {
        let node = try Node()
        node.handler.writeHead(Self.get())
        node.handler.write(.end(nil))
        try node.send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        #expect(node.recorder.parts.count == 3)
        guard node.recorder.parts.count == 3 else { return }
        if case .head(let head) = node.recorder.parts[0] { #expect(head.status == .ok) } else { Issue.record("no head first") }
        if case .body(let body) = node.recorder.parts[1] { #expect(String(buffer: body) == "hello") } else { Issue.record("no body") }
        if case .end = node.recorder.parts[2] {} else { Issue.record("no end") }
        #expect(node.recorder.readCompletes == 1)
        #expect(node.recorder.failures.isEmpty)
    }

    @Test("body bytes for a head that frames none are not written: the node would read them as a request")
    func unframedBodyIsNotWritten() throws {
        let node = try Node()
        node.handler.writeHead(Self.get())
        #expect(!node.handler.framesBody)
        #expect(!node.handler.write(.body(.byteBuffer(node.channel.allocator.buffer(string: "GET /admin HTTP/1.1\r\n\r\n")))))
        node.handler.flush()
        #expect(try node.written() == "GET /cart HTTP/1.1\r\nHost: shop.example.com\r\n\(Self.added)\r\n")
    }

    @Test("bytes after a response's end mark the connection before the end is delivered, so the pool never reuses it")
    func extraBytesMarkTheConnection() throws {
        let node = try Node()
        node.handler.writeHead(Self.get())
        try node.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\r\n")
        #expect(node.handler.sentExtraBytes)
        #expect(!node.channel.isActive)
    }

    @Test("bytes from the node on a connection no exchange holds close it")
    func unaskedBytesClose() throws {
        let node = try Node()
        node.handler.detach()
        try? node.send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        #expect(!node.channel.isActive)
        #expect(node.recorder.parts.isEmpty)
    }

    @Test("a response that is not HTTP fails the exchange as a bad response and closes the connection")
    func garbageFails() throws {
        let node = try Node()
        node.handler.writeHead(Self.get())
        node.handler.write(.end(nil))
        try? node.send("SSH-2.0-OpenSSH_9.2\r\n\r\n")
        #expect(!node.channel.isActive)
        #expect(node.recorder.failures.count == 1)
        if case .badResponse = node.recorder.failures.first {} else { Issue.record("expected a bad response, got \(node.recorder.failures)") }
    }

    @Test("reads wait while the client cannot take more; they resume when it can")
    func backpressure() throws {
        let node = try Node()
        let before = node.reads.reads
        node.recorder.downstreamWritable = false
        node.channel.read()
        #expect(node.reads.reads == before, "no read while the client is full")
        node.recorder.downstreamWritable = true
        node.handler.resumeReading()
        #expect(node.reads.reads == before + 1)
    }

    @Test("a silent node fails the exchange with a timeout after upstream_response, without sleeping")
    func watchdogTimesOutASilentNode() throws {
        let node = try Node()
        node.handler.writeHead(Self.get())
        node.handler.write(.end(nil))
        node.handler.startWatchdog(interval: .seconds(60))
        // Progress within each interval keeps it alive.
        node.loop.advanceTime(by: .seconds(50))
        try node.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel")
        node.loop.advanceTime(by: .seconds(50))
        #expect(node.recorder.failures.isEmpty)
        #expect(node.channel.isActive)
        // Then a whole interval without a byte: the node's fault.
        node.loop.advanceTime(by: .seconds(121))
        #expect(node.recorder.failures == [.timeout])
        #expect(!node.channel.isActive)
    }

    @Test("the watchdog blames a client that stops reading, not the node")
    func watchdogBlamesAStalledClient() throws {
        let node = try Node()
        node.handler.writeHead(Self.get())
        node.handler.write(.end(nil))
        node.handler.startWatchdog(interval: .seconds(60))
        node.recorder.downstreamWritable = false
        node.channel.read()  // held for the client
        node.loop.advanceTime(by: .seconds(61))
        node.loop.advanceTime(by: .seconds(61))
        #expect(node.recorder.stalls == 1)
        #expect(node.recorder.failures.isEmpty)
    }

    @Test("a client still sending its body keeps the node's watchdog from firing")
    func watchdogWaitsForTheClientsBody() throws {
        let node = try Node()
        node.handler.writeHead(Self.get("/up", method: .POST, headers: [("Content-Length", "100")]))
        node.handler.startWatchdog(interval: .seconds(60))
        node.recorder.awaitingClientBody = true
        node.loop.advanceTime(by: .seconds(300))
        #expect(node.recorder.failures.isEmpty)
        #expect(node.channel.isActive)
    }
}
