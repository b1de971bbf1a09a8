import NIOCore
import NIOHTTP1

/// Where one client connection (or HTTP/2 stream) is in its life, and what each inbound event means
/// for it. A value with no I/O: ``ProxyHandler`` feeds it the channel's events and performs the
/// actions it returns, so the order rules live here, where tests can drive them one event at a time.
///
/// The exchange itself (routing, the node, the response) is ``ExchangeStateMachine``'s; this type
/// knows only whether one is in progress, whether the connection ends after it, and what waits behind it.
struct ClientConnectionStateMachine {
    enum State: Equatable {
        /// Between requests: the next head starts an exchange.
        case idle
        /// A request is being served. `closeAfter`: the connection ends with its response (the client
        /// sent `Connection: close` or half-closed, the response cannot be framed otherwise, shutdown…).
        case exchange(closeAfter: Bool)
        /// The last answer is written or on its way; nothing more is read or served.
        case closing
        /// After an early answer: output is shut, and what the client still sends is read and dropped,
        /// so the kernel does not reset the connection under the answer (nginx's `lingering_close`).
        case lingering(bytes: Int)
        case closed
    }

    /// An inbound event that arrived behind a request whose response is still under way (pipelining,
    /// RFC 9112 §9.3.2), replayed in order when that response has ended.
    enum Held {
        case part(ClientRequestPart)
        case parseError(any Error)
        case inputClosed
    }

    /// What the handler does with a request part.
    enum PartAction {
        case startExchange(ClientRequestHead)
        case forward(ClientRequestPart)
        /// Held for later or dropped: nothing to do now.
        case none
        case close
    }

    /// What the handler does after an event that may end the connection.
    enum CloseAction: Equatable {
        case none
        case close
        /// The exchange in progress ends the connection: its response must say `Connection: close`.
        case closeAfterResponse
        /// Between requests at shutdown: close unless a request starts within ``quietWindow``.
        case closeIfQuiet
    }

    /// What a parse error means here.
    enum ParseErrorAction: Equatable {
        /// Behind pipelined requests: replayed in turn.
        case held
        /// After the last answer: nothing is owed.
        case none
        case close
        /// The error is in the current request: the exchange decides (a bad chunk in its body is
        /// refused; bytes after a complete request only end the connection after the response).
        case refuseExchange
        /// No exchange: answer the error, then linger.
        case answer
    }

    private(set) var state: State = .idle
    private var held: [Held] = []
    /// Shutdown (or a take-over) began while this connection was open: its next request is its last.
    private(set) var quiescing = false

    /// How long a connection between requests is kept at shutdown for a request that may be on its
    /// way: closing it at once could cross a request the client is sending (it would get a reset, not
    /// an answer), as HAProxy's `idle-close-on-response` avoids. A client that is really idle is closed
    /// after this, without holding shutdown for the whole grace.
    static let quietWindow = TimeAmount.seconds(1)
    /// A read was asked for while it could not be served (held events, backpressure).
    private(set) var readPending = false

    /// Bounds of a lingering close: long enough for a client uploading on a busy machine to see its
    /// answer, short enough that an attacker cannot keep the connection.
    static let lingerLimit = (seconds: Int64(10), bytes: 1024 * 1024)

    var isLingering: Bool {
        if case .lingering = state { return true }
        return false
    }

    var inExchange: Bool {
        if case .exchange = state { return true }
        return false
    }

    /// The connection ends after the current response (or has ended).
    var closesAfterResponse: Bool {
        switch state {
        case .idle: false
        case .exchange(let closeAfter): closeAfter
        case .closing, .lingering, .closed: true
        }
    }

    // MARK: - Events

    mutating func received(_ part: ClientRequestPart) -> PartAction {
        switch state {
        case .lingering(let bytes):
            guard case .body(let buffer) = part else { return .none }
            state = .lingering(bytes: bytes + buffer.readableBytes)
            return bytes + buffer.readableBytes > Self.lingerLimit.bytes ? .close : .none
        case .closing, .closed:
            // After a response that said `Connection: close`, nothing more is served (RFC 9112 §9.6).
            return .none
        case .idle, .exchange:
            // Latch keeps reading while a response is under way — it sees a client's close at once and
            // never toggles read interest per request — so a pipelined request can arrive now: it waits.
            if !held.isEmpty || (inExchange && part.isHead) {
                held.append(.part(part))
                return .none
            }
            return handle(part)
        }
    }

    private mutating func handle(_ part: ClientRequestPart) -> PartAction {
        switch (state, part) {
        case (.idle, .head(let head)):
            state = .exchange(closeAfter: quiescing)
            return .startExchange(head)
        case (.exchange, .body), (.exchange, .end):
            return .forward(part)
        default:
            // The body of a request answered early, or anything after the last answer.
            return .none
        }
    }

