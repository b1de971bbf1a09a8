import LatchCore
import NIOCore
import NIOHTTP1

/// The phase of one request/response exchange and the rules that move it: waiting for a slot on its
/// node, connecting (attempt by attempt), relaying the request, holding the response head, streaming
/// the response, done. A value with no I/O, in the shape of async-http-client's
/// `HTTPRequestStateMachine`: ``ProxyHandler`` reports what happened and does what the answer says.
///
/// The request and the response run side by side (a node may answer before the body has arrived), so
/// the request's progress is its own axis beside `phase` and `response`.
struct ExchangeStateMachine {
    enum Phase: Equatable {
        /// A node is being chosen (first, or again after a failed attempt).
        case placing
        /// Waiting in the node's queue (`max_connections`) with this ticket.
        case queued(ticket: UInt64)
        /// Holding a slot on the node; a connection to it is being leased.
        case connecting
        /// The request goes to the node over a leased connection.
        case connected
        /// Settled: the slot given back, the queue left; nothing more happens.
        case done
    }

    enum Response {
        case awaitingHead
        /// The final head, rewritten for the client, waits to go out with the first body bytes, the
        /// end or the end of the node's read: a node whose body breaks in the same read as its head
        /// still gets the client a 502.
        case headReady
        /// The client has the head: from here an error can only cut the connection.
        case streaming
        case ended
    }

    /// How the placement of an attempt turned out.
    enum Placement: Equatable {
        case admitted
        case queued(ticket: UInt64)
    }

    /// How a failed exchange ends for the client.
    enum Ending: Equatable {
        /// Nothing was written yet: Latch answers with this status.
        case answer(HTTPResponseStatus)
        /// The response had begun: the connection is cut, the only way HTTP/1.1 can say "incomplete".
        case cut
    }

    private(set) var phase = Phase.placing
    private(set) var response = Response.awaitingHead
    /// The head of ``Response/headReady``, apart from the enum so that taking it moves it rather
    /// than copying it (a head holds several references).
    private var readyHead: ClientResponseHead?
    /// The final head went to the client (not just arrived: a failure before it is written replaces it).
    private(set) var responseStarted = false
    private(set) var requestEnded = false
    /// Counted in flight on the node (admitted under its `max_connections`): a release is owed.
    private(set) var holdsSlot = false
    /// Request bytes were written to the current attempt's connection.
    private(set) var wroteRequest = false
    private(set) var retriedOnFreshConnection = false
    private(set) var clientKeepAlive: Bool
    private(set) var upstreamReusable = false
    private(set) var responseStatus: HTTPResponseStatus?
    private(set) var failure: UpstreamFailure?
    /// Request parts that arrived while no connection was ready. Bounded: the client side stops
    /// reading until the node is connected, so at most one read's worth waits.
    private var buffered: [HTTPClientRequestPart] = []
    /// The body's bytes, kept while they fit in `retryBodyLimit`, so an idempotent request can be sent
    /// again after bytes were written; `nil` once the body outgrew the limit. The end is not kept as
    /// a part (`requestEnded` says it came, with its trailers beside): a bodiless request, nearly
    /// every one, keeps nothing and allocates nothing.
    private var keptBody: [ByteBuffer]? = []
    private var keptTrailers: HTTPHeaders?
    private var keptBytes = 0
    private let retryBodyLimit: Int

    init(clientKeepAlive: Bool, retryBodyLimit: Int) {
        self.clientKeepAlive = clientKeepAlive
        self.retryBodyLimit = retryBodyLimit
    }

    var isDone: Bool { phase == .done }

    /// The queue ticket, while waiting for a slot.
    var queueTicket: UInt64? {
        if case .queued(let ticket) = phase { return ticket }
        return nil
    }

    // MARK: - Placement and connection

    /// An attempt was placed; true when a connection is to be leased now.
    mutating func placed(_ placement: Placement) -> Bool {
        guard phase == .placing || phase == .queued(ticket: queueTicket ?? 0) else { return false }
        switch placement {
        case .admitted:
            phase = .connecting
            holdsSlot = true
            return true
        case .queued(let ticket):
            phase = .queued(ticket: ticket)
            return false
        }
    }

    /// A slot was handed over to the queue ticket `ticket`; true when it is this exchange's and a
    /// connection is to be leased, false when the slot must go back (the exchange left the queue).
    mutating func granted(ticket: UInt64) -> Bool {
        guard phase == .queued(ticket: ticket) else { return false }
        return placed(.admitted)
    }

    /// The queue was left (timed out, and the cluster agreed): no ticket is withdrawn at the end.
    mutating func leftQueue() {
        if queueTicket != nil { phase = .placing }
    }

    /// The connection is ready: what waited for it goes out after the head.
    mutating func connected() -> [HTTPClientRequestPart] {
        phase = .connected
        wroteRequest = true
        defer { buffered.removeAll() }
        return buffered
    }

    // MARK: - Request

    /// A request body part or its end; true when it goes to the node now, false when it waits for
    /// the connection.
    mutating func requestPart(_ part: HTTPClientRequestPart) -> Bool {
        keep(part)
        if case .end = part { requestEnded = true }
        guard phase == .connected else {
            if phase != .done { buffered.append(part) }
            return false
        }
        return true
    }

