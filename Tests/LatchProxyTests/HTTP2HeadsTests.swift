import LatchCore
import NIOCore
import NIOHPACK
import NIOHTTP1
import Testing

@testable import LatchProxy

/// HTTP/2 heads with no I/O: a request's header block read into Latch's head in one pass
/// (``ClientRequestHead/init(http2:endStream:)``), and a response head written as a header block
/// (``H2HeaderEncoder``).
struct HTTP2HeadsTests {
    static func head(_ fields: [(String, String)], endStream: Bool = true) throws -> ClientRequestHead {
        try ClientRequestHead(http2: HPACKHeaders(fields), endStream: endStream)
    }

    static let pseudo = [(":method", "GET"), (":scheme", "https"), (":authority", "shop.example:8443"), (":path", "/cart?x=1")]

    /// The head's field lines as the node would get them, in order.
    static func lines(_ head: ClientRequestHead) -> [String] {
        head.fields.lines.map { "\(head.fields.name(of: $0)): \(head.fields.value(of: $0))" }
    }

    @Test func requestLineAndHostFromThePseudoHeaderFields() throws {
        let head = try Self.head(Self.pseudo + [("accept", "*/*")])
        #expect(head.method == .GET)
        #expect(head.target == "/cart?x=1")
        #expect(head.version == HTTPVersion(major: 2, minor: 0))
        #expect(Self.lines(head) == ["host: shop.example:8443", "accept: */*"])
        #expect(head.host == "shop.example:8443")
    }

    @Test func aHostFieldOfItsOwnIsKeptAndNotAddedTwice() throws {
        let head = try Self.head(Self.pseudo + [("host", "other.example")])
        #expect(Self.lines(head) == ["host: other.example"])
    }

    @Test("a Host naming another authority than :authority is refused (RFC 9113 §8.3.1); the same one, any case, is not")
    func hostMustAgreeWithAuthority() throws {
        let other = try Self.head(Self.pseudo + [("host", "other.example")])
        #expect(other.authorityConflict)
        #expect(RequestValidator.validate(other, limits: LimitsConfig())?.message == "the Host header differs from :authority (RFC 9113 §8.3.1)")
        let same = try Self.head(Self.pseudo + [("host", "SHOP.example:8443")])
        #expect(!same.authorityConflict)
        #expect(RequestValidator.validate(same, limits: LimitsConfig()) == nil)
        var defaultPort = Self.pseudo
        defaultPort[2] = (":authority", "shop.example:443")
        #expect(!(try Self.head(defaultPort + [("host", "shop.example")])).authorityConflict)
    }

    @Test("a WebSocket's extended CONNECT (RFC 8441) becomes the node's HTTP/1.1 opening handshake")
    func webSocketOverHTTP2() throws {
        let head = try Self.head(
            [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"), (":authority", "chat.example"), (":path", "/chat"),
             ("sec-websocket-version", "13"), ("cookie", "JSESSIONID=S1.ws2")],
            endStream: false)
        #expect(head.webSocketOverHTTP2)
        #expect(head.method == .GET)
        #expect(head.target == "/chat")
        let lines = Self.lines(head)
        #expect(Array(lines.prefix(3)) == ["host: chat.example", "connection: upgrade", "upgrade: websocket"])
        let key = try #require(lines.first { $0.hasPrefix("sec-websocket-key: ") }).dropFirst("sec-websocket-key: ".count)
        #expect(key.count == 24 && key.hasSuffix("=="), "16 bytes in base64 (RFC 6455 §4.1)")
        #expect(!MessageFraming.requestHasBody(head), "the handshake is bodiless; the stream's DATA are the tunnel's")
        #expect(Exchange.upgradeOffer(head) == .forward(protocols: "websocket"))
        // Another protocol stays a CONNECT, which Latch refuses like any.
        let other = try Self.head(
            [(":method", "CONNECT"), (":protocol", "something"), (":scheme", "https"), (":authority", "chat.example"), (":path", "/x")],
            endStream: false)
        #expect(!other.webSocketOverHTTP2)
        #expect(other.method == .CONNECT)
    }

    static let framingRows: [(String, Bool, [(String, String)], [String])] = [
        ("POST that ended with its head: an empty body", true, [], ["content-length: 0"]),
        ("POST with DATA to come: chunked toward HTTP/1.1", false, [], ["transfer-encoding: chunked"]),
        ("POST with its length: kept as it is", false, [("content-length", "5")], ["content-length: 5"]),
        ("GET with DATA to come: no framing added", false, [], []),
    ]

