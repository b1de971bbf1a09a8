import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A TCP client that sends exact bytes and collects exact bytes, for the cases a polite HTTP client
/// never produces (`Expect: 100-continue` timing, HTTP/1.0, pipelining, raw framing checks).
final class RawClient: Sendable {
    fileprivate let channel: any Channel
    private let received: NIOLockedValueBox<(bytes: [UInt8], closed: Bool, error: String?)>

    /// - Parameter halfClosure: keep sending after the server closed its side, as an uploader that
    ///   reads only once it has sent everything does (then `closed` means "the server closed its side").
    /// - Parameter tls: speak TLS with this client context, sending `serverName` as SNI (and verifying
    ///   the server's certificate against it, when the context verifies).
    /// - Parameter preface: bytes sent as the connection opens, before TLS (a PROXY protocol header).
    static func connect(
        port: Int,
        group: any EventLoopGroup,
        halfClosure: Bool = false,
        tls: (context: NIOSSLContext, serverName: String?)? = nil,
        preface: [UInt8]? = nil
    ) async throws -> RawClient {
        let received = NIOLockedValueBox((bytes: [UInt8](), closed: false, error: String?.none))
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: halfClosure)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let preface { try channel.pipeline.syncOperations.addHandler(PrefaceWriter(preface)) }
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(Collector(received: received))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawClient(channel: channel, received: received)
    }

    /// The certificate the server presented, once the TLS handshake is done.
    func peerCertificate() async throws -> NIOSSLCertificate? {
        try await channel.nioSSL_peerCertificate().get()
    }

    /// The first error the channel saw (a failed TLS handshake), if any.
    var error: String? { received.withLockedValue { $0.error } }

    private init(channel: any Channel, received: NIOLockedValueBox<(bytes: [UInt8], closed: Bool, error: String?)>) {
        self.channel = channel
        self.received = received
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: text))
    }

    func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    var text: String { received.withLockedValue { String(decoding: $0.bytes, as: UTF8.self) } }
    var bytes: [UInt8] { received.withLockedValue { $0.bytes } }
    var isClosed: Bool { received.withLockedValue { $0.closed } }

    /// Polls until `condition` holds for what was received, or `timeout` passes (then returns what there is).
    @discardableResult
    func wait(timeout: Duration = .seconds(10), until condition: (String, Bool) -> Bool) async throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            let (text, closed) = received.withLockedValue { (String(decoding: $0.bytes, as: UTF8.self), $0.closed) }
            if condition(text, closed) { return text }
            try await Task.sleep(for: .milliseconds(10))
        }
        return text
    }

    func close() async {
        try? await channel.close()
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<(bytes: [UInt8], closed: Bool, error: String?)>
        init(received: NIOLockedValueBox<(bytes: [UInt8], closed: Bool, error: String?)>) { self.received = received }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            received.withLockedValue { $0.bytes.append(contentsOf: buffer.readableBytesView) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            received.withLockedValue { $0.closed = true }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            received.withLockedValue { if $0.error == nil { $0.error = "\(error)" } }
            context.close(promise: nil)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .inputClosed = event as? ChannelEvent { received.withLockedValue { $0.closed = true } }
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// Writes its bytes when the connection opens, below every other handler: they reach the wire
/// before a TLS handshake, as a balancer's PROXY protocol header does.
final class PrefaceWriter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
        context.fireChannelActive()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

extension String {
    /// Occurrences of `needle`.
    func count(of needle: String) -> Int {
        components(separatedBy: needle).count - 1
    }
}

extension RawClient {
    /// Stops reading from the socket: the kernel buffers fill and the peer sees a zero window,
    /// as with a client that stopped reading a response.
    func stopReading() async throws {
        try await channel.setOption(.autoRead, value: false).get()
    }
}

extension RawClient {
    /// Reads again after ``stopReading()``: what the kernel buffered meanwhile is delivered.
    func resumeReading() async throws {
        try await channel.setOption(.autoRead, value: true).get()
        channel.read()
    }

    /// Half-closes: sends FIN, as `nc -N` or a client that shuts down writing after its request.
    func closeOutput() async throws {
        try await channel.close(mode: .output)
    }

    /// What was received after the first `mark` bytes (counted in bytes: `\r\n` is one Character).
    func text(after mark: Int) -> String {
        String(decoding: bytes.dropFirst(mark), as: UTF8.self)
    }
}

extension LatchHarness {
    /// Sends `raw` on a new connection to Latch and returns everything received until Latch closed it.
    func exchange(_ raw: String) async throws -> String {
        let client = try await RawClient.connect(port: port, group: group)
        // A refused connection may be answered and closed before the request is even written.
        try? await client.send(raw)
        let text = try await client.wait { _, closed in closed }
        await client.close()
        return text
    }
}
