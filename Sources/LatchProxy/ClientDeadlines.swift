import NIOCore

/// The client-side deadlines of one connection (or HTTP/2 stream). ``ProxyHandler`` owns it, tells
/// it when bytes arrive and where the connection is in its request cycle, and hears from it when a
/// deadline passes.
///
/// - The whole request head must arrive within `requestHead` of its first byte (or of the accept, for
///   the first request, as HAProxy's `timeout http-request`), however slowly it trickles: a slowloris
///   client gets 408 and is closed.
/// - While a request body is being received, the client may stay silent for at most `idle`; a stalled
///   upload must not hold a client and a node connection forever. Time during which Latch itself holds
///   the client's reads (the node is slow to take the body) does not count: the upstream watchdog
///   bounds that (see ``UpstreamHandler/startWatchdog(interval:)``).
/// - A keep-alive connection with no request for `idle` is closed quietly.
final class ClientDeadlines {
    private enum Phase {
        /// Waiting for the first byte of the next request (keep-alive idle).
        case idle
        /// Bytes of a request head have arrived; the head deadline runs.
        case readingHead
        /// A request head was parsed and its body is still coming: the inactivity timer runs.
        case readingBody
        /// The request is complete; the exchange's upstream timeouts apply.
        case awaitingResponse
    }

    private let requestHeadTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var phase = Phase.readingHead
    /// The current phase's limit; no deadline while the response is awaited.
    private var timer = LazyTimer()
    /// `unowned`: the timer is cancelled when the channel goes inactive or this handler is removed
    /// (and a weak reference would put every retain of this handler on the slow path).
    private lazy var fire: () -> Void = { [unowned self] in self.timerFired() }
    private var armedAmount = TimeAmount.zero
    private var bytesSinceArmed = false
    private var context: ChannelHandlerContext?
    /// The head deadline passed: the handler answers 408 itself and closes.
    var onHeadTimeout: (() -> Void)?
    /// The body went silent for `idle`: the proxy handler decides what the client gets.
    var onBodyTimeout: (() -> Void)?
    /// Whether the proxy is holding the client's reads (backpressure): silence is then Latch's doing.
    var isHoldingReads: () -> Bool = { false }

    /// Whether the connection carries bytes, so its 408 can be written as bytes; an HTTP/2 stream is
    /// closed instead.
    private let writesBytes: Bool

    init(requestHead: TimeAmount, idle: TimeAmount, writesBytes: Bool = true) {
        self.requestHeadTimeout = requestHead
        self.idleTimeout = idle
        self.writesBytes = writesBytes
    }

    /// The handler is in its pipeline; the first head's deadline runs from the accept (as HAProxy's
    /// `timeout http-request`), so it starts once the channel is active.
    func attach(to context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { activated() }
    }

    func activated() {
        if timer.deadline == nil { startTimer(requestHeadTimeout) }
    }

    /// The channel closed or the handler left it: no deadline fires any more.
    func stop() {
        timer.cancel()
        context = nil
    }

    /// Bytes (or, on an HTTP/2 stream, a request part) arrived.
    func bytesArrived() {
        bytesSinceArmed = true
        if case .idle = phase {
            phase = .readingHead
            startTimer(requestHeadTimeout)
        }
    }

    /// The decoder produced a request head; its body (if any) follows.
    func requestHeadReceived() {
        phase = .readingBody
        startTimer(idleTimeout)
    }

    /// The request's end was received.
    func requestEnded() {
        // Only a body being read ends here; after an answer Latch gave itself the idle timer must stay.
        guard case .readingBody = phase else { return }
        phase = .awaitingResponse
        timer.clear()
    }

    /// The exchange is over and the connection stays open: wait for the next request. Call this
    /// *before* writing the response's end, because writing it can deliver a pipelined request at once.
    func exchangeFinished() {
        phase = .idle
        startTimer(idleTimeout)
    }

    /// Sets the current phase's deadline (lazily: see ``LazyTimer``, one firing per `request_head` at
    /// most under keep-alive traffic).
    private func startTimer(_ amount: TimeAmount) {
        bytesSinceArmed = false
        armedAmount = amount
        guard let context else { return }
        timer.set(context.eventLoop.now + amount, on: context.eventLoop, fire)
    }

    private func timerFired() {
        // No deadline in this phase (awaiting the response), or one still ahead: nothing yet.
        guard let context, timer.fired(on: context.eventLoop, fire) else { return }
        switch phase {
        case .readingHead:
            onHeadTimeout?()
            guard writesBytes else {
                context.close(promise: nil)
                return
            }
            // The whole response as bytes (RFC 9110 §15.5.9).
            let buffer = RawResponse.closing(
                408,
                "Request Timeout",
                detail: "the request head did not arrive in time",
                allocator: context.channel.allocator
            )
            // Closed at once, not when the write completes: on a TLS connection whose client never
            // finished its handshake the write waits for the handshake forever. On a plain or
            // established one the answer is already in the socket (or the client is not reading).
            context.writeAndFlush(NIOAny(buffer), promise: nil)
            context.close(promise: nil)
        case .readingBody:
            if bytesSinceArmed || isHoldingReads() {
                startTimer(armedAmount)
            } else {
                onBodyTimeout?()
            }
        case .idle:
            context.close(promise: nil)
        case .awaitingResponse:
            break
        }
    }
}
