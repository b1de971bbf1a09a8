import NIOCore
import NIOHPACK
import NIOHTTP1

/// How a response reaches the client: as bytes Latch frames itself on an HTTP/1 connection
/// (``HTTP1ResponseWriter``), or as frames handed to its HTTP/2 stream (``HTTP2ResponseWriter``),
/// which its connection writes. Each declares the type that goes into the pipeline (`OutboundOut`);
/// ``ProxyHandler`` holds the one its pipeline needs, so neither pays for the other's branches.
///
/// A class-bound protocol the handler holds as an existential, not a generic parameter of the
/// handler: a generic handler class is compiled once for all writers, which left NIO's `unwrapInboundIn`
/// and friends unspecialized — a dynamic cast and generic metadata look-ups per event, +3 % instructions
/// per request under callgrind.
protocol ResponseWriter: AnyObject {
    /// What the writer writes into the handler's pipeline.
    associatedtype OutboundOut

    /// Whether bodies of unknown length are chunk-framed (HTTP/1.1). On HTTP/2, DATA frames and
    /// END_STREAM delimit the body and there is no chunking (RFC 9113 §8.2.2).
    var chunksBodies: Bool { get }

    /// A 1xx, a final head or a 101; written, not flushed.
    func writeHead(_ head: ClientResponseHead, context: ChannelHandlerContext)
    /// A body part as `framing` says; written or gathered, not flushed.
    func writeBody(_ body: ByteBuffer, framing: ResponseFraming, context: ChannelHandlerContext)
    /// The end of the body (the last chunk and trailers when chunked); not flushed.
    func writeEnd(trailers: HTTPHeaders?, framing: ResponseFraming, context: ChannelHandlerContext)
    /// One of Latch's own answers, head, body and end; not flushed.
    func writeLocal(_ response: LocalResponse, clientVersion: HTTPVersion, context: ChannelHandlerContext)
    /// Writes what was gathered and flushes.
    func flush(context: ChannelHandlerContext)
    /// Forgets what was gathered and not written (the connection is being cut).
    func discard()
    /// The response is complete: what the connection does next. `keepAlive`: the response told the
    /// client the connection stays open. `requestUnread`: the client is still sending a body nobody
    /// will read, so closing at once would make the kernel reset the connection under the answer.
    func complete(keepAlive: Bool, requestUnread: Bool, context: ChannelHandlerContext) -> ResponseCompletion
}

/// What follows a complete response.
enum ResponseCompletion {
    /// Flushed; the connection serves the next request.
    case keepAlive
    /// Closes once `written`.
    case close(EventLoopFuture<Void>)
    /// Once `written`: reads and drops what the client still sends for a bounded time, then closes.
    /// `shutOutput`: a FIN goes first (HTTP/1; an HTTP/2 stream has ended its side with the response).
    case linger(EventLoopFuture<Void>, shutOutput: Bool)
    /// An HTTP/2 stream whose request has ended too: it closes by itself.
    case streamEnds
}

/// Writes HTTP/1.1 responses as bytes (``HTTPWire``), gathering the head, small body parts and chunk
/// framing of one read from the node into one buffer, written at the end of the read or when a large
/// part comes: a small response leaves in one `write`.
final class HTTP1ResponseWriter: ResponseWriter {
    typealias OutboundOut = ByteBuffer
    let chunksBodies = true
    /// Body parts up to this size are copied into the gathered bytes; larger ones go as they are.
    static let coalesceLimit = 16 * 1024

    private var staged: ByteBuffer?
    /// The loop's buffers (``LoopBuffers``): gathered bytes are written into one, which goes back as
    /// soon as it is handed to the channel. The flush that follows normally writes it out at once,
    /// before anything takes a buffer again; one still queued (a client reading slowly) is not
    /// overwritten but replaced when taken (copy-on-write).
    private let buffers: LoopBuffers?

    init(buffers: LoopBuffers? = nil) {
        self.buffers = buffers
    }

    private func stage(_ context: ChannelHandlerContext, _ write: (inout ByteBuffer) -> Void) {
        if staged == nil {
            staged = buffers?.take(capacity: 1024, allocator: context.channel.allocator) ?? context.channel.allocator.buffer(capacity: 1024)
        }
        write(&staged!)
    }

    private func sendStaged(_ context: ChannelHandlerContext) {
        guard let buffer = staged.take() else { return }
        context.write(NIOAny(buffer), promise: nil)
        buffers?.giveBack(buffer)
    }

    func writeHead(_ head: ClientResponseHead, context: ChannelHandlerContext) {
        stage(context) { HTTPWire.write(head, into: &$0) }
    }

    func writeBody(_ body: ByteBuffer, framing: ResponseFraming, context: ChannelHandlerContext) {
        guard !framing.suppressBody, body.readableBytes > 0 else { return }
        if body.readableBytes <= Self.coalesceLimit {
            stage(context) { out in
                if framing.chunked { HTTPWire.writeChunk(body, into: &out) } else { out.writeImmutableBuffer(body) }
            }
            return
        }
        if framing.chunked { stage(context) { HTTPWire.writeChunkSize(body.readableBytes, into: &$0) } }
        sendStaged(context)
        context.write(NIOAny(body), promise: nil)
        if framing.chunked { stage(context) { $0.writeImmutableBuffer(HTTPWire.chunkEnd) } }
    }

