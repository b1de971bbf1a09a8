import NIOCore
import NIOHPACK
import NIOHTTP1

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
/// its ``ProxyHandler``, nothing else. The stream hands its request's parts to the proxy, holds them
/// while the proxy is not reading (its node cannot take more yet), and gives the client's window back
/// as the proxy takes them (``H2ConnectionStateMachine/taken(_:_:)``). Its answer's frames go out as
/// far as the client's windows allow; the rest waits here, in order, until they open, and the proxy
/// hears whether its response may go on (``writable``: nothing waits, the stream's window and the
/// connection's are open, and the socket takes more), so a node is read no faster than its client
/// reads.
///
/// A WebSocket's extended CONNECT (RFC 8441 §4) holds the stream's DATA from its head until the
/// node's answer: a 101 hands the stream to a tunnel (``openTunnel(_:)``), anything else ends it.
final class HTTP2Stream: HTTP2Identified {
    let id: UInt32
    /// `unowned`: the connection holds its streams and lets each go (``closed()``) before it goes.
    unowned let connection: HTTP2Connection
    /// `nil` once the stream has closed: that breaks the cycle (the reader holds its stream).
    private(set) var reader: (any HTTP2StreamReader)?
    /// Parts that arrived while the proxy was not reading, oldest first.
    private var held = StreamQueue<HTTP2RequestPart>()
    /// Whether the proxy takes parts as they come. While it does not, they wait in `held`.
    private var reading = true
    /// A part is being handed to the proxy: a resume from inside it only marks the stream as reading.
    private var delivering = false
    /// An extended CONNECT awaits the node's answer: what the client sends is the tunnel's, and waits.
    private(set) var awaitingTunnel = false
    /// Frames of the answer waiting for the client's windows, oldest first.
    private(set) var queued = StreamQueue<HTTP2Outbound>()
    /// DATA bytes in `queued`.
    private(set) var unsent = 0
    /// The proxy's response may go on: see ``HTTP2Connection/isWritable(_:)``.
    private(set) var writable = true
    /// Parts were handed to the proxy in the connection's current read: its upstream writes wait
    /// for the read's end, to leave in one flush.
    var inRead = false

    var isClosed: Bool { reader == nil }

    init(id: UInt32, connection: HTTP2Connection) {
        self.id = id
        self.connection = connection
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

    // MARK: - The request

    /// A part of the request, in order: the head, body bytes, the end.
    func received(_ part: HTTP2RequestPart) {
        guard !isClosed else { return }
        guard reading, held.isEmpty else {
            held.append(part)
            return
        }
        deliver(part)
    }

    /// The proxy reads again (``ProxyHandler/resumeClientReads()``): what waited goes to it, in
    /// order, until it stops reading again; the client's window reopens by what it took.
    func resume() {
        guard !awaitingTunnel else { return }
        reading = true
        guard !delivering else { return }
        var took = false
        while reading, !isClosed, let part = held.popFirst() {
            deliver(part)
            took = true
        }
        guard took else { return }
        reader?.readComplete()
        connection.flush()
    }

    private func deliver(_ part: HTTP2RequestPart) {
        guard let reader else { return }
        delivering = true
        defer { delivering = false }
        if case .body(let bytes) = part { connection.taken(self, bytes.readableBytes) }
        reader.received(part)
        connection.delivered(self)
        reading = !awaitingTunnel && (self.reader?.mayRead() ?? false)
    }

    // MARK: - The answer

    /// A frame of the answer: out now as far as the windows allow, the rest after what waits.
    func write(_ frame: HTTP2Outbound) {
        guard !isClosed else { return }
        if queued.isEmpty {
            guard let rest = connection.send(frame, on: self) else {
                setWritable(connection.isWritable(self))
                return
            }
            queue(rest)
        } else {
            queue(frame)
        }
        setWritable(false)
    }

    /// DATA joins the DATA before it: what waits leaves in frames as large as the windows allow,
    /// not one per read from the node.
    private func queue(_ frame: HTTP2Outbound) {
        unsent += frame.size
        if case .data(let bytes, let endStream) = frame, let last = queued.last, case .data(var before, false) = last {
            queued.removeLast()
            before.writeImmutableBuffer(bytes)
            queued.append(.data(before, endStream: endStream))
            return
        }
        queued.append(frame)
    }

    /// The client's windows opened: what waits goes out as far as they allow.
    func sendQueued() {
        while !isClosed, let frame = queued.popFirst() {
            unsent -= frame.size
            if let rest = connection.send(frame, on: self) {
                unsent += rest.size
                queued.prepend(rest)
                break
            }
        }
        setWritable(connection.isWritable(self))
    }

    /// Writability as the connection computes it; the proxy hears when its response may go on again.
    func setWritable(_ now: Bool) {
        guard now != writable else { return }
        writable = now
        if now { reader?.clientWritable() }
    }

    /// The reader ends the stream early (RFC 9113 §8.1: RST_STREAM, CANCEL; NO_ERROR after a
    /// complete answer, asking the client to stop sending); the rest of the connection is untouched.
    func reset(_ code: H2ErrorCode = .cancel) {
        guard !isClosed else { return }
        connection.reset(self, code: code)
    }

    /// The stream is over (both sides ended, reset either way, or the connection went): the proxy
    /// sees its client go.
    func closed() {
        guard let reader else { return }
        self.reader = nil
        held.removeAll()
        queued.removeAll()
        unsent = 0
        reader.streamClosed()
    }
}

/// A frame of a stream's answer, as its writer hands it over.
enum HTTP2Outbound {
    case headers(H2HeaderEncoder.Block, endStream: Bool)
    case data(ByteBuffer, endStream: Bool)
    /// RST_STREAM once what was written before it has gone out (a reset drops what still waits).
    case reset(H2ErrorCode)

    /// What the frame weighs against the client's windows.
    var size: Int {
        if case .data(let bytes, _) = self { return bytes.readableBytes }
        return 0
    }
}

/// What ``HTTP2Stream`` hands its proxy of the stream's request.
enum HTTP2RequestPart {
    /// The request's header block, and whether it ended the stream.
    case head(HPACKHeaders, endStream: Bool)
    case body(ByteBuffer)
    case end(HTTPHeaders?)
}

/// A stream's queue of parts or frames, oldest first: most streams never queue anything, and an
/// empty queue here allocates nothing (a `CircularBuffer` allocates its storage as it is made,
/// twice per stream).
struct StreamQueue<Element> {
    private var items: [Element] = []
    /// Where the oldest element is: elements before it were taken.
    private var head = 0

    var isEmpty: Bool { head == items.count }
    var last: Element? { isEmpty ? nil : items.last }

    mutating func append(_ element: Element) {
        items.append(element)
    }

    mutating func popFirst() -> Element? {
        guard !isEmpty else { return nil }
        let first = items[head]
        head += 1
        if head == items.count { removeAll() }
        return first
    }

    /// Puts back what ``popFirst()`` took.
    mutating func prepend(_ element: Element) {
        if head > 0 {
            head -= 1
            items[head] = element
        } else {
            items.insert(element, at: 0)
        }
    }

    mutating func removeLast() {
        items.removeLast()
        if head == items.count { removeAll() }
    }

    mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
        head = 0
    }
}
