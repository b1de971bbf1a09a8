import NIOCore
import NIOEmbedded
import Testing

@testable import LatchProxy

/// ``ProxyHeaderReader`` on an `EmbeddedChannel`: what it hands on, what it refuses, and when.
/// The header's grammar is `ProxyProtocolHeaderTests`'; the listener around it is `ProxyProtocolLiveTests`'.
@Suite("ProxyHeaderReader on an EmbeddedChannel")
struct ProxyHeaderReaderTests {
    /// Collects what reaches the handlers set up behind the reader.
    final class Behind: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var bytes: [UInt8] = []
        var readCompletes = 0

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            bytes += Array(buffer: unwrapInboundIn(data))
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            readCompletes += 1
        }
    }

    final class Connection {
        let channel = EmbeddedChannel()
        let behind = Behind()
        /// The address `proceed` got; outer `nil`: not called.
        var proceeded: SocketAddress??
        var refusals: [(ProxyHeaderReader.Refusal, String)] = []

        init() throws {
            let reader = ProxyHeaderReader(
                timeout: .seconds(5),
                proceed: { [unowned self] channel, client in
                    self.proceeded = .some(client)
                    try channel.pipeline.syncOperations.addHandler(self.behind)
                },
                refused: { [unowned self] reason, detail in self.refusals.append((reason, detail)) }
            )
            try channel.pipeline.syncOperations.addHandler(reader)
            try channel.connect(to: SocketAddress(ipAddress: "10.0.0.5", port: 40000)).wait()
        }

        func send(_ bytes: [UInt8]) throws {
            var buffer = channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            // A read and its end, as a socket delivers them.
            try channel.writeInbound(buffer)
        }

        func send(_ text: String) throws { try send(Array(text.utf8)) }

        var isOpen: Bool { channel.isActive }
        var readerInPipeline: Bool { (try? channel.pipeline.syncOperations.handler(type: ProxyHeaderReader.self)) != nil }
    }

    static let v1 = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"
    static let request = "GET / HTTP/1.1\r\nHost: shop\r\n\r\n"

    @Test("a v1 header and the request behind it in one read: the request goes on, with the header's address")
    func headerAndRequestTogether() throws {
        let connection = try Connection()
        try connection.send(Self.v1 + Self.request)
        #expect(connection.proceeded == .some(try SocketAddress(ipAddress: "192.0.2.7", port: 56324)))
        #expect(String(decoding: connection.behind.bytes, as: UTF8.self) == Self.request)
        #expect(connection.behind.readCompletes == 1)
        #expect(!connection.readerInPipeline)
        #expect(connection.refusals.isEmpty)
        // Later bytes go straight to the handlers behind.
        try connection.send("more")
        #expect(String(decoding: connection.behind.bytes, as: UTF8.self) == Self.request + "more")
    }

    @Test("a header arriving a byte at a time is waited for; nothing is handed on before it is whole")
    func headerInPieces() throws {
        let connection = try Connection()
        let bytes = Array((Self.v1).utf8)
        for byte in bytes.dropLast() {
            try connection.send([byte])
            #expect(connection.proceeded == nil)
        }
        try connection.send([bytes.last!])
        #expect(connection.proceeded == .some(try SocketAddress(ipAddress: "192.0.2.7", port: 56324)))
        #expect(connection.behind.bytes.isEmpty)
        #expect(!connection.readerInPipeline)
        try connection.send(Self.request)
        #expect(String(decoding: connection.behind.bytes, as: UTF8.self) == Self.request)
    }

    @Test("v2 LOCAL (the balancer's own health check) keeps the peer's address")
    func localKeepsPeer() throws {
        let connection = try Connection()
        let local: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00]
        try connection.send(local + Array(Self.request.utf8))
        #expect(connection.proceeded == .some(nil))
        #expect(String(decoding: connection.behind.bytes, as: UTF8.self) == Self.request)
    }

    @Test("a connection that starts with its request instead of a header is closed and reported")
    func missingHeader() throws {
        let connection = try Connection()
        try connection.send(Self.request)
        #expect(connection.proceeded == nil)
        #expect(!connection.isOpen)
        #expect(connection.refusals.map(\.0) == [.malformed])
        #expect(connection.refusals.first?.1 == "the connection does not start with a PROXY protocol header")
        #expect(connection.behind.bytes.isEmpty)
    }

    @Test("a header that does not parse is closed and reported with why")
    func malformedHeader() throws {
        let connection = try Connection()
        try connection.send("PROXY TCP4 192.0.2.999 198.51.100.1 1 2\r\n")
        #expect(!connection.isOpen)
        #expect(connection.refusals.count == 1)
        #expect(connection.refusals.first?.0 == .malformed)
        #expect(connection.refusals.first?.1.contains("192.0.2.999") == true, "\(connection.refusals)")
    }

    @Test("no whole header within the timeout: closed and reported once")
    func timeout() throws {
        let connection = try Connection()
        try connection.send("PROXY TCP4 ")
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(4999))
        #expect(connection.isOpen)
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!connection.isOpen)
        #expect(connection.refusals.map(\.0) == [.timeout])
        #expect(connection.refusals.first?.1 == "no whole PROXY protocol header within timeouts.request_head")
    }

    @Test("the timeout stops once the header is read")
    func timeoutStops() throws {
        let connection = try Connection()
        try connection.send(Self.v1)
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(connection.isOpen)
        #expect(connection.refusals.isEmpty)
    }

    @Test("a peer that ends mid-header is reported; one that connects and leaves without a byte is not")
    func endedEarly() throws {
        let partial = try Connection()
        try partial.send("PROXY TCP4 192")
        partial.channel.pipeline.fireChannelInactive()
        #expect(partial.refusals.map(\.0) == [.closed])
        #expect(partial.refusals.first?.1 == "the connection ended after 14 bytes of an unfinished PROXY protocol header")

        let halfClosed = try Connection()
        try halfClosed.send("PROXY TCP4 192")
        halfClosed.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(halfClosed.refusals.map(\.0) == [.closed])
        #expect(!halfClosed.isOpen)

        let probe = try Connection()
        probe.channel.pipeline.fireChannelInactive()
        probe.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(probe.refusals.isEmpty)
    }

    @Test("at shutdown a header on its way is still read; a connection that sent nothing closes after a quiet second, unreported")
    func quiesce() throws {
        let started = try Connection()
        try started.send("PROXY ")
        started.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        started.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(started.isOpen)
        try started.send("TCP4 192.0.2.7 198.51.100.1 56324 443\r\n")
        #expect(started.proceeded == .some(try SocketAddress(ipAddress: "192.0.2.7", port: 56324)))

        let silent = try Connection()
        silent.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        silent.channel.embeddedEventLoop.advanceTime(by: .milliseconds(999))
        #expect(silent.isOpen)
        silent.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!silent.isOpen)
        #expect(silent.refusals.isEmpty)

        let late = try Connection()
        late.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        late.channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
        try late.send(Self.v1)
        late.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(late.isOpen)
        #expect(late.proceeded != nil)
    }
}
