import LatchCore
import NIOCore
import NIOHTTP1
import Testing

@testable import LatchProxy

/// The pure header rules, without sockets.
struct HeaderRewriterTests {
    private static func upstream(
        _ raw: [(String, String)],
        version: HTTPVersion = .http1_1,
        uri: String = "/",
        mode: ForwardedForMode = .replace
    ) -> HTTPRequestHead {
        let request = HeaderRewriter.upstreamRequest(
            .test(.POST, uri, version: version, headers: HTTPHeaders(raw)),
            forwarded: ForwardedFields(forwarding: ForwardingConfig(xForwardedFor: mode, via: "latch")), clientIP: "192.0.2.7", scheme: "http",
            // A used buffer: what was in it before must not reach the node.
            into: Self.usedBuffer()
        )
        return Self.parsed(request.head)
    }

    /// A buffer as ``LoopBuffers`` hands one out: written and read before, then cleared.
    static func usedBuffer() -> ByteBuffer {
        let buffers = LoopBuffers()
        var old = ByteBuffer(string: "GET /stale HTTP/1.1\r\nX-Stale: yes\r\n\r\n")
        old.moveReaderIndex(forwardBy: 4)
        buffers.giveBack(old)
        return buffers.take(capacity: 16, allocator: ByteBufferAllocator())
    }

    /// The head as a node reads the bytes Latch wrote.
    static func parsed(_ bytes: ByteBuffer) -> HTTPRequestHead {
        var bytes = bytes
        var parser = HTTP1RequestParser(limits: .init(maxHead: 64 * 1024, maxFields: 100))
        guard case .head(let head) = try? parser.next(&bytes) else {
            Issue.record("not a request head: \(String(buffer: bytes))")
            return HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        }
        #expect(bytes.readableBytes == 0, "the head ends with its blank line")
        return head.nio
    }

    @Test func hopByHopAndFramingAreRebuilt() throws {
        let head = Self.upstream([
            ("Host", "shop"), ("Connection", "keep-alive, X-A, host"), ("X-A", "1"), ("Keep-Alive", "5"),
            ("TE", "trailers"), ("Transfer-Encoding", " chunked"), ("Upgrade", "h2c"), ("Proxy-Connection", "x"),
            ("X-B", "2"),
        ])
        #expect(head.version == .http1_1)
        #expect(head.headers["host"] == ["shop"], "Connection cannot remove Host")
        #expect(head.headers["transfer-encoding"] == ["chunked"])
        for name in ["connection", "x-a", "keep-alive", "te", "upgrade", "proxy-connection", "content-length"] {
            #expect(head.headers[name].isEmpty, "\(name)")
        }
        #expect(head.headers["x-b"] == ["2"])
        #expect(head.headers["via"] == ["1.1 latch"])
        #expect(head.headers["x-forwarded-for"] == ["192.0.2.7"])
        #expect(head.headers["x-forwarded-proto"] == ["http"])
        #expect(head.headers["x-forwarded-host"] == ["shop"])
    }

    @Test func contentLengthIsKeptAsParsed() throws {
        let head = Self.upstream([("Host", "a"), ("Content-Length", "12")])
        #expect(head.headers["content-length"] == ["12"])
        #expect(head.headers["transfer-encoding"].isEmpty)
    }

    @Test(arguments: [ForwardedForMode.replace, .append])
    func clientClaimsAboutTheClient(mode: ForwardedForMode) throws {
        let head = Self.upstream(
            [("Host", "a"), ("X-Forwarded-For", "10.9.9.9"), ("Forwarded", "for=10.9.9.9"), ("X-Real-IP", "10.9.9.9"),
             ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil")],
            mode: mode
        )
        #expect(head.headers["x-forwarded-for"] == [mode == .replace ? "192.0.2.7" : "10.9.9.9, 192.0.2.7"])
        #expect(head.headers["forwarded"] == (mode == .replace ? [] : ["for=10.9.9.9"]))
        #expect(head.headers["x-real-ip"] == (mode == .replace ? [] : ["10.9.9.9"]))
        #expect(head.headers["x-forwarded-proto"] == ["http"])
        #expect(head.headers["x-forwarded-host"] == ["a"])
    }

    @Test func theUsualLinesAndAReceivedVia() throws {
        let forwarded = ForwardedFields(forwarding: ForwardingConfig(via: "edge"))
        #expect(String(decoding: forwarded.usualVia, as: UTF8.self) == "Via: 1.1 edge\r\n")
        var bytes = [UInt8](repeating: 0, count: 200)
        let written = bytes.withUnsafeMutableBytes { out in
            var wire = WireCursor(out)
            forwarded.write(usual: true, via: "", forwardedFor: "192.0.2.7", scheme: "https", into: &wire)
            forwarded.write(usual: false, via: "1.0 edge", forwardedFor: nil, scheme: "wss", into: &wire)
            return wire.at
        }
        #expect(String(decoding: bytes[..<written], as: UTF8.self)
            == "Via: 1.1 edge\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nVia: 1.0 edge\r\nX-Forwarded-Proto: wss\r\n")
        // A request with a Via of its own is not usual: its entries come first.
        let head = Self.upstream([("Host", "a"), ("Via", "1.1 cdn")])
        #expect(head.headers["via"] == ["1.1 cdn, 1.1 latch"])
        #expect(head.headers["x-forwarded-for"] == ["192.0.2.7"])
        #expect(head.headers["x-forwarded-proto"] == ["http"])
    }

