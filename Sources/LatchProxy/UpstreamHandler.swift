import LatchCore
import NIOCore
import NIOHTTP1

/// What an upstream connection tells the client-side exchange that leased it.
protocol UpstreamDelegate: AnyObject {
    /// A response head (1xx, 101 or final), with what its fields say about framing and persistence.
    func upstreamResponseHead(_ head: NodeResponseHead)
    func upstreamResponseBody(_ body: ByteBuffer)
    func upstreamResponseEnd(_ trailers: HTTPHeaders?)
    /// The connection failed or closed before the response ended.
    func upstreamFailed(_ failure: UpstreamFailure)
    /// The upstream can take more request bytes (or not): the client side reads only while it can.
    func upstreamWritabilityChanged(_ writable: Bool)
    /// A batch of reads ended: time to flush what was relayed to the client.
    func upstreamReadComplete()
    /// The client has taken no response bytes for a whole `upstream_response` interval while Latch held
    /// the node's reads for it: the client, not the node, has stalled.
    func downstreamStalled()
    /// Whether the client still owes request body bytes and Latch is not holding them back: silence on
    /// the node's side is then expected, and the client's own deadline applies.
    var awaitingClientBody: Bool { get }
    /// Whether the client can take more response bytes: the upstream side reads only while it can.
    var downstreamWritable: Bool { get }
    /// Bytes of the protocol the connection switched to after a 101 (see ``UpstreamHandler/startTunnel()``).
    func upstreamTunnelBytes(_ bytes: ByteBuffer)
}

extension UpstreamDelegate {
    /// Only a tunnel asks for them; anything else closes the connection before any can come.
    func upstreamTunnelBytes(_ bytes: ByteBuffer) {}
}

/// How an upstream exchange went wrong, in the words the access log and the client get.
enum UpstreamFailure: Error, Equatable {
    case connectFailed(String)
    case connectRefused
    case connectTimedOut
    /// Not the node's fault: the client stopped sending its request body.
    case clientTimedOut
    /// Not the node's fault: the client stopped taking the response.
    case clientStalled
    /// Not the node's fault: the client closed its connection before the exchange ended.
    case clientClosed
    /// Not the node's fault: Latch was stopping and the exchange outlasted `shutdown_grace`.
    case cutByShutdown
    /// Not the node's fault: the client's request broke a rule or a limit after it had been sent on
    /// (a chunked body over `max_body`, a malformed chunk); the client gets `status`.
    case clientRejected(HTTPResponseStatus, String)
    /// Not the node's fault as such: it stayed at `max_connections` for the whole `queue_timeout`.
    case queueTimedOut
    /// A 5xx answer, counted by passive detection with `on_5xx` (the answer itself is relayed).
    case serverError(Int)
    /// The node failed and `on_unavailable: reject` left no other node for the session.
    case rejectedAfterFailure
    case closedBeforeResponse
    case closedMidResponse
    case badResponse(String)
    case timeout

    var logDescription: String {
        switch self {
        case .connectFailed(let reason): "connect failed: \(reason)"
        case .connectRefused: "connect failed: connection refused"
        case .connectTimedOut: "connect timed out"
        case .serverError(let code): "answered \(code)"
        case .rejectedAfterFailure: "node failed and on_unavailable is reject"
        case .clientTimedOut: "client stopped sending the request body"
        case .clientStalled: "client stopped reading the response"
        case .clientClosed: "client closed the connection"
        case .cutByShutdown: "cut by shutdown at the end of shutdown_grace"
        case .clientRejected(_, let why): "request refused: \(why)"
        case .queueTimedOut: "no free connection to the node within queue_timeout"
        case .closedBeforeResponse: "connection closed before the response"
        case .closedMidResponse: "connection closed during the response"
        case .badResponse(let reason): "invalid response: \(reason)"
        case .timeout: "node made no progress within upstream_response"
        }
    }

    /// Whether the node is to blame (logged as an upstream failure, counted by passive detection).
    var isNodeFault: Bool {
        switch self {
        // `rejectedAfterFailure` is the node's failure with `on_unavailable: reject` deciding the answer.
        case .clientTimedOut, .clientStalled, .clientClosed, .cutByShutdown, .clientRejected, .queueTimedOut: false
        default: true
        }
    }

    var isRefused: Bool { self == .connectRefused }

    /// The failure as ``RetryRule`` weighs it.
    var retryKind: RetryRule.Failure {
        switch self {
        case .connectFailed, .connectRefused, .connectTimedOut: .connectFailed
        case .closedBeforeResponse, .badResponse: .connectionLost
        case .closedMidResponse: .lostMidResponse
        case .timeout: .timeout
        case .clientTimedOut, .clientStalled, .clientClosed, .cutByShutdown, .clientRejected, .queueTimedOut, .serverError,
            .rejectedAfterFailure:
            .other
        }
    }

}

