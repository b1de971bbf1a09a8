import NIOHTTP1

/// What differs in a request that arrived on an HTTP/2 stream (`HTTP2FramePayloadToHTTP1ServerCodec`
/// hands it on as HTTP/1 parts) before it goes to an HTTP/1.1 node. Everything else — routing,
/// stickiness, failover, limits, header rules — is the same for both; responses differ only in how
/// they are written (``ResponseWriter``).
enum ClientWire {
    /// An HTTP/2 client may split `Cookie` into one field per cookie (RFC 9113 §8.2.3); toward an
    /// HTTP/1.1 node they are joined into one field with "; ", as that section requires.
    static func joinCookies(_ headers: inout HTTPHeaders) {
        let cookies = headers["cookie"]
        guard cookies.count > 1 else { return }
        headers.remove(name: "cookie")
        headers.add(name: "Cookie", value: cookies.joined(separator: "; "))
    }
}
