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

    func channelActive(context: ChannelHandlerContext) {
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