    private mutating func keep(_ part: HTTPClientRequestPart) {
        switch part {
        case .body(.byteBuffer(let buffer)):
            guard keptBody != nil else { return }
            keptBytes += buffer.readableBytes
            if keptBytes > retryBodyLimit {
                keptBody = nil
                return
            }
            keptBody?.append(buffer)
        case .body(.fileRegion):
            keptBody = nil  // not bytes Latch holds: such a request is not sent again
        case .end(let trailers):
            keptTrailers = trailers
        case .head:
            break
        }
    }

    // MARK: - Response

    /// The node's final head arrived. Returns whether the client connection stays open after it.
    /// - Parameters:
    ///   - upstreamReusable: the node's connection can serve another request after this response.
    ///   - clientCanFrame: the client can be told where the body ends without closing.
    ///   - connectionCloses: the client connection ends after this response anyway.
    mutating func receivedHead(
        _ status: HTTPResponseStatus, upstreamReusable: Bool, clientCanFrame: Bool, connectionCloses: Bool
    ) -> Bool {
        responseStatus = status
        self.upstreamReusable = upstreamReusable
        // A request still being sent cannot be followed by another on this connection: the rest of
        // its body would be read as one.
        if !requestEnded || connectionCloses || !clientCanFrame { clientKeepAlive = false }
        return clientKeepAlive
    }

    mutating func headReady(_ head: ClientResponseHead) {
        readyHead = head
        response = .headReady
    }

    /// The head to write now, once.
    mutating func takeHead() -> ClientResponseHead? {
        guard case .headReady = response else { return nil }
        response = .streaming
        responseStarted = true
        return readyHead.take()
    }

    /// The node's response ended; returns whether its connection can go back to the pool.
    mutating func responseEnded() -> Bool {
        response = .ended
        return upstreamReusable && requestEnded
    }

    /// The node switched protocols: the exchange ends here, its connection goes to the tunnel.
    mutating func switchedProtocols(_ status: HTTPResponseStatus) {
        responseStatus = status
        response = .ended
    }

    /// The client connection ends after this response.
    mutating func closeAfterResponse() {
        clientKeepAlive = false
    }

    // MARK: - Failure and retry

    /// What ``RetryRule`` needs to know about the current attempt's failure.
    func attempt(failedWith failure: UpstreamFailure, reusedConnection: Bool, nodesTried: Int, elapsed: Duration, idempotent: Bool, hasNoBody: Bool) -> RetryRule.Attempt {
        var attempt = RetryRule.Attempt(failure: failure.retryKind)
        attempt.reusedConnection = reusedConnection
        attempt.retriedOnFreshConnection = retriedOnFreshConnection
        attempt.responseHeadReceived = responseStatus != nil
        attempt.responseStarted = responseStarted
        attempt.wroteRequest = wroteRequest
        attempt.idempotent = idempotent
        attempt.hasNoBody = hasNoBody
        attempt.bodyKept = keptBody != nil
        attempt.nodesTried = nodesTried
        attempt.elapsed = elapsed
        return attempt
    }

    /// The same node again, on a fresh connection (a reused one was found closed): the request had
    /// no body, so only its end goes after the head.
    mutating func retryOnFreshConnection() {
        retriedOnFreshConnection = true
        phase = .connecting
        buffered = requestEnded ? [.end(nil)] : []
    }

    /// Another node: the slot on this one is given back (the caller releases it), and what was
    /// written is sent again from what was kept. Returns whether a slot was held.
    mutating func leaveNode() -> Bool {
        let held = holdsSlot
        holdsSlot = false
        phase = .placing
        if wroteRequest, let keptBody {
            buffered = keptBody.map { .body(.byteBuffer($0)) }
            if requestEnded { buffered.append(.end(keptTrailers)) }
        }
        wroteRequest = false
        return held
    }

    /// The exchange cannot complete. A head not yet written is forgotten: the client gets Latch's
    /// error instead.
    mutating func failed(_ failure: UpstreamFailure, connectionCloses: Bool) -> Ending {
        let started = responseStarted
        self.failure = started && failure == .closedBeforeResponse ? .closedMidResponse : failure
        response = .ended
        readyHead = nil
        if started { return .cut }
        let status = LocalResponse.status(for: failure)
        responseStatus = status
        if !requestEnded || connectionCloses { clientKeepAlive = false }
        return .answer(status)
    }

    /// The exchange ends without an answer (the client left or stopped reading).
    mutating func abandoned(_ failure: UpstreamFailure) {
        self.failure = failure
        response = .ended
        readyHead = nil
    }

    /// At the end, whatever the ending: whether a slot is to be released, and a queue ticket still to
    /// be withdrawn (if the slot was handed over meanwhile, the grant finds the exchange gone and
    /// gives it back).
    mutating func settle() -> (releaseSlot: Bool, withdraw: UInt64?) {
        let release = holdsSlot
        let ticket = release ? nil : queueTicket
        holdsSlot = false
        phase = .done
        return (release, ticket)
    }
}
