import NIOCore
import NIOHTTP1

/// Runs ``HTTP1ResponseParser`` on a node connection's bytes, with what only this place sees:
///
/// - Every byte from the node is progress for the exchange's watchdog, so a node that sends its
///   head slowly but steadily is not answered 504 (``UpstreamHandler/rawBytesArrived()``).
/// - A node must send nothing after a response until it is asked again. Bytes left over after a
///   response's end in the same read, or bytes on an idle connection, would be read as the
///   response to the *next* request — another client's — so the connection is closed, never reused.
/// - After a `101 Switching Protocols` the connection carries another protocol: every byte from then
///   on, including those that came in the same read as the 101's head, goes to the handler as it is
///   (``UpstreamHandler/tunnelBytes(_:)``).
final class UpstreamResponseDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPClientResponsePart

    private var parser = HTTP1ResponseParser()
    private let handler: UpstreamHandler
    /// Set by the handler once a tunnel owns the connection.
    var tunnel = false

    init(handler: UpstreamHandler) {
        self.handler = handler
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes > 0 else { return .needMoreData }
        if tunnel {
            handler.tunnelBytes(buffer.readSlice(length: buffer.readableBytes)!)
            return .needMoreData
        }
        if !handler.rawBytesArrived() || parser.isIdle {
            unsolicited(context, &buffer)
            return .needMoreData
        }
        while let part = try parser.next(&buffer) {
            context.fireChannelRead(wrapInboundOut(part))
            if tunnel {
                if buffer.readableBytes > 0 { handler.tunnelBytes(buffer.readSlice(length: buffer.readableBytes)!) }
                break
            }
            if case .end = part {
                // Whatever followed the response in this read was not asked for (a new request may
                // already be on its way on this connection: its response must not start with them).
                if buffer.readableBytes > 0 { unsolicited(context, &buffer) }
                break
            }
        }
        return .needMoreData
    }

    private func unsolicited(_ context: ChannelHandlerContext, _ buffer: inout ByteBuffer) {
        context.close(promise: nil)
        buffer.moveReaderIndex(to: buffer.writerIndex)
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        if tunnel || !seenEOF { return try decode(context: context, buffer: &buffer) }
        _ = try decode(context: context, buffer: &buffer)
        if let part = try parser.inputEnded(buffered: buffer.readableBytes) {
            context.fireChannelRead(wrapInboundOut(part))
        }
        return .needMoreData
    }

    /// A request head went to the node: its response is parsed accordingly (no body for `HEAD`).
    func requestSent(_ head: HTTPRequestHead) {
        parser.requestSent(method: head.method)
    }
}