/// The last handler of an upstream connection's pipeline, on the node's bytes. It parses responses
/// (``HTTP1ResponseParser``) and relays their parts to whichever exchange has leased the connection,
/// holds reads while that client cannot take more bytes (the GlueHandler rule from
/// swift-nio-examples), and keeps the response-inactivity deadline.
///
/// A node must send nothing after a response until it is asked again. Bytes left over after a
/// response's end in the same read, or bytes on an idle connection, would be read as the response
/// to the *next* request — another client's — so the connection is closed, never reused. After a
/// `101 Switching Protocols` every byte, including those in the same read as the 101's head, goes to
/// the tunnel as it is.
final class UpstreamHandler: ChannelDuplexHandler, NIOScheduledCallbackHandler {
    typealias InboundIn = ByteBuffer
    /// Requests leave as bytes written here (``HTTPWire``), not through NIOHTTP1's request encoder.
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The exchange that leased the connection. Strong, not weak (a weak reference would put every
    /// retain of the client's handler on the slow path): it is cleared whenever the lease ends —
    /// ``detach()``, a failure, or this channel closing.
    var delegate: (any UpstreamDelegate)?
    /// Called when the channel closes, so the pool can forget an idle connection.
    var onClose: (() -> Void)?
    private(set) var context: ChannelHandlerContext?
    private var pendingRead = false
    private var watchdog = LazyTimer()
    private var watchdogInterval: TimeAmount?
    /// Something moved since the watchdog was armed: the node sent bytes, took request bytes, or the
    /// client took response bytes.
    private var progressed = false
    /// The request body goes out chunked (``RequestFraming``).
    private var requestChunked = false
    /// The request head framed a body; if not, the exchange must not write body bytes (``write(_:)``
    /// refuses them).
    private(set) var framesBody = false
    /// Bytes came after the current response's end: the connection must not be reused, even by an
    /// exchange that leases it while that end is being delivered.
    private(set) var sentExtraBytes = false
    private var parser = HTTP1ResponseParser()
    /// The loop's spare line tables, for the response heads parsed here.
    var tables: LoopBuffers? {
        get { parser.tables }
        set { parser.tables = newValue }
    }
    /// The start of a response part that has not all arrived.
    private var unparsed: ByteBuffer?
    /// A tunnel owns the connection: bytes are relayed, not parsed.
    private var tunnel = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        watchdog.cancel()
        self.context = nil
    }

    // MARK: Writing the request

    /// A request's head, as ``HeaderRewriter`` wrote it; its response is parsed accordingly.
    func writeHead(_ request: UpstreamRequest) {
        progressed = true
        guard let context else { return }
        requestChunked = request.chunked
        framesBody = request.framesBody
        parser.requestSent(method: request.method)
        context.write(wrapOutboundOut(request.head), promise: nil)
    }

