import NIOCore
import NIOHTTP1

/// Runs ``HTTP1RequestParser`` on a client connection's bytes, in NIOHTTP1's request decoder's place:
/// the same parts (`HTTPServerRequestPart`) and errors (`HTTPParserError`) reach ``ProxyHandler``.
/// After an upgrade request the parser stops; what the client sent behind it stays here unread
/// until the node has answered (a 101 hands the connection to ``TunnelHandler``).
final class HTTP1RequestDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPServerRequestPart

    private var parser: HTTP1RequestParser

    init(limits: HTTP1RequestParser.Limits) {
        self.parser = HTTP1RequestParser(limits: limits)
    }

    /// Every part the bytes hold, in one call: a request's `.end` needs no byte of its own (a head
    /// without a body ends with its blank line), and `ByteToMessageHandler` calls again only for bytes.
    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        while let part = try parser.next(&buffer) {
            context.fireChannelRead(wrapInboundOut(part))
        }
        return .needMoreData
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while let part = try parser.next(&buffer) {
            context.fireChannelRead(wrapInboundOut(part))
        }
        // The client ended its side in the middle of a request (RFC 9112 §8: an incomplete message).
        if seenEOF, parser.isInMessage(buffered: buffer.readableBytes) { throw HTTPParserError.invalidEOFState }
        return .needMoreData
    }
}
