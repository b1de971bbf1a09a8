import NIOCore
import NIOHTTP1
import NIOSSL
import NIOTLS

/// The handlers of an accepted client connection: HTTP/1 on a plain listener; on a TLS listener, the
/// TLS handshake, then HTTP/2 or HTTP/1 as the client's ALPN choice says. Each takes `client`, the
/// address a PROXY protocol header gave (``ProxyHeaderReader``), `nil` for the peer's own.
enum ClientPipeline {
    /// `ProxyHandler` on the connection's bytes, alone: it parses requests, keeps the deadlines,
    /// answers parse errors itself (it knows whether a response is under way and whether the bytes
    /// came after a `Connection: close`), orders pipelined requests itself (NIOHTTP1's pipelining
    /// handler stops reading during every response: two epoll_ctl calls per keep-alive request), and
    /// writes responses as bytes (``HTTPWire``).
    static func http1(_ channel: any Channel, holder: RuntimeHolder, scheme: String, redirectToHTTPS: Int? = nil, client: SocketAddress? = nil) throws {
        let runtime = holder.current
        // A client's half-close is an event, not a close: its request is still answered.
        try channel.syncOptions?.setOption(.allowRemoteHalfClosure, value: true)
        try channel.pipeline.syncOperations.addHandler(
            ProxyHandler(
                holder: holder, parsing: runtime.config.limits.parserLimits, writer: HTTP1ResponseWriter(buffers: runtime.pool(for: channel.eventLoop).buffers), scheme: scheme,
                redirectToHTTPS: redirectToHTTPS, client: client))
    }

    /// TLS first; the rest once the handshake has said which protocol the client speaks.
    /// - Parameter handshakeFailed: counts a client whose handshake failed or timed out.
    static func tls(
        _ channel: any Channel,
        context: NIOSSLContext,
        holder: RuntimeHolder,
        client: SocketAddress? = nil,
        handshakeFailed: @escaping @Sendable () -> Void = {}
    ) throws {
        let runtime = holder.current
        let sync = channel.pipeline.syncOperations
        // Before anything else: plain HTTP on the TLS port is answered in plain text.
        try sync.addHandler(PlainHTTPOnTLSDetector())
        try sync.addHandler(NIOSSLServerHandler(context: context))
        // The HTTP handlers' deadlines start after the handshake: this one bounds the handshake itself,
        // as request_head bounds a head that never comes.
        try sync.addHandler(TLSHandshakeDeadline(timeout: runtime.timeouts.requestHead, failed: handshakeFailed))
        try sync.addHandler(
            ApplicationProtocolNegotiationHandler { result, channel in
                channel.eventLoop.makeCompletedFuture {
                    if case .negotiated("h2") = result {
                        try http2(channel, holder: holder, client: client)
                    } else {
                        try http1(channel, holder: holder, scheme: "https", client: client)
                    }
                }
            }
        )
    }

    /// HTTP/2 (RFC 9113): each stream gets its own `ProxyHandler`, on the connection's
    /// ``HTTP2Connection`` (no child channel per stream), and is routed, balanced, retried and limited
    /// like any request; each goes to its node over HTTP/1.1. Latch checks the header blocks as it
    /// reads them (pseudo-header fields, forbidden connection-specific fields, lower-case names),
    /// and the connection's state machine the framing, stream states, limits and content lengths
    /// (``H2ConnectionStateMachine``); flow control bounds what a stream may buffer: a stream is
    /// read only while its node connection can take more, and the client's window is opened as Latch
    /// reads.
    static func http2(_ channel: any Channel, holder: RuntimeHolder, client: SocketAddress? = nil) throws {
        let runtime = holder.current
        let limits = runtime.config.limits
        var h2 = H2ConnectionStateMachine.Limits()
        h2.maxHeaderListSize = limits.maxRequestHead
        // Idle connections (no open stream for `idle`) and shutdown (GOAWAY, then close when the
        // streams in flight are done) are its business too.
        try channel.pipeline.syncOperations.addHandler(HTTP2Connection(holder: holder, client: client, idle: runtime.timeouts.idle, limits: h2))
    }
}

/// Closes a TLS connection whose handshake has not completed within `timeout`, then leaves; until
/// then it also sees the handshake's errors, and reports both kinds of failure through `failed`.
final class TLSHandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let timeout: TimeAmount
    private let failed: () -> Void
    private var timer: Scheduled<Void>?
    private var reported = false

    init(timeout: TimeAmount, failed: @escaping () -> Void = {}) {
        self.timeout = timeout
        self.failed = failed
    }

    private func report() {
        guard !reported else { return }
        reported = true
        failed()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        report()
        context.fireErrorCaught(error)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard timer == nil else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            self?.report()
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            timer?.cancel()
            timer = nil
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }
}