    func writeEnd(trailers: HTTPHeaders?, framing: ResponseFraming, context: ChannelHandlerContext) {
        if framing.chunked { stage(context) { HTTPWire.writeLastChunk(trailers: trailers, into: &$0) } }
    }

    func writeLocal(_ response: LocalResponse, clientVersion: HTTPVersion, context: ChannelHandlerContext) {
        let body = response.body
        stage(context) { buffer in
            buffer.reserveCapacity(minimumWritableBytes: 256 + body.utf8.count)
            HTTPWire.write(response.head(clientVersion: clientVersion), into: &buffer)
            if !response.headRequest { buffer.writeString(body) }
        }
    }

    func flush(context: ChannelHandlerContext) {
        sendStaged(context)
        context.flush()
    }

    func discard() {
        staged = nil
    }

    func complete(keepAlive: Bool, requestUnread: Bool, context: ChannelHandlerContext) -> ResponseCompletion {
        if keepAlive {
            flush(context: context)
            return .keepAlive
        }
        let last = staged ?? context.channel.allocator.buffer(capacity: 0)
        staged = nil
        let written = context.writeAndFlush(NIOAny(last))
        return requestUnread ? .linger(written, shutOutput: true) : .close(written)
    }
}
/// Writes a stream's response as HTTP/2 frames through its ``HTTP2Stream``: HEADERS from the head
/// (``H2HeaderEncoder``), DATA for the body, and the DATA frame, or the trailers'
/// HEADERS, that ends the stream. The latest body part waits until the next call: if that is the
/// end, the part carries END_STREAM itself, and a small answer is two frames, not three.
final class HTTP2ResponseWriter: ResponseWriter {
    typealias OutboundOut = ByteBuffer
    let chunksBodies = false
    /// Strong: the stream lets its proxy (and so this writer) go when it closes.
    private let stream: HTTP2Stream
    /// The latest body part, not yet written.
    private var last: ByteBuffer?

    init(stream: HTTP2Stream) {
        self.stream = stream
    }

    func writeHead(_ head: ClientResponseHead, context: ChannelHandlerContext) {
        stream.write(.headers(.head(head), endStream: false))
    }

    func writeBody(_ body: ByteBuffer, framing: ResponseFraming, context: ChannelHandlerContext) {
        guard !framing.suppressBody, body.readableBytes > 0 else { return }
        writeLast()
        last = body
    }

    private func writeLast() {
        guard let body = last.take() else { return }
        stream.write(.data(body, endStream: false))
    }

    func writeEnd(trailers: HTTPHeaders?, framing: ResponseFraming, context: ChannelHandlerContext) {
        if let trailers {
            writeLast()
            stream.write(.headers(.fields(HPACKHeaders(httpHeaders: trailers, normalizeHTTPHeaders: true)), endStream: true))
        } else {
            stream.write(.data(last.take() ?? ByteBuffer(), endStream: true))
        }
        // A WebSocket's CONNECT answered without a tunnel: the client's side stays open, so once the
        // whole answer has gone out it is asked to stop (RFC 9113 §8.1: NO_ERROR after a complete
        // response). Not before: a reset drops what still waits for the client's window.
        if stream.awaitingTunnel { stream.write(.reset(.noError)) }
    }

    func writeLocal(_ response: LocalResponse, clientVersion: HTTPVersion, context: ChannelHandlerContext) {
        let head = response.head(clientVersion: .http1_1)
        var fields = HTTPHeaders([(":status", String(head.status.code))])
        fields.add(contentsOf: head.headers)
        // Normalised: Latch's own answers are made for HTTP/1 clients (RFC 9113 §8.2.2).
        stream.write(.headers(.fields(HPACKHeaders(httpHeaders: fields, normalizeHTTPHeaders: true)), endStream: false))
        if !response.headRequest {
            writeBody(context.channel.allocator.buffer(string: response.body), framing: ResponseFraming(), context: context)
        }
        writeEnd(trailers: nil, framing: ResponseFraming(), context: context)
    }

    func flush(context: ChannelHandlerContext) {
        writeLast()
        stream.connection.flush()
    }

    func discard() {
        last = nil
    }

    /// The stream closes by itself once the request has ended too. If the client is still sending a
    /// body nobody will read, it is read and dropped within the lingering bounds, so the stream ends
    /// cleanly: resetting it at once would make clients drop the answer they were just sent (RFC 9113
    /// §8.1 allows the reset, clients handle it badly).
    func complete(keepAlive: Bool, requestUnread: Bool, context: ChannelHandlerContext) -> ResponseCompletion {
        stream.connection.flush()
        guard requestUnread else { return keepAlive ? .keepAlive : .streamEnds }
        return .linger(context.eventLoop.makeSucceededVoidFuture(), shutOutput: false)
    }
}