    /// A part of the request's body, or its end. Returns whether bytes were written (the end of a
    /// body with a known length writes none).
    @discardableResult
    func write(_ part: HTTPClientRequestPart) -> Bool {
        // Latch writes only while the connection is writable, so each write is the node taking bytes.
        progressed = true
        guard let context else { return false }
        switch part {
        case .head:
            assertionFailure("a request head goes out through writeHead(_:)")
            return false
        case .body(let data):
            // Unframed bytes after the head would be a second request to the node: never written.
            guard framesBody, case .byteBuffer(let body) = data, body.readableBytes > 0 else { return false }
            guard requestChunked else {
                context.write(wrapOutboundOut(body), promise: nil)
                return true
            }
            var size = context.channel.allocator.buffer(capacity: 16)
            HTTPWire.writeChunkSize(body.readableBytes, into: &size)
            context.write(wrapOutboundOut(size), promise: nil)
            context.write(wrapOutboundOut(body), promise: nil)
            context.write(wrapOutboundOut(HTTPWire.chunkEnd), promise: nil)
        case .end(let trailers):
            guard requestChunked else { return false }
            var buffer = context.channel.allocator.buffer(capacity: 64)
            HTTPWire.writeLastChunk(trailers: trailers, into: &buffer)
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
        return true
    }

    func flush() {
        context?.flush()
    }

    /// The node answered `101 Switching Protocols`: from now on the connection is a byte tunnel.
    /// The watchdog stops (the tunnel's idle timeout replaces it) and every further byte from the
    /// node goes to the delegate as it is.
    func startTunnel() {
        watchdog.clear()
        watchdogInterval = nil
        tunnel = true
    }

    /// Tunnel bytes toward the node, as they are (not flushed).
    func writeTunnel(_ bytes: ByteBuffer) {
        context?.write(wrapOutboundOut(bytes), promise: nil)
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    /// Starts the exchange's watchdog: from the request head to the end of the response, something
    /// must move every `interval` (`timeouts.upstream_response`). When nothing did, it decides whose
    /// fault that is: the client's (it took no response bytes while Latch held the node's for it), or
    /// the node's (it neither took our request bytes nor sent any) — unless the client still owes
    /// request body bytes, which the client-side deadline bounds.
    /// `now`: the loop's time, when the caller has read it for the event at hand.
    func startWatchdog(interval: TimeAmount, at now: NIODeadline? = nil) {
        watchdogInterval = interval
        armWatchdog(at: now)
    }

    /// Forgets the exchange: the response ended or the lease is being given back.
    func detach() {
        delegate = nil
        watchdog.clear()
        watchdogInterval = nil
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    /// Lazy (see ``LazyTimer``): under keep-alive traffic the watchdog fires about once per interval,
    /// not once per request.
    private func armWatchdog(at now: NIODeadline? = nil) {
        progressed = false
        guard let interval = watchdogInterval, let context else { return }
        watchdog.set((now ?? context.eventLoop.now) + interval, on: context.eventLoop, self)
    }

    /// The watchdog's timer fired.
    func handleScheduledCallback(eventLoop: some EventLoop) {
        guard let context, watchdog.fired(on: context.eventLoop, self), let delegate else { return }
        if progressed || delegate.awaitingClientBody {
            armWatchdog()
        } else if pendingRead {
            delegate.downstreamStalled()
        } else {
            self.delegate = nil
            context.close(promise: nil)
            delegate.upstreamFailed(.timeout)
        }
    }

    /// The client became writable again: resume reading the response.
    func resumeReading() {
        progressed = true
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    // MARK: Events

    /// Bytes from the node. Every byte is progress for the watchdog, even before it makes a whole
    /// part: a node that sends its head slowly but steadily is not answered 504.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        progressed = true
        if tunnel {
            delegate?.upstreamTunnelBytes(bytes)
            return
        }
        // A response nobody asked for (a node talking on an idle connection): never reuse it.
        guard delegate != nil, !parser.isIdle else { return unsolicited(context) }
        if var earlier = unparsed {
            unparsed = nil
            earlier.writeBuffer(&bytes)
            bytes = earlier
        }
        do {
            while let part = try parser.next(&bytes) {
                // Known before the end is delivered: delivering it may hand the connection to the
                // next exchange at once.
                if case .end = part, bytes.readableBytes > 0 { sentExtraBytes = true }
                deliver(part)
                if tunnel {
                    if bytes.readableBytes > 0 { delegate?.upstreamTunnelBytes(bytes) }
                    return
                }
                if case .end = part {
                    // What followed the response in this read was not asked for (a new request may
                    // already be on its way on this connection: its response must not start with it).
                    if bytes.readableBytes > 0 { unsolicited(context) }
                    return
                }
                if delegate == nil { return }
            }
        } catch {
            return badResponse(error, context: context)
        }
        if bytes.readableBytes > 0 { unparsed = Self.compacted(bytes, context) }
    }

    /// The unparsed rest of a read, in a buffer of its own: kept as a slice it would keep the whole
    /// read's storage, and appending the next read to it would copy all of that again.
    static func compacted(_ bytes: ByteBuffer, _ context: ChannelHandlerContext) -> ByteBuffer {
        var bytes = bytes
        var rest = context.channel.allocator.buffer(capacity: bytes.readableBytes)
        rest.writeBuffer(&bytes)
        return rest
    }

    private func deliver(_ part: NodeResponsePart) {
        switch part {
        case .head(let head):
            delegate?.upstreamResponseHead(head)
        case .body(let buffer):
            delegate?.upstreamResponseBody(buffer)
        case .end(let trailers):
            delegate?.upstreamResponseEnd(trailers)
        }
    }

    private func unsolicited(_ context: ChannelHandlerContext) {
        unparsed = nil
        context.close(promise: nil)
    }

    /// The node's bytes are not HTTP Latch can frame beyond doubt: never reused, and the exchange fails.
    private func badResponse(_ error: any Error, context: ChannelHandlerContext) {
        unparsed = nil
        let delegate = self.delegate
        self.delegate = nil
        context.close(promise: nil)
        // Whether the client already saw part of the response is the exchange's to know.
        delegate?.upstreamFailed(.badResponse("\(error)"))
    }

    /// Not passed on: this handler is the last of its pipeline (``UpstreamPool``), where the event
    /// would only walk to NIO's tail, which ignores it.
    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if let delegate, !delegate.downstreamWritable {
            pendingRead = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { progressed = true }
        delegate?.upstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let delegate = self.delegate
        self.delegate = nil
        context.close(promise: nil)
        delegate?.upstreamFailed(.closedBeforeResponse)
    }

    func channelInactive(context: ChannelHandlerContext) {
        watchdog.cancel()
        // The node's end of input: the end of a body that runs until the close, or a response cut short.
        if !tunnel, delegate != nil {
            do {
                if let part = try parser.inputEnded(buffered: unparsed?.readableBytes ?? 0) { deliver(part) }
            } catch {
                badResponse(error, context: context)
            }
        }
        let delegate = self.delegate
        self.delegate = nil
        onClose?()
        onClose = nil
        delegate?.upstreamFailed(.closedBeforeResponse)
        context.fireChannelInactive()
    }
}
