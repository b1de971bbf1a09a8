import Logging
import NIOCore
import NIOHTTP1

/// The client side of an upgraded connection (a WebSocket, after the node's `101 Switching
/// Protocols`): bytes go both ways as they are, until either side closes or nothing moves for
/// `timeouts.tunnel`.
///
/// It replaces the HTTP handlers at the end of the client's pipeline and becomes the delegate of
/// the node connection, which no longer returns to the pool. Backpressure is the GlueHandler rule
/// again, both ways: the client is read only while the node connection is writable, and the node
/// only while the client is (``UpstreamHandler/read(context:)`` asks ``downstreamWritable``).
/// Routing, draining and failover decided where the tunnel goes when it opened; a tunnel already
/// open stays on its node, whatever happens to the node's state later, until one side closes it.
final class TunnelHandler: ChannelDuplexHandler, RemovableChannelHandler, TunnelEnd, NIOScheduledCallbackHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Labels {
        var client: String
        var cluster: String
        var node: String

        /// The one line a tunnel leaves when it closes, whichever protocol carried it.
        func logClosed(_ logger: Logger, reason: String, fromClient: Int, fromNode: Int, opened: NIODeadline) {
            logger.info("tunnel closed", metadata: [
                "client": "\(client)", "cluster": "\(cluster)", "node": "\(node)",
                "reason": "\(reason)", "bytes_from_client": "\(fromClient)", "bytes_from_node": "\(fromNode)",
                "duration_s": "\(Double((NIODeadline.now() - opened).nanoseconds) / 1e9)",
            ])
        }
    }

    private let upstream: UpstreamConnection
    private let idleTimeout: TimeAmount
    private let logger: Logger
    private let labels: Labels
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var upstreamNeedsFlush = false
    private var closed = false
    private let opened = NIODeadline.now()
    private var bytesFromClient = 0
    private var bytesFromNode = 0
    private var idle = LazyTimer()

    init(upstream: UpstreamConnection, idleTimeout: TimeAmount, logger: Logger, labels: Labels) {
        self.upstream = upstream
        self.idleTimeout = idleTimeout
        self.logger = logger
        self.labels = labels
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        upstream.handler.delegate = self
        upstream.handler.startTunnel()
        touch()
        // The HTTP handlers this one replaces may have been holding the client's reads.
        if upstream.handler.isWritable { context.read() } else { pendingRead = true }
        upstream.handler.resumeReading()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idle.cancel()
        self.context = nil
    }

    /// Activity in either direction pushes the idle deadline back.
    private func touch() {
        guard let context else { return }
        idle.set(context.eventLoop.now + idleTimeout, on: context.eventLoop, self)
    }

    /// The idle timer fired.
    func handleScheduledCallback(eventLoop: some EventLoop) {
        guard let context, idle.fired(on: context.eventLoop, self) else { return }
        close(reason: "no bytes either way within timeouts.tunnel")
    }

    // MARK: Client → node

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        bytesFromClient += bytes.readableBytes
        touch()
        upstream.handler.writeTunnel(bytes)
        upstreamNeedsFlush = true
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if upstreamNeedsFlush {
            upstreamNeedsFlush = false
            upstream.handler.flush()
        }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if upstream.handler.isWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        if writable, pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    // MARK: Node → client

    func upstreamTunnelBytes(_ bytes: ByteBuffer) {
        guard let context else { return }
        bytesFromNode += bytes.readableBytes
        touch()
        context.write(wrapOutboundOut(bytes), promise: nil)
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    var downstreamWritable: Bool { context?.channel.isWritable ?? true }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { upstream.handler.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Ends

    /// The node closed (or failed): what it sent before reaches the client, then the client closes.
    func upstreamFailed(_ failure: UpstreamFailure) {
        close(reason: "node closed")
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            close(reason: "client closed")
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        close(reason: "client closed")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        close(reason: "client connection error: \(error)")
    }

    /// Closes both sides once, each after what was already written to it has gone out.
    private func close(reason: String) {
        guard !closed else { return }
        closed = true
        idle.cancel()
        upstream.closeAfterWrites()
        if let context {
            let last = context.channel.allocator.buffer(capacity: 0)
            context.writeAndFlush(wrapOutboundOut(last)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
        labels.logClosed(logger, reason: reason, fromClient: bytesFromClient, fromNode: bytesFromNode, opened: opened)
    }
}

/// The node's side of a tunnel (``TunnelHandler``, ``HTTP2Tunnel``): the connection's HTTP parts
/// never come once it is open (the node connection passes raw bytes), so they are nothing here.
protocol TunnelEnd: UpstreamDelegate {}

extension TunnelEnd {
    func upstreamResponseHead(_ head: NodeResponseHead) {}
    func upstreamResponseBody(_ body: ByteBuffer) {}
    func upstreamResponseEnd(_ trailers: HTTPHeaders?) {}
    func downstreamStalled() {}
    var awaitingClientBody: Bool { false }
}

extension UpstreamConnection {
    /// Leaves the tunnel: the node connection closes once what was written to it has gone.
    func closeAfterWrites() {
        handler.delegate = nil
        let node = channel
        node.writeAndFlush(node.allocator.buffer(capacity: 0)).whenComplete { _ in node.close(promise: nil) }
    }
}
