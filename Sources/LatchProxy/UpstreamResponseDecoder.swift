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
///   *next* request's response — another client's — so the connection is closed, never reused. To
///   see them, the parser is offered a head only up to its blank line and a body only up to its
///   `Content-Length`; a chunked body, whose end only the parser finds, must have ended with the
///   blank line that ends every chunked message, or the parser ran on into what followed.
final class UpstreamResponseDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPClientResponsePart

    private let inner: HTTPResponseDecoder
    private let handler: UpstreamHandler
    /// After a `101 Switching Protocols` the connection carries another protocol: every byte from
    /// then on — including those that came in the same read as the 101's head — goes to the
    /// handler as it is (``UpstreamHandler/tunnelBytes(_:)``), none to the parser.
    var tunnel = false

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
        if tunnel {
            handler.tunnelBytes(buffer.readSlice(length: buffer.readableBytes)!)
            return .needMoreData
        }
        if !handler.rawBytesArrived() {
            context.close(promise: nil)
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        handler.responseEndedDuringRead = false
        // Offer the parser one message part at a time, cut where the bytes say it ends: a head at its
        // blank line, a body at its announced length. Then nothing after a response's end is parsed
        // with it, and whatever is left over is seen here.
        while buffer.readableBytes > 0 {
            let offered = min(buffer.readableBytes, limit(buffer))
            let chunked = handler.chunkedBody
            var slice = buffer.getSlice(at: buffer.readerIndex, length: offered)!
            _ = try inner.decode(context: context, buffer: &slice)
            let consumed = offered - slice.readableBytes
            buffer.moveReaderIndex(forwardBy: consumed)
            if tunnel {
                if buffer.readableBytes > 0 { handler.tunnelBytes(buffer.readSlice(length: buffer.readableBytes)!) }
                break
            }
            if handler.responseEndedDuringRead {
                // A chunked message ends with a blank line: consumed bytes that end otherwise mean the
                // parser went on into whatever followed the response.
                let ranOn = chunked && consumed >= 4
                    && buffer.getBytes(at: buffer.readerIndex - 4, length: 4) != [0x0D, 0x0A, 0x0D, 0x0A]
                if buffer.readableBytes > 0 || ranOn {
                    context.close(promise: nil)
                    buffer.moveReaderIndex(to: buffer.writerIndex)
                }
                break
            }
            // The parser keeps an incomplete field's bytes for the next read; without progress, wait.
            if consumed == 0 || offered == buffer.readableBytes + consumed { break }
        }
        return .needMoreData
    }

    /// How many of the buffered bytes belong to the message part being parsed: up to the end of a
    /// head (its CRLFCRLF) while no final head has come, the body's remaining length when announced,
    /// else all of them (chunked and close-delimited bodies end where the parser says).
    private func limit(_ buffer: ByteBuffer) -> Int {
        if let left = handler.bodyBytesLeft { return max(left, 1) }
        if handler.awaitingHead, let end = Self.endOfHead(in: buffer) { return end }
        return buffer.readableBytes
    }

    /// The length up to and including the first CRLFCRLF, if the buffer holds one.
    private static func endOfHead(in buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            var i = 3
            while i < bytes.count {
                if bytes[i] == 0x0A, bytes[i - 1] == 0x0D, bytes[i - 2] == 0x0A, bytes[i - 3] == 0x0D { return i + 1 }
                i += 1
            }
            return nil
        }
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        if tunnel { return try decode(context: context, buffer: &buffer) }
        return try inner.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }

    /// A request head went to the node: its response is parsed accordingly (no body for `HEAD`).
    /// ``UpstreamHandler`` writes requests as bytes, so it says so here instead of the pipeline.
    func requestSent(_ head: HTTPRequestHead) {
        inner.write(data: .head(head))
    }
}
