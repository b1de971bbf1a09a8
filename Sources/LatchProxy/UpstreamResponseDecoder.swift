import NIOCore
import NIOHTTP1

/// NIOHTTP1's response decoder with two things it cannot tell its pipeline: that bytes arrived at
/// all (a head trickling in produces no part until it is complete), and that bytes came after the
/// end of a response.
///
/// - Every byte from the node is progress for the exchange's watchdog, so a node that sends its
///   head slowly but steadily is not answered 504 (``UpstreamHandler/rawBytesArrived()``).
/// - A node must send nothing after a response until it is asked again. Bytes left over after an
///   `.end` in the same read, or bytes on an idle connection, would be parsed as the start of the
///   *next* request's response — another client's — so the connection is closed, never reused.
///   (A leftover the parser consumed entirely, e.g. exactly one status line, cannot be seen here;
///   it makes the next exchange on the connection fail with a parse error and 502.)
final class UpstreamResponseDecoder: WriteObservingByteToMessageDecoder {
    typealias InboundOut = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart

    private let inner: HTTPResponseDecoder
    private let handler: UpstreamHandler

    init(handler: UpstreamHandler) {
        // 1xx responses are forwarded so `Expect: 100-continue` reaches the client end to end.
        self.inner = HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .forward)
        self.handler = handler
    }

    func decoderAdded(context: ChannelHandlerContext) {
        inner.decoderAdded(context: context)
    }

    func decoderRemoved(context: ChannelHandlerContext) {
        inner.decoderRemoved(context: context)
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes > 0 else { return .needMoreData }
        if !handler.rawBytesArrived() {
            context.close(promise: nil)
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        handler.responseEndedDuringRead = false
        let state = try inner.decode(context: context, buffer: &buffer)
        if handler.responseEndedDuringRead, buffer.readableBytes > 0 {
            context.close(promise: nil)
            buffer.moveReaderIndex(to: buffer.writerIndex)
        }
        return state
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try inner.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }

    func write(data: HTTPClientRequestPart) {
        inner.write(data: data)
    }
}