    /// The exchange ended; `keepAlive` is what its response told the client.
    mutating func exchangeEnded(keepAlive: Bool) {
        guard case .exchange(let closeAfter) = state else { return }
        if keepAlive && !closeAfter {
            state = .idle
        } else {
            state = .closing
            // A response that closes the connection ends the line: the requests behind it are not served.
            held.removeAll()
        }
    }

    /// The exchange in progress ends the connection.
    mutating func closeAfterResponse() {
        if case .exchange = state { state = .exchange(closeAfter: true) }
    }

    /// The next held event to replay now, if any: everything up to the next request head that must
    /// wait for the exchange before it.
    mutating func nextHeld() -> Held? {
        guard let event = held.first else { return nil }
        if case .part(.head) = event, state != .idle { return nil }
        held.removeFirst()
        return event
    }

    /// Replays a held part (it is not held again).
    mutating func replay(_ part: ClientRequestPart) -> PartAction {
        switch state {
        case .idle, .exchange: handle(part)
        default: .none
        }
    }

    var hasHeld: Bool { !held.isEmpty }

    /// The client half-closed its side. A request in progress is still answered, as nginx and HAProxy
    /// do; the connection closes after it.
    mutating func inputClosed(replaying: Bool = false) -> CloseAction {
        if !replaying, !held.isEmpty {
            held.append(.inputClosed)
            return .none
        }
        switch state {
        case .exchange:
            state = .exchange(closeAfter: true)
            return .closeAfterResponse
        case .idle, .lingering:
            state = .closed
            return .close
        case .closing, .closed:
            return .none
        }
    }

    /// Shutdown: a busy connection closes after its current response, which says `Connection: close`
    /// if its head has not gone out yet; one between requests serves one more request, with
    /// `Connection: close`, if it starts within ``quietWindow`` (`headUnderway`: some of its head has
    /// arrived, and the head deadline bounds the rest). Pipelined requests not yet started are dropped.
    mutating func quiesce(headUnderway: Bool) -> CloseAction {
        held.removeAll()
        quiescing = true
        if case .idle = state { return headUnderway ? .none : .closeIfQuiet }
        return inputClosed(replaying: true)
    }

    /// The request parser refused the client's bytes; it stops there, so the connection always closes.
    /// `answers`: the refusal can still be read as the answer to a request.
    mutating func parseError(_ error: any Error, answers: Bool, replaying: Bool = false) -> ParseErrorAction {
        if !replaying, !held.isEmpty {
            // A parse error behind pipelined requests is theirs to reach in turn.
            held.append(.parseError(error))
            return .held
        }
        switch state {
        case .exchange:
            return .refuseExchange
        case .closing:
            // Bytes after a response that said `Connection: close` are not a request Latch owes an
            // answer; that response closes the connection once written.
            return .none
        case .idle:
            guard answers else {
                state = .closed
                return .close
            }
            state = .closing
            return .answer
        case .lingering, .closed:
            return .close
        }
    }

    /// After a parse error the decoder hands on what still arrives as an error carrying the bytes: a
    /// lingering client's, read and dropped like a refused body's. True when the limit is passed.
    mutating func droppedAfterParseError(_ count: Int) -> Bool {
        guard case .lingering(let bytes) = state else { return true }
        state = .lingering(bytes: bytes + count)
        return bytes + count > Self.lingerLimit.bytes
    }

    /// The early answer is written; the client is still sending.
    mutating func lingerStarted() {
        state = .lingering(bytes: 0)
    }

    /// The channel went inactive; true when an exchange was cut.
    mutating func closed() -> Bool {
        let wasInExchange = inExchange
        held.removeAll()
        state = .closed
        return wasInExchange
    }

    /// The handler was asked to read. `requestStreaming` is whether the current exchange's request
    /// body still comes; `upstreamReady` whether its node connection can take more bytes. True when the
    /// read goes through now.
    mutating func readRequested(requestStreaming: Bool, upstreamReady: Bool) -> Bool {
        switch state {
        case .lingering:
            return true
        case .closing, .closed:
            return false
        case .idle, .exchange:
            if !held.isEmpty || (inExchange && requestStreaming && !upstreamReady) {
                readPending = true
                return false
            }
            return true
        }
    }

    /// A read held earlier may go now; true when one was held.
    mutating func takePendingRead() -> Bool {
        defer { readPending = false }
        return readPending
    }
}

extension ClientRequestPart {
    var isHead: Bool {
        if case .head = self { return true }
        return false
    }
}
