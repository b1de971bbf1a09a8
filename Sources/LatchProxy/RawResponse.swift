import NIOCore

/// A whole short HTTP/1.1 response as bytes, for the places that answer below the HTTP codec: the
/// request-head deadline (408) and a connection over `max_client_connections` (503), where no
/// request was parsed and the connection closes right after.
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

/// Answers a connection Latch will not serve (over `max_client_connections`) with 503 and closes it.
/// Accepting and answering, rather than leaving connections in the listen backlog as HAProxy's
/// `maxconn` does, tells the client at once what happened instead of letting it time out, for the
/// cost of one short write per refused connection.
final class OverloadResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// `false`: close without a word (a TLS listener, where the client expects a handshake first).
    private let answers: Bool

    init(answers: Bool = true) {
        self.answers = answers
    }

    func channelActive(context: ChannelHandlerContext) {
        guard answers else {
            context.close(promise: nil)
            return
        }
        let response = RawResponse.closing(
            503,
            "Service Unavailable",
            detail: "too many connections, try again shortly",
            extraHeaders: "retry-after: 1\r\n",
            allocator: context.channel.allocator
        )
        context.writeAndFlush(wrapOutboundOut(response)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    /// Whatever the client sends is not read: the answer does not depend on it.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
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
        if (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) {
            let response = RawResponse.closing(
                400, "Bad Request", detail: "this port speaks TLS; use https://", allocator: context.channel.allocator)
            context.writeAndFlush(wrapOutboundOut(response), promise: nil)
        }
        context.close(promise: nil)
    }
}