    @Test(arguments: framingRows)
    func framingAsTheHTTP1CodecGivesIt(_ name: String, _ endStream: Bool, _ extra: [(String, String)], _ expected: [String]) throws {
        let method = name.hasPrefix("GET") ? "GET" : "POST"
        var fields = Self.pseudo
        fields[0] = (":method", method)
        let head = try Self.head(fields + extra, endStream: endStream)
        #expect(Array(Self.lines(head).dropFirst()) == expected, "\(name)")
        #expect(head.framing.chunkedLast == expected.contains("transfer-encoding: chunked"), "\(name)")
    }

    @Test func cookieFieldsAreJoinedIntoOne() throws {
        // RFC 9113 §8.2.3: toward an HTTP/1.1 node, one field joined with "; ".
        let head = try Self.head(Self.pseudo + [("cookie", "a=1"), ("accept", "*/*"), ("cookie", "JSESSIONID=S1.tomcat2")])
        #expect(Self.lines(head) == ["host: shop.example:8443", "accept: */*", "cookie: a=1; JSESSIONID=S1.tomcat2"])
        let one = try Self.head(Self.pseudo + [("cookie", "a=1")])
        #expect(Self.lines(one) == ["host: shop.example:8443", "cookie: a=1"])
    }

    /// Malformed blocks (RFC 9113 §8.1.1) and the words their 400 says: Latch checks what
    /// swift-nio-http2's own validation would have (it is off, for its cost).
    static let malformedRows: [(String, [(String, String)], String)] = [
        ("a value that would split the line", pseudo + [("x-bad", "a\r\nInjected: yes")], "CR, LF or NUL in the field x-bad"),
        ("NUL in a value", pseudo + [("x-bad", "a\u{0}b")], "CR, LF or NUL in the field x-bad"),
        ("an upper-case name", pseudo + [("X-Upper", "1")], "the field name \"X-Upper\", not a lower-case token (RFC 9113 §8.2.1)"),
        ("a name that is not a token", pseudo + [("x bad", "1")], "the field name \"x bad\", not a lower-case token (RFC 9113 §8.2.1)"),
        ("an empty name", pseudo + [("", "1")], "the field name \"\", not a lower-case token (RFC 9113 §8.2.1)"),
        ("connection", pseudo + [("connection", "close")], "the connection-specific field connection (RFC 9113 §8.2.2)"),
        ("transfer-encoding", pseudo + [("transfer-encoding", "chunked")], "the connection-specific field transfer-encoding (RFC 9113 §8.2.2)"),
        ("upgrade", pseudo + [("upgrade", "h2c")], "the connection-specific field upgrade (RFC 9113 §8.2.2)"),
        ("keep-alive", pseudo + [("keep-alive", "1")], "the connection-specific field keep-alive (RFC 9113 §8.2.2)"),
        ("proxy-connection", pseudo + [("proxy-connection", "x")], "the connection-specific field proxy-connection (RFC 9113 §8.2.2)"),
        ("TE other than trailers", pseudo + [("te", "gzip")], "TE other than \"trailers\" (RFC 9113 §8.2.2)"),
        ("a pseudo-header field after the others", [("accept", "*/*")] + pseudo, "the pseudo-header field :method after other fields (RFC 9113 §8.3)"),
        ("an unknown pseudo-header field", pseudo + [(":status", "200")], "the unknown pseudo-header field :status"),
        ("no :path", pseudo.filter { $0.0 != ":path" }, "no :path"),
        ("no :method", pseudo.filter { $0.0 != ":method" }, "no :method"),
        ("no :scheme", pseudo.filter { $0.0 != ":scheme" }, "no :scheme"),
        ("an empty :path", pseudo.map { $0.0 == ":path" ? (":path", "") : $0 }, "an empty :path"),
        (":path twice", [(":path", "/other")] + pseudo, ":path more than once"),
        (":method twice", [(":method", "POST")] + pseudo, ":method more than once"),
        (":scheme twice", [(":scheme", "http")] + pseudo, ":scheme more than once"),
        ("CR in :method", [(":method", "GET / HTTP/1.1\r\nX:")] + pseudo.dropFirst(), "CR, LF or NUL in :method"),
        (":protocol without CONNECT", pseudo + [(":protocol", "websocket")], ":protocol in a GET request (RFC 8441 §4: CONNECT only)"),
        ("CONNECT without :authority", [(":method", "CONNECT")], "CONNECT without :authority"),
    ]

    @Test(arguments: malformedRows.indices)
    func malformedBlocksAreRefusedInWords(_ row: Int) {
        let (name, fields, message) = Self.malformedRows[row]
        #expect(throws: HTTP2MalformedRequest(message: message), "\(name)") { try Self.head(fields) }
    }

    @Test("a plain CONNECT is read with its authority as the target, to be answered 501 as on HTTP/1.1")
    func plainConnect() throws {
        let head = try Self.head([(":method", "CONNECT"), (":authority", "x.example:443")], endStream: false)
        #expect(head.method == .CONNECT)
        #expect(head.target == "x.example:443")
    }

