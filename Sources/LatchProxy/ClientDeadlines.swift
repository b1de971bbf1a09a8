import NIOCore

/// The client-side deadlines of one connection (or HTTP/2 stream), as a value ``ProxyHandler`` keeps:
/// it says when bytes arrive and where the connection is in its request cycle, and when the timer
/// fires it asks which deadline, if any, has passed (``Expiry``) and acts on the answer.
///
/// - The whole request head must arrive within `requestHead` of its first byte (or of the accept, for
///   the first request, as HAProxy's `timeout http-request`), however slowly it trickles: a slowloris
///   client gets 408 and is closed.
/// - While a request body is being received, the client may stay silent for at most `idle`; a stalled
///   upload must not hold a client and a node connection forever. Time during which Latch itself holds
///   the client's reads (the node is slow to take the body) does not count: the upstream watchdog
///   bounds that (see ``UpstreamHandler/startWatchdog(interval:)``).
/// - A keep-alive connection with no request for `idle` is closed quietly.
///
/// An HTTP/2 stream (`stream: true`) has only the body's deadline: its head came whole in the frame
/// that opened it, and it ends with its response (the connection keeps its own idle deadline,
/// ``HTTP2Connection``). A stream without a body then never schedules a timer at all.
///
/// The timer is a ``LazyTimer`` on the connection's loop: `loop` and `handler` (the channel handler,
/// called back when the timer fires) are passed in rather than kept, so an idle connection holds no
/// object or closure of its own here.
struct ClientDeadlines {
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

    /// What a firing of the timer found.
    enum Expiry: Equatable {
        /// No deadline passed (none runs, or it was moved): the timer re-armed itself if needed.
        case none
        /// The request head did not arrive in time: 408, then close.
        case head
        /// The request body went silent for `idle`.
        case body
        /// The keep-alive connection had no request for `idle`: close quietly.
        case idle
    }

    private let requestHeadTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private let stream: Bool
    private var phase = Phase.readingHead
    /// The current phase's limit; no deadline while the response is awaited.
    private var timer = LazyTimer()
    private var armedAmount = TimeAmount.zero
    private var bytesSinceArmed = false

    init(requestHead: TimeAmount, idle: TimeAmount, stream: Bool = false) {
        self.requestHeadTimeout = requestHead
        self.idleTimeout = idle
        self.stream = stream
    }

    /// The channel is active: the first head's deadline runs from the accept.
    mutating func activated(on loop: any EventLoop, _ handler: some NIOScheduledCallbackHandler) {
        guard !stream else { return }
        if timer.deadline == nil { startTimer(requestHeadTimeout, on: loop, handler) }
    }

    /// The channel closed or the handler left it: no deadline fires any more.
    mutating func stop() {
        timer.cancel()
    }

    /// Bytes (or, on an HTTP/2 stream, a request part) arrived.
    mutating func bytesArrived(at now: NIODeadline? = nil, on loop: any EventLoop, _ handler: some NIOScheduledCallbackHandler) {
        bytesSinceArmed = true
        if case .idle = phase {
            phase = .readingHead
            startTimer(requestHeadTimeout, at: now, on: loop, handler)
        }
    }

    /// A request head was parsed; its body (if any) follows. `bodyFollows`: whether the head frames
    /// a body; without one, a stream has no deadline until it ends.
    mutating func requestHeadReceived(
        bodyFollows: Bool, at now: NIODeadline? = nil, on loop: any EventLoop, _ handler: some NIOScheduledCallbackHandler
    ) {
        if stream, !bodyFollows {
            phase = .awaitingResponse
            return
        }
        phase = .readingBody
        startTimer(idleTimeout, at: now, on: loop, handler)
    }

    /// The request's end was received.
    mutating func requestEnded() {
        // Only a body being read ends here; after an answer Latch gave itself the idle timer must stay.
        guard case .readingBody = phase else { return }
        phase = .awaitingResponse
        timer.clear()
    }

    /// The exchange is over and the connection stays open: wait for the next request. Call this
    /// *before* writing the response's end, because writing it can deliver a pipelined request at once.
    mutating func exchangeFinished(at now: NIODeadline? = nil, on loop: any EventLoop, _ handler: some NIOScheduledCallbackHandler) {
        if stream {
            phase = .awaitingResponse
            timer.clear()
            return
        }
        phase = .idle
        startTimer(idleTimeout, at: now, on: loop, handler)
    }

    /// Shutdown, between requests: the connection closes (as ``Expiry/idle``) unless a request starts
    /// within `window`, or its idle deadline comes first.
    mutating func closeIfQuiet(within window: TimeAmount, on loop: any EventLoop, _ handler: some NIOScheduledCallbackHandler) {
        let deadline = loop.now + window
        if case .idle = phase, let current = timer.deadline, current <= deadline { return }
        phase = .idle
        startTimer(window, on: loop, handler)
    }

    /// The timer fired. `holdingReads`: Latch is holding the client's reads (backpressure), so a
    /// silent body is Latch's doing.
    mutating func fired(on loop: any EventLoop, _ handler: some NIOScheduledCallbackHandler, holdingReads: Bool) -> Expiry {
        // No deadline in this phase (awaiting the response), or one still ahead: nothing yet.
        guard timer.fired(on: loop, handler) else { return .none }
        switch phase {
        case .readingHead:
            return .head
        case .readingBody:
            if bytesSinceArmed || holdingReads {
                startTimer(armedAmount, on: loop, handler)
                return .none
            }
            return .body
        case .idle:
            return .idle
        case .awaitingResponse:
            return .none
        }
    }

    /// Sets the current phase's deadline (lazily: see ``LazyTimer``, one firing per `request_head` at
    /// most under keep-alive traffic), from `now` when the caller read the loop's clock already for
    /// the event at hand (``ProxyHandler/eventTime``), else from the clock.
    private mutating func startTimer(
        _ amount: TimeAmount, at now: NIODeadline? = nil, on loop: any EventLoop, _ handler: some NIOScheduledCallbackHandler
    ) {
        bytesSinceArmed = false
        armedAmount = amount
        timer.set((now ?? loop.now) + amount, on: loop, handler)
    }
}
