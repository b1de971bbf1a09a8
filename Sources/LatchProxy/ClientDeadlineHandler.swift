import NIOCore

/// Keeps the client-side deadlines that need to see raw bytes: the whole request head must arrive
/// within `requestHead` of its first byte (or of the accept, for the first request), however slowly
/// it trickles — a slowloris client gets 408 and is closed; a keep-alive connection with no request
/// for `idle` is closed quietly. Sits before the HTTP decoder; the proxy handler tells it when a
/// head arrived and when an exchange ended.
final class ClientDeadlineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        /// Waiting for the first byte of the next request (keep-alive idle).
        case idle
        /// Bytes of a request head have arrived; the head deadline runs.
        case readingHead
        /// A request head was parsed; the exchange's own timeouts apply.
        case inExchange
    }

    private let requestHeadTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var phase = Phase.readingHead
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// Called once when the head deadline closes the connection, for the log.
    var onHeadTimeout: (() -> Void)?

    init(requestHead: TimeAmount, idle: TimeAmount) {
        self.requestHeadTimeout = requestHead
        self.idleTimeout = idle
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { startTimer(requestHeadTimeout, headDeadline: true) }
    }

    func channelActive(context: ChannelHandlerContext) {
        // HAProxy's `timeout http-request` also runs from the accept for the first request.
        startTimer(requestHeadTimeout, headDeadline: true)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .idle = phase {
            phase = .readingHead
            startTimer(requestHeadTimeout, headDeadline: true)
        }
        context.fireChannelRead(data)
    }

    /// The decoder produced a request head: stop the head deadline.
    func requestHeadReceived() {
        phase = .inExchange
        timer?.cancel()
        timer = nil
    }

    /// The response was sent and the connection stays open: wait for the next request.
    func exchangeFinished() {
        guard case .inExchange = phase else { return }
        phase = .idle
        startTimer(idleTimeout, headDeadline: false)
    }

    private func startTimer(_ amount: TimeAmount, headDeadline: Bool) {
        timer?.cancel()
        guard let context else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: amount) { [weak self] in
            guard let self, let context = self.context else { return }
            self.timer = nil
            if headDeadline {
                self.onHeadTimeout?()
                // Below the HTTP encoder: write the whole response as bytes (RFC 9110 §15.5.9).
                let body = "Request head not received in time.\n"
                var buffer = context.channel.allocator.buffer(capacity: 160)
                buffer.writeString(
                    "HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                        + "content-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n\(body)"
                )
                context.writeAndFlush(self.wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
            } else {
                context.close(promise: nil)
            }
        }
    }
}
