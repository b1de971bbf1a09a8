import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// An application node that speaks WebSocket with SwiftNIO's own upgrader: after the handshake it
/// sends `node=<name> session=<cookie>` as a text message, then echoes every data message back and
/// answers a close frame with one before closing. A plain HTTP request gets `426 Upgrade Required`
/// naming the node, and one asking to upgrade to anything but websocket gets that too.
final class WebSocketBackend: Sendable {
    let name: String
    let channel: any Channel
    private let state: NIOLockedValueBox<(upgrades: [HTTPRequestHead], open: Int)>
    private let reservation: PortReservation

    var port: Int { channel.localAddress!.port! }
    /// The heads of the upgrade requests the node accepted.
    var upgrades: [HTTPRequestHead] { state.withLockedValue { $0.upgrades } }
    /// WebSocket connections open now.
    var openSockets: Int { state.withLockedValue { $0.open } }

    private init(name: String, channel: any Channel, state: NIOLockedValueBox<(upgrades: [HTTPRequestHead], open: Int)>, reservation: PortReservation) {
        self.name = name
        self.channel = channel
        self.state = state
        self.reservation = reservation
    }

    static func start(name: String, group: any EventLoopGroup) async throws -> WebSocketBackend {
        let state = NIOLockedValueBox((upgrades: [HTTPRequestHead](), open: 0))
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(PortReservation.sharedPortOption, value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: 4 << 20,
                    shouldUpgrade: { channel, head in
                        state.withLockedValue { $0.upgrades.append(head) }
                        return channel.eventLoop.makeSucceededFuture(HTTPHeaders([("X-Backend-Node", name)]))
                    },
                    upgradePipelineHandler: { channel, head in
                        let cookie = head.headers.first(name: "cookie") ?? "-"
                        return channel.eventLoop.makeCompletedFuture {
                            // The frame codec was added after it: plain HTTP's handler must go.
                            try channel.pipeline.syncOperations.removeHandler(
                                context: channel.pipeline.syncOperations.context(name: "upgrade-required"), promise: nil)
                            try channel.pipeline.syncOperations.addHandler(
                                EchoHandler(greeting: "node=\(name) session=\(cookie)", state: state))
                        }
                    }
                )
                return channel.pipeline.configureHTTPServerPipeline(
                    withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                ).flatMapThrowing {
                    // Made on the channel's loop: the handler is not Sendable and never leaves it.
                    try channel.pipeline.syncOperations.addHandler(UpgradeRequired(name: name), name: "upgrade-required")
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let reservation = try PortReservation(port: channel.localAddress!.port!)
        return WebSocketBackend(name: name, channel: channel, state: state, reservation: reservation)
    }

    func close() async {
        try? await channel.close()
    }

    /// Echoes data messages; answers a close frame with one, then closes.
    private final class EchoHandler: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let greeting: String
        let state: NIOLockedValueBox<(upgrades: [HTTPRequestHead], open: Int)>

        init(greeting: String, state: NIOLockedValueBox<(upgrades: [HTTPRequestHead], open: Int)>) {
            self.greeting = greeting
            self.state = state
        }

        func handlerAdded(context: ChannelHandlerContext) {
            state.withLockedValue { $0.open += 1 }
            let text = context.channel.allocator.buffer(string: greeting)
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: text)), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.withLockedValue { $0.open -= 1 }
            context.fireChannelInactive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            switch frame.opcode {
            case .text, .binary, .continuation:
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: frame.fin, opcode: frame.opcode, data: frame.unmaskedData)), promise: nil)
            case .connectionClose:
                let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: frame.unmaskedData)
                context.writeAndFlush(wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            case .ping:
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
            default:
                break
            }
        }
    }

    /// Plain HTTP requests: `426 Upgrade Required`.
    private final class UpgradeRequired: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let name: String
        init(name: String) { self.name = name }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            let body = "websocket only\n"
            let head = HTTPResponseHead(version: .http1_1, status: .upgradeRequired, headers: HTTPHeaders([
                ("X-Backend-Node", name), ("Content-Length", "\(body.utf8.count)"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ]))
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

/// WebSocket frames as bytes for a raw client (RFC 6455 §5.2): client frames are masked.
enum WebSocketWire {
    static let upgradeHeaders = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    /// What a server must answer to that key (RFC 6455 §1.3).
    static let expectedAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    static func clientFrame(opcode: UInt8, _ payload: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(0x80 | opcode)
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        switch payload.count {
        case ..<126: buffer.writeInteger(UInt8(0x80 | payload.count))
        case ..<65536:
            buffer.writeInteger(UInt8(0x80 | 126))
            buffer.writeInteger(UInt16(payload.count))
        default:
            buffer.writeInteger(UInt8(0x80 | 127))
            buffer.writeInteger(UInt64(payload.count))
        }
        buffer.writeBytes(mask)
        buffer.writeBytes(payload.enumerated().map { $0.element ^ mask[$0.offset & 3] })
        return buffer
    }

    /// The unmasked server frames at the start of `bytes` as (opcode, payload), and how many bytes they took.
    static func serverFrames(_ bytes: [UInt8]) -> [(opcode: UInt8, payload: [UInt8])] {
        var frames: [(UInt8, [UInt8])] = []
        var i = 0
        while i + 2 <= bytes.count {
            let opcode = bytes[i] & 0x0F
            var length = Int(bytes[i + 1] & 0x7F)
            var start = i + 2
            if length == 126 {
                guard start + 2 <= bytes.count else { break }
                length = Int(bytes[start]) << 8 | Int(bytes[start + 1])
                start += 2
            } else if length == 127 {
                guard start + 8 <= bytes.count else { break }
                length = bytes[start..<start + 8].reduce(0) { $0 << 8 | Int($1) }
                start += 8
            }
            guard start + length <= bytes.count else { break }
            frames.append((opcode, Array(bytes[start..<start + length])))
            i = start + length
        }
        return frames
    }
}