    @Test("trailers: fields as a head's, and no pseudo-header field")
    func trailerBlocks() throws {
        let good = try ClientRequestHead.http2Trailers(HPACKHeaders([("x-checksum", "abc")]))
        #expect(good.map { "\($0.name): \($0.value)" } == ["x-checksum: abc"])
        #expect(throws: HTTP2MalformedRequest(message: "the pseudo-header field :path in trailers (RFC 9113 §8.1)")) {
            try ClientRequestHead.http2Trailers(HPACKHeaders([(":path", "/x")]))
        }
        #expect(throws: HTTP2MalformedRequest(message: "the connection-specific field connection (RFC 9113 §8.2.2)")) {
            try ClientRequestHead.http2Trailers(HPACKHeaders([("connection", "close")]))
        }
        #expect(try ClientRequestHead.http2Trailers(HPACKHeaders([("te", "trailers")])).count == 1)
    }

    @Test func manyCookieFieldsJoinInOrder() throws {
        let many = (0..<500).map { ("cookie", "c\($0)=\($0)") }
        let head = try Self.head(Self.pseudo + many)
        #expect(head.values(.cookie) == [(0..<500).map { "c\($0)=\($0)" }.joined(separator: "; ")])
    }

    @Test func aSecondContentLengthIsRefusedAsOnHTTP1() {
        var fields = Self.pseudo
        fields[0] = (":method", "POST")
        #expect(throws: HTTP2MalformedRequest(message: "an invalid or conflicting Content-Length")) {
            try Self.head(fields + [("content-length", "5"), ("content-length", "6")], endStream: false)
        }
    }

    @Test func aResponseHeadIsABlockWithStatusFirstAndLowerCaseNames() {
        var relayed = FieldLines(HTTPHeaders([
            ("Content-Type", "text/html"), ("Connection", "close"), ("Set-Cookie", "JSESSIONID=S1.tomcat1; Path=/"),
            ("X-Custom", "Mixed Case Value"),
        ]))
        relayed.drop(named: "connection")
        let head = ClientResponseHead(version: .http1_1, status: .created, relayed: relayed, via: "1.1 tomcat1, 2 latch")
        head.added = [("X-Latch-Node", "tomcat1"), ("Upgrade", "h2c")]
        head.connection = "keep-alive"
        head.chunked = true
        let block = H2HeaderEncoderTests.written(.head(head))
        #expect(block.map { "\($0.name): \($0.value)" } == [
            ":status: 201", "content-type: text/html", "set-cookie: JSESSIONID=S1.tomcat1; Path=/",
            "x-custom: Mixed Case Value", "via: 1.1 tomcat1, 2 latch", "x-latch-node: tomcat1",
        ], "no Connection, Transfer-Encoding or Upgrade (RFC 9113 §8.2.2); values as they were")
    }

    @Test("a cookie being set is never indexed by HPACK, the node's or Latch's own (RFC 7541 §7.1.3); nothing is indexed")
    func setCookieIsNeverIndexed() {
        let relayed = FieldLines(HTTPHeaders([("Set-Cookie", "JSESSIONID=S1.tomcat1; Path=/"), ("Content-Type", "text/html")]))
        let head = ClientResponseHead(version: .http1_1, status: .ok, relayed: relayed)
        head.added = [("Set-Cookie", "LATCH_OWNER=tomcat1; Path=/")]
        let kept = H2HeaderEncoderTests.written(.head(head)).map { "\($0.name) \($0.indexable == .neverIndexed ? "never" : "not indexed")" }
        #expect(kept == [":status not indexed", "set-cookie never", "content-type not indexed", "set-cookie never"])
    }

    @Test func connectionSpecificFieldsStayOutEvenIfNotDroppedBefore() {
        // Lines no rewriter dropped: the block itself keeps the connection-specific ones out, and
        // Content-Length in.
        let relayed = FieldLines(HTTPHeaders([
            ("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "chunked"), ("Proxy-Connection", "x"), ("TE", "trailers"),
            ("Upgrade", "h2c"), ("Connection", "close"), ("Content-Length", "12"), ("ETag", "\"v1\""),
        ]))
        let head = ClientResponseHead(version: .http1_1, status: .ok, relayed: relayed)
        head.added = [("TE", "trailers"), ("Keep-Alive", "1"), ("X-Latch-Node", "tomcat2")]
        #expect(H2HeaderEncoderTests.written(.head(head)).map { "\($0.name): \($0.value)" } == [
            ":status: 200", "content-length: 12", "etag: \"v1\"", "x-latch-node: tomcat2",
        ])
    }
}
