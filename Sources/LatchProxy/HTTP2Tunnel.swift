import Logging
import NIOCore
import NIOHTTP1

/// A WebSocket over an HTTP/2 stream (RFC 8441), once the node answered its opening handshake with
/// `101 Switching Protocols`: the stream's DATA go to the node connection as bytes, and the node's
/// bytes come back as DATA, until either side ends or nothing moves for `timeouts.tunnel` — what
/// ``TunnelHandler`` does for an HTTP/1.1 connection, with a stream in place of the connection.
///
/// Backpressure is the same rule both ways: the stream is read only while the node connection is
/// writable, and the node only while the client's windows for the stream are open
/// (``HTTP2Stream/writable``). The client ending its side (END_STREAM, which RFC 8441 §4 maps to
/// TCP's FIN) shuts the node connection's sending side, and the node's answer still comes back; the
/// node closing ends the stream; a reset, either way, closes the node connection.
final class HTTP2Tunnel: HTTP2StreamReader, TunnelEnd, NIOScheduledCallbackHandler {
    private let stream: HTTP2Stream
    private let upstream: UpstreamConnection
    /// The client connection's context (``HTTP2Connection``): its event loop runs the tunnel.
    private let context: ChannelHandlerContext
    private let idleTimeout: TimeAmount
    private let logger: Logger
    private let labels: TunnelHandler.Labels
    private var upstreamNeedsFlush = false
    private var pendingRead = false
    private var closed = false
    /// The client sent END_STREAM: its half is done, the node's may go on.
    private var clientEnded = false
    private let opened = NIODeadline.now()
    private var bytesFromClient = 0
    private var bytesFromNode = 0
    private var idle = LazyTimer()

    init(
        stream: HTTP2Stream, upstream: UpstreamConnection, context: ChannelHandlerContext, idleTimeout: TimeAmount, logger: Logger,
        labels: TunnelHandler.Labels
    ) {
        self.stream = stream
        self.upstream = upstream
        self.context = context
        self.idleTimeout = idleTimeout
        self.logger = logger
        self.labels = labels
        upstream.handler.delegate = self
        upstream.handler.startTunnel()
        touch()
        upstream.handler.resumeReading()
    }

    /// Activity in either direction pushes the idle deadline back.
    private func touch() {
        idle.set(context.eventLoop.now + idleTimeout, on: context.eventLoop, self)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        guard idle.fired(on: context.eventLoop, self) else { return }
        close(reason: "no bytes either way within timeouts.tunnel", endStream: true)
    }

    // MARK: Client → node

    func received(_ part: HTTP2RequestPart) {
        switch part {
        case .body(let bytes):
            guard !closed else { return }
            bytesFromClient += bytes.readableBytes
            touch()
            upstream.handler.writeTunnel(bytes)
            upstreamNeedsFlush = true
        case .end:
            guard !closed, !clientEnded else { return }
            clientEnded = true
            upstreamNeedsFlush = false
            let node = upstream.channel
            node.writeAndFlush(node.allocator.buffer(capacity: 0)).whenComplete { _ in node.close(mode: .output, promise: nil) }
        case .head:
            break
        }
    }

    func mayRead() -> Bool {
        guard upstream.handler.isWritable else {
            pendingRead = true
            return false
        }
        return true
    }

    func readComplete() {
        guard upstreamNeedsFlush else { return }
        upstreamNeedsFlush = false
        upstream.handler.flush()
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        guard writable, pendingRead else { return }
        pendingRead = false
        stream.resume()
    }

    // MARK: Node → client

    func upstreamTunnelBytes(_ bytes: ByteBuffer) {
        guard !closed else { return }
        bytesFromNode += bytes.readableBytes
        touch()
        stream.write(.data(bytes, endStream: false))
    }

    func upstreamReadComplete() {
        stream.connection.flush()
    }

    var downstreamWritable: Bool { stream.writable }

    func clientWritable() {
        upstream.handler.resumeReading()
    }

    // MARK: Ends

    /// The node closed (or failed): what it sent reaches the client, then the stream ends.
    func upstreamFailed(_ failure: UpstreamFailure) {
        close(reason: "node closed", endStream: true)
    }

    func streamClosed() {
        close(reason: "client closed", endStream: false)
    }

    func shutdownGraceOver() {}

    /// Closes both sides once: the node connection after what was written to it, and the stream with
    /// END_STREAM, then, once that has gone out and if the client has not ended its side, a reset
    /// with NO_ERROR so it is not left holding the stream (RFC 9113 §8.1); sooner, the reset would
    /// drop what still waits for the client's window. `endStream`: the stream is still open.
    private func close(reason: String, endStream: Bool) {
        guard !closed else { return }
        closed = true
        idle.cancel()
        upstream.closeAfterWrites()
        if endStream {
            stream.write(.data(ByteBuffer(), endStream: true))
            if !clientEnded { stream.write(.reset(.noError)) }
            stream.connection.flush()
        }
        labels.logClosed(logger, reason: reason, fromClient: bytesFromClient, fromNode: bytesFromNode, opened: opened)
    }
}
