import LatchCore
import NIOCore

/// First on a connection whose peer must start with a PROXY protocol header (a listener's
/// `proxy_protocol`): reads the header, then sets up the connection's own handlers (TLS, HTTP) with
/// the client address the header carries, hands them the bytes that came behind it, and leaves.
///
/// A connection that does not start with a header, sends one that does not parse, or has not sent
/// a whole one within `timeout` (the listener's `request_head`) is closed and reported. One that
/// closes before sending a byte is not: that is how TCP health checks of the balancer in front look.
final class ProxyHeaderReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Why a connection was closed before its header was read (the `reason` label of
    /// `latch_proxy_protocol_refusals_total`).
    enum Refusal: String, Sendable {
        case malformed, timeout, closed
    }

    /// Sets up the rest of the pipeline; the address is the header's source, `nil` when the header
    /// gives none (v2 `LOCAL`, v1 `UNKNOWN`) and the peer's own address stands.
    typealias Proceed = (any Channel, SocketAddress?) throws -> Void

    private let timeout: TimeAmount
    private let proceed: Proceed
    private let refused: (Refusal, String) -> Void
    private var received: ByteBuffer?
    private var timer: Scheduled<Void>?
    private var finished = false
    /// Shutdown began before the header came (the handlers set up after it see that themselves).
    private var quiescing = false

    /// - Parameter refused: the reason and, in words, what was wrong; called at most once.
    init(timeout: TimeAmount, proceed: @escaping Proceed, refused: @escaping (Refusal, String) -> Void) {
        self.timeout = timeout
        self.proceed = proceed
        self.refused = refused
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startTimer(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimer(context)
        context.fireChannelActive()
    }

    private func startTimer(_ context: ChannelHandlerContext, in amount: TimeAmount? = nil) {
        guard timer == nil, !finished else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: amount ?? timeout) { [weak self] in
            guard let self, !self.finished else { return }
            if self.quiescing, self.received == nil {
                // Shut down while nothing came: closed as an idle connection is, not refused.
                self.finished = true
                context.close(promise: nil)
                return
            }
            self.refuse(context, .timeout, "no whole PROXY protocol header within timeouts.request_head")
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        var bytes = unwrapInboundIn(data)
        if received == nil {
            received = bytes
        } else {
            received!.writeBuffer(&bytes)
        }
        let parsed = received!.withUnsafeReadableBytes { raw in
            Result { () throws(ProxyProtocolHeader.Refusal) in try ProxyProtocolHeader.parse(raw) }
        }
        switch parsed {
        case .failure(let refusal):
            refuse(context, .malformed, refusal.description)
        case .success(.needMore):
            break
        case .success(.header(let header, let length)):
            finished = true
            timer?.cancel()
            timer = nil
            var rest = received!
            received = nil
            rest.moveReaderIndex(forwardBy: length)
            let client: SocketAddress?
            switch header {
            case .local: client = nil
            case .proxied(let source, _): client = try? SocketAddress(ipAddress: source.ip, port: source.port)
            }
            do {
                try proceed(context.channel, client)
            } catch {
                context.fireErrorCaught(error)
                context.close(promise: nil)
                return
            }
            // The handlers set up behind this one get the client's first bytes, then this one leaves;
            // the read's end (`channelReadComplete`) reaches them directly.
            if rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        endedEarly()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard !finished else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if event is ChannelShouldQuiesceEvent {
            // At shutdown a header on its way is still read (its request is served as the last one);
            // a connection that has sent nothing gets the quiet window a connection between requests gets.
            quiescing = true
            if received == nil, timeout > ClientConnectionStateMachine.quietWindow {
                timer?.cancel()
                timer = nil
                startTimer(context, in: ClientConnectionStateMachine.quietWindow)
            }
        } else if case .inputClosed = event as? ChannelEvent {
            // Once the peer stops sending, the connection has nothing left to give.
            endedEarly()
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !finished else {
            context.fireErrorCaught(error)
            return
        }
        endedEarly()
        context.close(promise: nil)
    }

    /// The peer went away mid-header: reported; with no byte sent, it only connected and left.
    private func endedEarly() {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        timer = nil
        if let received, received.readableBytes > 0 {
            refused(.closed, "the connection ended after \(received.readableBytes) bytes of an unfinished PROXY protocol header")
        }
    }

    private func refuse(_ context: ChannelHandlerContext, _ reason: Refusal, _ detail: String) {
        finished = true
        timer?.cancel()
        timer = nil
        received = nil
        refused(reason, detail)
        context.close(promise: nil)
    }
}
