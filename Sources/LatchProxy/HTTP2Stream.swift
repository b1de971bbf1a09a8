import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// One stream of a client's HTTP/2 connection, handled on the connection (``HTTP2Connection``)
/// rather than as a child channel with a pipeline of its own: per stream there is this object and
/// its ``ProxyHandler``, nothing else. The stream turns its frames into the proxy's request parts,
/// holds them while the proxy is not reading (its node cannot take more yet), gives the client's
/// window back as the proxy takes them (``HTTP2InboundWindow``), and tells the proxy whether its
/// response may go on (the client's window for it and the connection's are open, and the socket
/// takes more).
///
/// The first header block is the request's head, a later one its trailers (RFC 9113 §8.1). Frames
/// other than HEADERS and DATA (window updates, resets, priority) are swift-nio-http2's business.
final class HTTP2Stream {
    let id: HTTP2StreamID
    /// `unowned`: the connection holds its streams and lets each go (``closed()``) before it goes.
    unowned let connection: HTTP2Connection
    /// `nil` once the stream has closed: that breaks the cycle (the proxy holds its stream).
    private(set) var proxy: ProxyHandler?
    private var sawHead = false
    /// Frames that arrived while the proxy was not reading, oldest first.
    private var held: CircularBuffer<HTTP2Frame.FramePayload> = []
    /// Whether the proxy takes frames as they come. While it does not, they wait in `held`.
    private var reading = true
    /// A frame is being handed to the proxy: a resume from inside it only marks the stream as reading.
    private var delivering = false
    var inbound: HTTP2InboundWindow
    /// What the client lets Latch send on this stream (RFC 9113 §6.9), as swift-nio-http2 last
    /// reported it, or from the client's initial window before the first report.
    var outboundWindow: Int
    /// The proxy's response may go on: see ``HTTP2Connection/isWritable(_:)``.
    private(set) var writable = true
    /// Frames were handed to the proxy in the connection's current read: its upstream writes wait
    /// for the read's end, to leave in one flush.
    var inRead = false

    var isClosed: Bool { proxy == nil }

    init(id: HTTP2StreamID, connection: HTTP2Connection, inboundTarget: Int, outboundWindow: Int) {
        self.id = id
        self.connection = connection
        self.inbound = HTTP2InboundWindow(target: inboundTarget)
        self.outboundWindow = outboundWindow
    }

    func attach(_ proxy: ProxyHandler) {
        self.proxy = proxy
    }

    /// A HEADERS or DATA frame of this stream.
    func received(_ payload: HTTP2Frame.FramePayload) {
        guard !isClosed else { return }
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
        proxy?.readComplete()
        connection.flushIfNeeded()
    }

    private func deliver(_ payload: HTTP2Frame.FramePayload) {
        guard let proxy else { return }
        delivering = true
        defer { delivering = false }
        switch payload {
        case .headers(let block):
            guard sawHead else {
                sawHead = true
                proxy.received(.head(block.headers, endStream: block.endStream))
                if block.endStream { proxy.received(.end(nil)) }
                break
            }
            proxy.received(.end(HTTPHeaders(block.headers.filter { $0.name.utf8.first != UInt8(ascii: ":") }.map { ($0.name, $0.value) })))
        case .data(let content):
            guard case .byteBuffer(let buffer) = content.data else { break }
            if buffer.readableBytes > 0 { proxy.received(.body(buffer)) }
            if content.endStream { proxy.received(.end(nil)) }
        default:
            return
        }
        connection.delivered(self)
        reading = self.proxy?.mayRead() ?? false
    }

    /// Writability as the connection computes it; the proxy hears when its response may go on again.
    func setWritable(_ now: Bool) {
        guard now != writable else { return }
        writable = now
        if now { proxy?.clientWritable() }
    }

    /// The proxy ends the stream early (RFC 9113 §8.1: RST_STREAM, CANCEL); the rest of the
    /// connection is untouched.
    func reset() {
        guard !isClosed else { return }
        connection.reset(self)
    }

    /// The stream is over (both sides ended, reset either way, or the connection went): the proxy
    /// sees its client go.
    func closed() {
        guard let proxy else { return }
        self.proxy = nil
        held.removeAll()
        proxy.streamClosed()
    }
}

/// What ``HTTP2Stream`` hands its proxy of the stream's request.
enum HTTP2RequestPart {
    /// The request's header block, and whether it ended the stream.
    case head(HPACKHeaders, endStream: Bool)
    case body(ByteBuffer)
    case end(HTTPHeaders?)
}