    @Test func absoluteFormBecomesOriginFormWithItsAuthority() throws {
        let head = Self.upstream([("Host", "Shop.example.com:8080")], uri: "HTTP://shop.example.com:8080?x=1")
        #expect(head.uri == "/?x=1")
        #expect(head.headers["host"] == ["shop.example.com:8080"])
    }

    @Test func http10WithoutHostAndExpect() throws {
        let head = Self.upstream([("Expect", "100-continue")], version: .http1_0)
        #expect(head.headers["host"].isEmpty, "the proxy adds the node's address later")
        #expect(head.headers["expect"].isEmpty, "RFC 9110 §10.1.1: ignored from HTTP/1.0")
        #expect(head.headers["via"] == ["1.0 latch"])
    }

    @Test func responseHeadForClients() throws {
        let upstream = try NodeResponseHead.parsed(
            .ok,
            [
                ("Content-Length", "5"), ("Connection", "close, X-Hop"), ("X-Hop", "1"), ("Keep-Alive", "timeout=5"),
                ("Via", "1.1 app"), ("Set-Cookie", "a=1"),
            ]
        )
        let kept = HeaderRewriter.downstreamResponseHead(upstream, clientVersion: .http1_1, keepAlive: true, via: ViaPseudonym("latch"))
        #expect(kept.headers["content-length"] == ["5"])
        #expect(kept.headers["connection"].isEmpty && kept.headers["x-hop"].isEmpty && kept.headers["keep-alive"].isEmpty)
        #expect(kept.headers["via"] == ["1.1 app, 1.1 latch"])
        #expect(kept.headers["set-cookie"] == ["a=1"])
        let old = HeaderRewriter.downstreamResponseHead(upstream, clientVersion: .http1_0, keepAlive: true, via: ViaPseudonym("latch"))
        #expect(old.version == .http1_0)
        #expect(old.headers["connection"] == ["keep-alive"])
        let closing = HeaderRewriter.downstreamResponseHead(upstream, clientVersion: .http1_1, keepAlive: false, via: ViaPseudonym("latch"))
        #expect(closing.headers["connection"] == ["close"])
    }

    /// Heads with no field named in `Connection` are dropped from by name alone; naming a field that
    /// is not there sends them through the general drop, which must leave the same fields.
    static let assortedFields: [[(String, String)]] = [
        [("Host", "a")],
        [("Host", "a"), ("Via", "1.0 cdn"), ("Via", "1.1 edge"), ("X-Forwarded-For", "10.0.0.1"), ("X-Forwarded-For", "10.0.0.2")],
        [("Host", "a"), ("Forwarded", "for=x"), ("X-Real-IP", "x"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "b")],
        [("Host", "a"), ("Keep-Alive", "5"), ("TE", "trailers"), ("Upgrade", "h2c"), ("Proxy-Connection", "x"), ("Expect", "100-continue")],
        [("Host", "a"), ("Content-Length", "3"), ("Cookie", "JSESSIONID=1.n1"), ("X-Other", "1"), ("Connection", "keep-alive")],
        [("Host", "a"), ("Transfer-Encoding", "chunked"), ("Set-Cookie", "a=1"), ("Via", "1.1 app"), ("Content-Length", "5")],
    ]

    @Test(arguments: [ForwardedForMode.replace, .append], [HTTPVersion.http1_1, .http1_0])
    func bothDropPathsOfARequestAgree(mode: ForwardedForMode, version: HTTPVersion) {
        for fields in Self.assortedFields {
            let usual = Self.upstream(fields, version: version, mode: mode)
            let general = Self.upstream(fields + [("Connection", "x-absent")], version: version, mode: mode)
            #expect(usual.headers.map { "\($0.name): \($0.value)" } == general.headers.map { "\($0.name): \($0.value)" }, "\(fields)")
        }
    }

    @Test func bothDropPathsOfAResponseAgree() throws {
        for fields in Self.assortedFields {
            let fields = fields.filter { $0.0 != "Transfer-Encoding" }
            let usual = HeaderRewriter.downstreamResponseHead(
                try NodeResponseHead.parsed(.ok, fields), clientVersion: .http1_1, keepAlive: true, via: ViaPseudonym("latch"))
            let general = HeaderRewriter.downstreamResponseHead(
                try NodeResponseHead.parsed(.ok, fields + [("Connection", "x-absent")]), clientVersion: .http1_1, keepAlive: true,
                via: ViaPseudonym("latch"))
            #expect(usual.headers.map { "\($0.name): \($0.value)" } == general.headers.map { "\($0.name): \($0.value)" }, "\(fields)")
        }
    }
}
