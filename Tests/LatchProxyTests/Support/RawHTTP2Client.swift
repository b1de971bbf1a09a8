import NIOConcurrencyHelpers
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL

/// An HTTP/2 client that sends header blocks exactly as given — its own validation off — to see what
/// Latch does with requests a well-behaved client never sends (malformed pseudo-header fields).
final class RawHTTP2Client: Sendable {
    struct Answer: Sendable {
        var status: String?
        var body = ""
        var reset: HTTP2ErrorCode?
        var ended = false
        /// The stream closed (a reset may come as an error or just as the stream closing).
        var closed = false
    }

    private let channel: any Channel
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    private let connectionEvents: ConnectionEvents

    private init(channel: any Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer, connectionEvents: ConnectionEvents) {
        self.channel = channel
        self.multiplexer = multiplexer
        self.connectionEvents = connectionEvents
    }

    /// The last stream id of each GOAWAY the server sent, in order.
    var goAways: [HTTP2StreamID] { connectionEvents.state.withLockedValue { $0.goAways.map(\.last) } }
    /// The error code of each GOAWAY, in order.
    var goAwayCodes: [HTTP2ErrorCode] { connectionEvents.state.withLockedValue { $0.goAways.map(\.code) } }
    /// The connection is closed.
    var isClosed: Bool { connectionEvents.state.withLockedValue { $0.closed } }

    /// - Parameter preface: bytes sent before TLS (a PROXY protocol header).
    static func connect(port: Int, group: any EventLoopGroup, trusting caPEM: String, preface: [UInt8]? = nil) async throws -> RawHTTP2Client {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        tls.applicationProtocols = ["h2"]
        let context = try NIOSSLContext(configuration: tls)
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.headerBlockValidation = .disabled
        let made = NIOLockedValueBox<NIOHTTP2Handler.StreamMultiplexer?>(nil)
        let events = ConnectionEvents()
        // Everything in the initializer, before the connection is up: a handler added afterwards could
        // miss the server's first frames (its SETTINGS), and the client would wait for them forever.
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { [connection] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let preface { try channel.pipeline.syncOperations.addHandler(PrefaceWriter(preface)) }
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                    let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: connection, streamConfiguration: .init()
                    ) { $0.eventLoop.makeSucceededVoidFuture() }
                    try channel.pipeline.syncOperations.addHandler(events)
                    made.withLockedValue { $0 = multiplexer }
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        guard let multiplexer = made.withLockedValue({ $0 }) else { throw ChannelError.inappropriateOperationForState }
        return RawHTTP2Client(channel: channel, multiplexer: multiplexer, connectionEvents: events)
    }

    /// After the HTTP/2 handler: the connection's own frames (GOAWAY) and its end.
    final class ConnectionEvents: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTP2Frame
        let state = NIOLockedValueBox<(goAways: [(last: HTTP2StreamID, code: HTTP2ErrorCode)], closed: Bool)>(([], false))

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .goAway(let last, let code, _) = unwrapInboundIn(data).payload {
                state.withLockedValue { $0.goAways.append((last, code)) }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.withLockedValue { $0.closed = true }
            context.fireChannelInactive()
        }
    }

    /// Sends one request with exactly `headers` (and `body` as DATA, if given: one frame as written,
    /// split by the library to the peer's frame size and windows) and waits (up to `limit`) for its
    /// answer or reset.
    func send(_ headers: [(String, String)], body: String? = nil, within limit: Duration = .seconds(5)) async throws -> Answer {
        let answer = NIOLockedValueBox(Answer())
        let stream = try await multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(Collector(answer: answer))
            }
        }.get()
        let block = HTTP2Frame.FramePayload.headers(.init(headers: HPACKHeaders(headers), endStream: body == nil))
        try await stream.writeAndFlush(block)
        if let body {
            try await stream.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(string: body)), endStream: true)))
        }
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let current = answer.withLockedValue { $0 }
            if current.ended || current.reset != nil || current.closed { return current }
            try await Task.sleep(for: .milliseconds(10))
        }
        return answer.withLockedValue { $0 }
    }

    func close() async {
        try? await channel.close()
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame.FramePayload
        let answer: NIOLockedValueBox<Answer>
        init(answer: NIOLockedValueBox<Answer>) { self.answer = answer }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .headers(let headers):
                answer.withLockedValue {
                    if $0.status == nil { $0.status = headers.headers.first(name: ":status") }
                    if headers.endStream { $0.ended = true }
                }
            case .data(let data):
                if case .byteBuffer(let buffer) = data.data {
                    answer.withLockedValue { $0.body += String(buffer: buffer) }
                }
                if data.endStream { answer.withLockedValue { $0.ended = true } }
            case .rstStream(let code):
                answer.withLockedValue { $0.reset = code }
            default:
                break
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            answer.withLockedValue { $0.closed = true }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if let closed = error as? NIOHTTP2Errors.StreamClosed {
                answer.withLockedValue { $0.reset = closed.errorCode }
            }
            context.close(promise: nil)
        }
    }
}
