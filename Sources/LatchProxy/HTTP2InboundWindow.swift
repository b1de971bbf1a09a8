/// When to open a peer's send window again (RFC 9113 §6.9): the receiver's side of HTTP/2 flow
/// control for one stream, or for the connection as a whole.
///
/// The window is given back as the stream's reader takes the bytes, not as they arrive: frames held
/// for a reader that is not reading (its node cannot take more) keep their share of the window shut,
/// so a client can have at most one window's worth of a stream waiting in Latch. A `WINDOW_UPDATE` goes
/// out once the open window has fallen to half the target or below, as swift-nio-http2's stream
/// channels do: one frame per half window rather than one per DATA frame.
struct HTTP2InboundWindow: Sendable, Equatable {
    /// The window the peer should have to send into when Latch has taken everything.
    private(set) var target: Int
    /// The window as swift-nio-http2 last reported it (`NIOHTTP2WindowUpdatedEvent`): what the peer may
    /// still send. `nil` until the first report.
    private(set) var reported: Int?
    /// Bytes received and not yet taken by the reader: counted as still open, so they are not given
    /// back before they are read.
    private(set) var held = 0
    /// The peer ended its side (END_STREAM): nothing more is given back.
    private(set) var closed = false

    init(target: Int) {
        self.target = target
    }

    /// swift-nio-http2 reports the window after a DATA frame arrived or a `WINDOW_UPDATE` left.
    /// - Returns: the increment to send, if one is due.
    mutating func reported(_ size: Int) -> Int? {
        reported = size
        return increment()
    }

    /// A DATA frame of `size` bytes is held for the reader.
    mutating func hold(_ size: Int) {
        held += size
    }

    /// The peer ended its side.
    mutating func close() {
        closed = true
    }

    /// The reader took a held frame of `size` bytes.
    /// - Returns: the increment to send, if one is due.
    mutating func taken(_ size: Int) -> Int? {
        held -= size
        return increment()
    }

    private func increment() -> Int? {
        guard !closed, let reported else { return nil }
        // Held bytes are spoken for: the window counts as open by that much until the reader takes them.
        let open = reported + held
        guard open < target else { return nil }
        if open < 0 {
            // A window driven below zero (the peer's SETTINGS shrank it under data in flight): back
            // to the target, within the largest increment a frame can carry (RFC 9113 §6.9.1).
            return min(target - open, Int(Int32.max))
        }
        let increment = target - open
        return increment >= open ? increment : nil
    }
}
