import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// What an ``HTTP2Stream`` hands its frames to: the stream's ``ProxyHandler`` or, once a WebSocket
/// opened over it (RFC 8441), its ``HTTP2Tunnel``.
protocol HTTP2StreamReader: AnyObject {
    func received(_ part: HTTP2RequestPart)
    /// Whether the next frames may come now; if not, the reader resumes the stream itself later.
    func mayRead() -> Bool
    /// The connection's read ended: what the reader wrote toward its node leaves in one flush.
    func readComplete()
    /// The client takes more of the stream's answer again.
    func clientWritable()
    /// The stream is over (ended both ways, reset, or the connection went).
    func streamClosed()
    /// Shutdown's grace ran out (``ShutdownGraceOverEvent``).
    func shutdownGraceOver()
}

/// One stream of a client's HTTP/2 connection, handled on the connection (``HTTP2Connection``)
/// rather than as a child channel with a pipeline of its own: per stream there is this object and
/// its ``ProxyHandler``, nothing else. The stream turns its frames into the proxy's request parts,
/// holds them while the proxy is not reading (its node cannot take more yet), gives the client's
/// window back as the proxy takes them (``HTTP2InboundWindow``), and tells the proxy whether its
/// response may go on (the client's window for it and the connection's are open, and the socket
/// takes more).
///
/// A WebSocket's extended CONNECT (RFC 8441 §4) holds the stream's DATA from its head until the
/// node's answer: a 101 hands the stream to a tunnel (``openTunnel(_:)``), anything else ends it.
///
/// The first header block is the request's head, a later one its trailers (RFC 9113 §8.1). Frames
/// other than HEADERS and DATA (window updates, resets, priority) are swift-nio-http2's business.
final class HTTP2Stream {
    let id: HTTP2StreamID
    /// `unowned`: the connection holds its streams and lets each go (``closed()``) before it goes.
    unowned let connection: HTTP2Connection
    /// `nil` once the stream has closed: that breaks the cycle (the reader holds its stream).
    private(set) var reader: (any HTTP2StreamReader)?
    private var sawHead = false
    /// Frames that arrived while the proxy was not reading, oldest first.
    private var held: CircularBuffer<HTTP2Frame.FramePayload> = []
    /// Whether the proxy takes frames as they come. While it does not, they wait in `held`.
    private var reading = true
    /// A frame is being handed to the proxy: a resume from inside it only marks the stream as reading.
    private var delivering = false
    /// An extended CONNECT awaits the node's answer: what the client sends is the tunnel's, and waits.
    private(set) var awaitingTunnel = false
    var inbound: HTTP2InboundWindow
    /// What the client lets Latch send on this stream (RFC 9113 §6.9), as swift-nio-http2 last
    /// reported it, or from the client's initial window before the first report.
    private(set) var outboundWindow: Int
    /// DATA bytes written for the stream that swift-nio-http2 has not sent yet: what its
    /// flow-control buffer holds beyond the client's windows, or behind a socket that takes no more.
    private(set) var unsent = 0
    /// The response stops (its node is not read) once this much waits unsent: with a client that
    /// opens its window a byte at a time, Latch must not end up holding the response instead.
    static let unsentLimit = 32 * 1024
    /// The proxy's response may go on: see ``HTTP2Connection/isWritable(_:)``.
    private(set) var writable = true
    /// Frames were handed to the proxy in the connection's current read: its upstream writes wait
    /// for the read's end, to leave in one flush.
    var inRead = false

    var isClosed: Bool { reader == nil }

    init(id: HTTP2StreamID, connection: HTTP2Connection, inboundTarget: Int, outboundWindow: Int) {
        self.id = id
        self.connection = connection
        self.inbound = HTTP2InboundWindow(target: inboundTarget)
        self.outboundWindow = outboundWindow
    }

    func attach(_ reader: any HTTP2StreamReader) {
        self.reader = reader
    }

    /// The request was a WebSocket's extended CONNECT: nothing more reaches the proxy.
    func awaitTunnel() {
        awaitingTunnel = true
        reading = false
    }

    /// The node switched protocols: the tunnel takes the stream, and what waited is its first bytes.
    func openTunnel(_ tunnel: any HTTP2StreamReader) {
        guard !isClosed else { return }
        reader = tunnel
        awaitingTunnel = false
        resume()
    }

