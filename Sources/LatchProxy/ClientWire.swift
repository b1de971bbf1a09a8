import NIOHTTP1

/// What a client connection speaks, for ``ProxyHandler``: HTTP/1 on the connection itself, whose
/// bytes Latch writes (``HTTPWire``), or one HTTP/2 stream, whose request and response parts
/// swift-nio-http2 turns into frames (`HTTP2FramePayloadToHTTP1ServerCodec`). Everything between —
/// routing, stickiness, failover, limits, header rules — is the same for both.
enum ClientWire {
    case http1
    case http2

    /// An HTTP/2 client may split `Cookie` into one field per cookie (RFC 9113 §8.2.3); toward an
    /// HTTP/1.1 node they are joined into one field with "; ", as that section requires.
    static func joinCookies(_ headers: inout HTTPHeaders) {
        let cookies = headers["cookie"]
        guard cookies.count > 1 else { return }
        headers.remove(name: "cookie")
        headers.add(name: "Cookie", value: cookies.joined(separator: "; "))
    }
}
