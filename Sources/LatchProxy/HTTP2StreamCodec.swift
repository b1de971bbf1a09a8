import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// Between an HTTP/2 stream and its ``ProxyHandler``: the stream's frames in as the proxy's request
/// parts (the proxy's ``HTTP2ResponseWriter`` writes frames itself). In place of swift-nio-http2's
/// `HTTP2FramePayloadToHTTP1ServerCodec`, whose request head (an `HTTPRequestHead` and its header
/// list) the proxy only wrote out again as field lines to read them as an HTTP/1 head's: here the
/// header block becomes the proxy's head in one pass (``ClientRequestHead/init(http2:endStream:)``).
///
/// Frames other than HEADERS and DATA (window updates, resets, priority) are the library's business
/// and pass by unseen, as with the codec. The first header block is the request's; a later one is its
/// trailers (RFC 9113 §8.1).
final class HTTP2StreamCodec: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload

    /// `unowned`: both live and die with the stream's pipeline.
    private unowned let proxy: ProxyHandler
    private var sawHead = false

    init(_ proxy: ProxyHandler) {
        self.proxy = proxy
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let block):
            guard !sawHead else {
                proxy.received(.end(HTTPHeaders(block.headers.filter { $0.name.utf8.first != UInt8(ascii: ":") }.map { ($0.name, $0.value) })))
                return
            }
            sawHead = true
            proxy.received(.head(block.headers, endStream: block.endStream))
            if block.endStream { proxy.received(.end(nil)) }
        case .data(let content):
            guard case .byteBuffer(let buffer) = content.data else { return }
            if buffer.readableBytes > 0 { proxy.received(.body(buffer)) }
            if content.endStream { proxy.received(.end(nil)) }
        default:
            break
        }
    }
}

/// What ``HTTP2StreamCodec`` hands the proxy of a stream's request.
enum HTTP2RequestPart {
    /// The request's header block, and whether it ended the stream.
    case head(HPACKHeaders, endStream: Bool)
    case body(ByteBuffer)
    case end(HTTPHeaders?)
}