    /// A HEADERS or DATA frame of this stream.
    func received(_ payload: HTTP2Frame.FramePayload) {
        guard !isClosed else { return }
        // The client's side is over: no window to give back any more (RFC 9113 §6.9: a
        // WINDOW_UPDATE on a half-closed (remote) stream is the peer's to ignore, the library's to refuse).
        if payload.endsStream { inbound.close() }
        guard reading, held.isEmpty else {
            if case .data(let data) = payload { inbound.hold(data.data.readableBytes) }
            held.append(payload)
            return
        }
        deliver(payload)
    }

    /// The proxy reads again (``ProxyHandler/resumeClientReads()``): what waited goes to it, in
    /// order, until it stops reading again; the client's window reopens by what it took.
    func resume() {
        guard !awaitingTunnel else { return }
        reading = true
        guard !delivering else { return }
        var took = false
        while reading, !isClosed, let payload = held.popFirst() {
            if case .data(let data) = payload, let increment = inbound.taken(data.data.readableBytes) {
                connection.openWindow(of: id, by: increment)
            }
            deliver(payload)
            took = true
        }
        guard took else { return }
        reader?.readComplete()
        connection.flushIfNeeded()
    }

    private func deliver(_ payload: HTTP2Frame.FramePayload) {
        guard let reader else { return }
        delivering = true
        defer { delivering = false }
        switch payload {
        case .headers(let block):
            guard sawHead else {
                sawHead = true
                reader.received(.head(block.headers, endStream: block.endStream))
                if block.endStream { reader.received(.end(nil)) }
                break
            }
            do {
                reader.received(.end(try ClientRequestHead.http2Trailers(block.headers)))
            } catch {
                // Part of the request has gone on already: only the stream can say it was malformed.
                reset(.protocolError)
                return
            }
        case .data(let content):
            guard case .byteBuffer(let buffer) = content.data else { break }
            if buffer.readableBytes > 0 { reader.received(.body(buffer)) }
            if content.endStream { reader.received(.end(nil)) }
        default:
            return
        }
        connection.delivered(self)
        reading = !awaitingTunnel && (self.reader?.mayRead() ?? false)
    }

    /// A DATA frame of `size` bytes was written for the stream.
    func wroteData(_ size: Int) {
        unsent += size
        if unsent >= Self.unsentLimit { setWritable(false) }
    }

    /// swift-nio-http2 reported the client's window for the stream: a smaller one means DATA left
    /// (each report follows one frame), a larger one a WINDOW_UPDATE.
    func outboundWindowReported(_ size: Int) {
        let sent = outboundWindow - size
        if sent > 0 { unsent = max(0, unsent - sent) }
        outboundWindow = size
    }

    /// The client's SETTINGS changed every stream's window by `delta` (RFC 9113 §6.9.2).
    func outboundWindowChanged(by delta: Int) {
        outboundWindow += delta
    }

    /// Writability as the connection computes it; the proxy hears when its response may go on again.
    func setWritable(_ now: Bool) {
        guard now != writable else { return }
        writable = now
        if now { reader?.clientWritable() }
    }

    /// The reader ends the stream early (RFC 9113 §8.1: RST_STREAM, CANCEL; NO_ERROR after a
    /// complete answer, asking the client to stop sending); the rest of the connection is untouched.
    func reset(_ code: HTTP2ErrorCode = .cancel) {
        guard !isClosed else { return }
        connection.reset(self, code: code)
    }

    /// The stream is over (both sides ended, reset either way, or the connection went): the proxy
    /// sees its client go.
    func closed() {
        guard let reader else { return }
        self.reader = nil
        held.removeAll()
        reader.streamClosed()
    }
}

/// What ``HTTP2Stream`` hands its proxy of the stream's request.
enum HTTP2RequestPart {
    /// The request's header block, and whether it ended the stream.
    case head(HPACKHeaders, endStream: Bool)
    case body(ByteBuffer)
    case end(HTTPHeaders?)
}

extension HTTP2Frame.FramePayload {
    /// A HEADERS or DATA frame with END_STREAM.
    var endsStream: Bool {
        switch self {
        case .headers(let headers): headers.endStream
        case .data(let data): data.endStream
        default: false
        }
    }
}
