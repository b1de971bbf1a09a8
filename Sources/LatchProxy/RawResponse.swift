import NIOCore

/// A whole short HTTP/1.1 response as bytes, for the places that answer below the HTTP codec: the
/// request-head deadline (408), a connection over `max_client_connections` (503) and plain HTTP on
/// a TLS port (400), where no request was parsed and the connection closes right after.
enum RawResponse {
    static func closing(_ status: Int, _ reason: String, detail: String, extraHeaders: String = "", allocator: ByteBufferAllocator)
        -> ByteBuffer {
        let body = "\(status) \(reason): \(detail)\n"
        var buffer = allocator.buffer(capacity: 160 + body.utf8.count)
        buffer.writeString(
            "HTTP/1.1 \(status) \(reason)\r\ncontent-type: text/plain; charset=utf-8\r\n"
                + "content-length: \(body.utf8.count)\r\ncache-control: no-store\r\n\(extraHeaders)"
                + "connection: close\r\n\r\n\(body)"
        )
        return buffer
    }
}

/// Answers a connection Latch will not serve with one short response, then closes it without
/// destroying the answer: FIN first, then what the client is still sending (its request, an upload) is
/// read and dropped for a short while, since closing with unread bytes makes the kernel send a reset
/// that can reach the client before it read the answer (ProxyHandler's lingering close does the same
/// after an error inside a request; this one is shorter, as it serves refusals under load).
///
/// Used over `max_client_connections` (503: accepting and answering, rather than leaving connections
/// in the listen backlog as HAProxy's `maxconn` does, tells the client at once what happened instead
/// of letting it time out, for one short write per refused connection), and for plain HTTP on a TLS
/// port (400).
final class EarlyAnswer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let lingerLimit = (time: TimeAmount.seconds(2), bytes: 256 * 1024)

    /// `nil`: close without a word (a TLS listener, where the client expects a handshake first).
    private let response: (@Sendable (ByteBufferAllocator) -> ByteBuffer)?
    private var answered = false
    private var lingered = 0

    init(_ response: (@Sendable (ByteBufferAllocator) -> ByteBuffer)?) {
        self.response = response
    }

    /// 503 with `Retry-After`, for a connection over `max_client_connections`.
    static func overloaded(answers: Bool = true) -> EarlyAnswer {
        guard answers else { return EarlyAnswer(nil) }
        return EarlyAnswer { allocator in
            RawResponse.closing(
                503, "Service Unavailable", detail: "too many connections, try again shortly",
                extraHeaders: "retry-after: 1\r\n", allocator: allocator)
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { answer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        answer(context)
        context.fireChannelActive()
    }

    private func answer(_ context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        guard let response else {
            context.close(promise: nil)
            return
        }
        context.writeAndFlush(wrapOutboundOut(response(context.channel.allocator))).assumeIsolated().whenComplete { result in
            guard case .success = result else {
                context.close(promise: nil)
                return
            }
            context.close(mode: .output, promise: nil)
            context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerLimit.time) {
                context.close(promise: nil)
            }
        }
    }

    /// Whatever the client sends is read and dropped: the answer does not depend on it.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lingered += unwrapInboundIn(data).readableBytes
        if lingered > Self.lingerLimit.bytes { context.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// The first bytes on a TLS listener decide what it is: a TLS handshake record (content type 22,
/// RFC 8446 §5.1) goes on to the TLS handler, and this handler leaves the pipeline. A request line
/// instead is plain HTTP sent to the https port, which gets a plain 400 that says so (as nginx does)
/// rather than a connection closed without a word; anything else is just closed.
final class PlainHTTPOnTLSDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        if first == 0x16 {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        guard (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) else {
            context.close(promise: nil)
            return
        }
        // The rest of the request is the answerer's to read and drop.
        let sync = context.pipeline.syncOperations
        let answer = EarlyAnswer { allocator in
            RawResponse.closing(400, "Bad Request", detail: "this port speaks TLS; use https://", allocator: allocator)
        }
        do {
            try sync.addHandler(answer, position: .after(self))
            sync.removeHandler(context: context, promise: nil)
        } catch {
            context.close(promise: nil)
        }
    }
}
