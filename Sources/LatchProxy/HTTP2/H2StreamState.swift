/// One open stream of a client's HTTP/2 connection as ``H2ConnectionStateMachine`` keeps it: where
/// it is in its life (RFC 9113 §5.1) and its flow-control windows both ways (§6.9).
struct H2StreamState: HTTP2Identified, Equatable {
    /// A server's stream is opened by the client's HEADERS, so it starts open (or half-closed
    /// (remote) when those HEADERS end the stream); closed streams leave the table.
    enum Phase: Equatable {
        case open
        /// The client ended its side: only WINDOW_UPDATE, PRIORITY and RST_STREAM may come.
        case halfClosedRemote
        /// Latch ended its side: the client may go on sending.
        case halfClosedLocal
    }

    let id: UInt32
    var phase: Phase
    /// What the client may still send on the stream, as Latch counts it.
    var inbound: Int
    /// Bytes received and not yet taken by the stream's reader: they keep their share of the window
    /// shut, so a client can have at most one window of a stream waiting in Latch.
    var held = 0
    /// What Latch may still send on the stream (the client's window for it).
    var outbound: Int
    /// The body the request's `content-length` still announces; `nil` without one. DATA beyond it,
    /// or END_STREAM before it, makes the request malformed (RFC 9113 §8.1.1): the HTTP/1 request
    /// toward the node is framed by that length, and what went past it would be read as another
    /// request.
    var remainingLength: Int?

    var clientSending: Bool { phase != .halfClosedRemote }

    /// The increment that opens the client's window again, if one is due: once the open window
    /// (unsent plus held) has fallen to half the target or below, back to the full target — one
    /// WINDOW_UPDATE per half window rather than one per DATA frame, as swift-nio-http2 and nginx do.
    mutating func increment(target: Int) -> Int? {
        guard clientSending else { return nil }
        let increment = H2StreamState.increment(open: inbound + held, target: target)
        if let increment { inbound += increment }
        return increment
    }

    /// How much to open a window whose open part is `open`, toward `target`; `nil` while it is over
    /// half open. A window driven below zero (the client's SETTINGS shrank it under data in flight)
    /// goes back to the target within the largest increment a frame carries (§6.9.1).
    static func increment(open: Int, target: Int) -> Int? {
        guard open < target else { return nil }
        if open < 0 { return min(target - open, Int(Int32.max)) }
        let increment = target - open
        return increment >= open ? increment : nil
    }
}
