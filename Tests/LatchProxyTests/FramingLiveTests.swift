import LatchCore
import NIOCore
import Testing

/// Strict HTTP/1.1 framing at both ends (issue 5), black-box: exact bytes from a ``RawClient``, exact
/// bytes recorded by a ``RawBackend``. For every row the test asserts what the client got and what
/// the node received: nothing at all for a refused request; for odd-but-valid framing, one request,
/// cleanly re-framed; for a node's broken framing, 502 (when nothing was relayed yet) and an upstream
/// connection that is closed and never used again.
///
/// Rows other suites already cover are not repeated: CL-then-TE, no Host, two different Hosts and
/// TE in HTTP/1.0 (``ForwardingLiveTests/badRequests(raw:)``), a bad chunk size mid-body and a chunked
/// body over `max_body` (``LimitsLiveTests``), a non-HTTP answer (``UpstreamFailureLiveTests``).
@Suite("Strict framing, client side and upstream side", .timeLimit(.minutes(1)))
struct FramingLiveTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var raw: String
        /// The status line the client must get (after `HTTP/1.1 `), where the row has one.
        var status: String = ""
        var testDescription: String { name }
    }

    /// Responses in `text`: lines that start like a status line (Latch's own bodies say `HTTP/1.0` too).
    static func statusLines(_ text: String) -> Int {
        text.components(separatedBy: "\r\n").filter { $0.hasPrefix("HTTP/1.") }.count
    }

    // MARK: - Client side: refused before any node

    static let refused: [Row] = [
        // Transfer-Encoding and Content-Length together (RFC 9112 §6.1), TE first this time.
        Row(name: "TE then CL", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", status: "400 Bad Request"),
        Row(name: "TE: chunked, gzip (chunked not final)", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", status: "400 Bad Request"),
        Row(name: "TE: gzip, chunked (a coding Latch cannot re-frame)", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", status: "501 Not Implemented"),
        Row(name: "two Transfer-Encoding lines", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", status: "400 Bad Request"),
        Row(name: "TE in HTTP/1.0, odd spelling", raw: "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n", status: "400 Bad Request"),
        Row(name: "Content-Length: 1, 1", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx", status: "400 Bad Request"),
        Row(name: "Content-Length twice, same value", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", status: "400 Bad Request"),
        Row(name: "Content-Length twice, different values", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", status: "400 Bad Request"),
        Row(name: "Content-Length: +1", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx", status: "400 Bad Request"),
        Row(name: "Content-Length: -1", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\nx", status: "400 Bad Request"),
        Row(name: "Content-Length: 0x1", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x1\r\n\r\nx", status: "400 Bad Request"),
        Row(name: "Content-Length overflowing 64 bits", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\nx", status: "400 Bad Request"),
        Row(name: "absolute-form without Host", raw: "GET http://a/ HTTP/1.1\r\n\r\n", status: "400 Bad Request"),
        Row(name: "two Hosts, same value", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", status: "400 Bad Request"),
        Row(name: "Host: a/b", raw: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", status: "400 Bad Request"),
        Row(name: "Host: a@b", raw: "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", status: "400 Bad Request"),
        Row(name: "absolute-form authority differs from Host", raw: "GET http://b/ HTTP/1.1\r\nHost: a\r\n\r\n", status: "400 Bad Request"),
        Row(name: "invalid character in the method", raw: "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", status: "400 Bad Request"),
        Row(name: "lower-case method", raw: "get / HTTP/1.1\r\nHost: a\r\n\r\n", status: "400 Bad Request"),
        Row(name: "control character in the target", raw: "GET /a\u{01}b HTTP/1.1\r\nHost: a\r\n\r\n", status: "400 Bad Request"),
        Row(name: "space in the target", raw: "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", status: "400 Bad Request"),
        Row(name: "invalid character in a header name", raw: "GET / HTTP/1.1\r\nHost: a\r\nX@Y: v\r\n\r\n", status: "400 Bad Request"),
        Row(name: "NUL in a header value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u{00}b\r\n\r\n", status: "400 Bad Request"),
        Row(name: "obs-fold", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n", status: "400 Bad Request"),
        Row(name: "bare LF", raw: "GET / HTTP/1.1\nHost: a\n\n", status: "400 Bad Request"),
        Row(name: "bare CR", raw: "GET / HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n", status: "400 Bad Request"),
        Row(name: "space before the colon", raw: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", status: "400 Bad Request"),
        Row(name: "HTTP/1.2", raw: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", status: "400 Bad Request"),
        // Smuggling classics: one parser reads the body by Content-Length, the other by chunks.
        Row(name: "CL.TE smuggling", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 33\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nX: X", status: "400 Bad Request"),
        Row(name: "TE.CL smuggling", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n23\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n\r\n0\r\n\r\n", status: "400 Bad Request"),
        Row(name: "TE hidden by a space before the colon, with CL", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding : chunked\r\n\r\n23\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n\r\n0\r\n\r\n", status: "400 Bad Request"),
        Row(name: "TE: xchunked with CL", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: xchunked\r\n\r\n23\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n\r\n0\r\n\r\n", status: "400 Bad Request"),
    ]

    @Test("refused requests: the client gets the status and a close, the node gets no byte", arguments: refused)
    func refusedRequest(row: Row) async throws {
        try await withLatch(nodes: ["tomcat1"], raw: ["tomcat1"]) { h in
            let text = try await h.untilClosed(row.raw)
            let version = row.raw.contains("HTTP/1.0\r\n") ? "HTTP/1.0" : "HTTP/1.1"
            #expect(text.hasPrefix("\(version) \(row.status)\r\n"), "got: \(text.prefix(200))")
            #expect(text.lowercased().contains("connection: close"))
            #expect(Self.statusLines(text) == 1, "one answer, nothing for the bytes behind it: \(text)")
            #expect(h.raw("tomcat1").accepted == 0, "the node saw no connection")
            #expect(h.raw("tomcat1").receivedBytes == 0)
        }
    }

    /// A chunk size that cannot be read. The head is valid, so Latch may already have sent it on when
    /// the chunk line arrives: the node may see the head, but never a body byte or a complete request.
    static let badChunks: [Row] = [
        Row(name: "chunk size overflowing 64 bits", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n", status: "400 Bad Request"),
        Row(name: "chunk size with a sign", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", status: "400 Bad Request"),
        Row(name: "control character in a chunk extension", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\u{01}\r\nhello\r\n0\r\n\r\n", status: "400 Bad Request"),
        Row(name: "chunk data longer than its size", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", status: "400 Bad Request"),
    ]

    @Test("unreadable chunks: the client gets 400 and a close, the node never gets a body byte", arguments: badChunks)
    func badChunk(row: Row) async throws {
        try await withLatch(nodes: ["tomcat1"], raw: ["tomcat1"]) { h in
            let text = try await h.untilClosed(row.raw)
            #expect(text.hasPrefix("HTTP/1.1 \(row.status)\r\n"), "got: \(text.prefix(200))")
            #expect(Self.statusLines(text) == 1)
            let node = h.raw("tomcat1")
            #expect(node.requests.isEmpty, "no complete request reached the node")
            for connection in node.connections {
                let text = connection.text
                #expect(text.isEmpty || text.hasSuffix("\r\n\r\n"), "at most a head, never body bytes: \(text)")
                #expect(!text.contains("hello"))
            }
        }
    }

    @Test("a chunk announcing more than max_body (2^63 bytes) is streamed, then cut at max_body: 413, never a complete request")
    func oversizedChunk() async throws {
        try await withLatch(nodes: ["tomcat1"], raw: ["tomcat1"], configure: { $0.limits.maxBody = 1000 }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            // 2^63 fits in 64 bits, so the parser takes it; what follows is that chunk's data.
            try await client.send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\nhello\r\n0\r\n\r\n")
            try await Task.sleep(for: .milliseconds(100))  // the start of the chunk is forwarded before the rest comes
            try? await client.send(String(repeating: "z", count: 1200))
            let text = try await client.wait { _, closed in closed }
            await client.close()
            #expect(text.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"), "got: \(text.prefix(200))")
            let node = h.raw("tomcat1")
            #expect(try await node.wait { $0.connections.allSatisfy(\.closed) }, "the node's connection, holding a partial request, was closed")
            // The client's `0\r\n\r\n` was chunk data: re-framed inside a chunk, it cannot end the request.
            #expect(node.requests.isEmpty, "no complete request reached the node")
        }
    }

    // MARK: - Client side: accepted and re-framed

    struct Reframed: Sendable, CustomTestStringConvertible {
        var name: String
        var raw: String
        /// The body the node must get, de-framed.
        var body: String
        /// The single framing header the node must get.
        var framing: (name: String, value: String)
        var testDescription: String { name }
    }

    static let reframed: [Reframed] = [
        Reframed(name: "TE: ,chunked", raw: "POST /r HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", body: "hello", framing: ("transfer-encoding", "chunked")),
        Reframed(name: "TE: CHUNKED", raw: "POST /r HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n", body: "hello", framing: ("transfer-encoding", "chunked")),
        Reframed(name: "TE: <tab>chunked", raw: "POST /r HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", body: "hello", framing: ("transfer-encoding", "chunked")),
        Reframed(name: "TE: chunked on a GET, split over chunks with an extension and a trailer", raw: "GET /r HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nhe\r\n3\r\nllo\r\n0\r\nX-T: 1\r\n\r\n", body: "hello", framing: ("transfer-encoding", "chunked")),
        // A body that looks like a request stays a body: the node must not see a second request.
        Reframed(
            name: "chunked body holding a request",
            raw: "POST /r HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n23\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n\r\n0\r\n\r\n",
            body: "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", framing: ("transfer-encoding", "chunked")),
        Reframed(
            name: "GET with a Content-Length body holding a request",
            raw: "GET /r HTTP/1.1\r\nHost: a\r\nContent-Length: 35\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
            body: "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", framing: ("content-length", "35")),
    ]

    @Test("odd but valid framing: the node gets exactly one request, framed by Latch", arguments: reframed)
    func reframedRequest(row: Reframed) async throws {
        try await withLatch(nodes: ["tomcat1"], raw: ["tomcat1"]) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send(row.raw)
            let text = try await client.wait { text, _ in text.hasSuffix("hello") }
            await client.close()
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"), "got: \(text.prefix(200))")
            let node = h.raw("tomcat1")
            // Let any bytes still in flight arrive before asserting there are none.
            try await Task.sleep(for: .milliseconds(100))
            let request = try #require(node.requests.first)
            #expect(node.requests.count == 1, "one request, never a smuggled second one")
            #expect(request.target == "/r")
            #expect(request.bodyText == row.body)
            let other = row.framing.name == "transfer-encoding" ? "content-length" : "transfer-encoding"
            #expect(request.headers(row.framing.name) == [row.framing.value])
            #expect(request.headers(other).isEmpty)
            #expect(!node.connections[0].text.contains("/smuggled HTTP/1.1\r\nHost: a\r\nVia"), "no second head")
            #expect(node.connections[0].bytes.count == request.head.utf8.count + request.rawBody.count, "nothing after the request")
        }
    }

    @Test("a request pipelined behind Connection: close never reaches the node")
    func pipelinedAfterClose() async throws {
        try await withLatch(nodes: ["tomcat1"], raw: ["tomcat1"]) { h in
            let text = try await h.untilClosed(
                "GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
            )
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(Self.statusLines(text) == 1, "\(text)")
            try await Task.sleep(for: .milliseconds(100))
            #expect(h.raw("tomcat1").requests.map(\.target) == ["/1"])
            #expect(!h.raw("tomcat1").connections.contains { $0.text.contains("/2") })
        }
    }

    // MARK: - Upstream side

    /// One raw node on one thread, so a client's second request would find any pooled connection.
    /// `/bad` gets `bad`; everything else a clean answer naming its target.
    private static func withNode<T>(
        bad: [RawStep],
        _ body: (RawLatchHarness) async throws -> T
    ) async throws -> T {
        try await withLatch(
            nodes: ["tomcat1"],
            raw: ["tomcat1"],
            threads: 1,
            script: { _, request in request.target == "/bad" ? bad : [.send(RawBackend.ok("fine:\(request.target)"))] },
            configure: { $0.timeouts.upstreamResponse = .seconds(5) },
            body
        )
    }

    static let badResponses: [Row] = [
        Row(name: "Content-Length and Transfer-Encoding", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", status: "502 Bad Gateway"),
        Row(name: "two different Content-Lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", status: "502 Bad Gateway"),
        Row(name: "Content-Length: 1, 2", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nhi", status: "502 Bad Gateway"),
        Row(name: "Content-Length: -1", raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhi", status: "502 Bad Gateway"),
        Row(name: "garbage status line", raw: "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok", status: "502 Bad Gateway"),
        Row(name: "status line without a version", raw: "200 OK\r\nContent-Length: 2\r\n\r\nok", status: "502 Bad Gateway"),
        Row(name: "obs-fold in a response header", raw: "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok", status: "502 Bad Gateway"),
        Row(name: "space before the colon in a response header", raw: "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", status: "502 Bad Gateway"),
    ]

    /// Sends `request` on a new client connection; returns the connection and what it got once `done` holds.
    static func ask(
        _ h: RawLatchHarness,
        _ request: String = "GET /bad HTTP/1.1\r\nHost: a\r\n\r\n",
        until done: (String, Bool) -> Bool
    ) async throws -> (RawClient, String) {
        let client = try await RawClient.connect(port: h.port, group: h.group)
        try await client.send(request)
        return (client, try await client.wait(until: done))
    }

    /// The request after the one to `/bad`: on `client`'s connection while it is open (one thread, so
    /// the same upstream pool), else on a new one. Returns the answer to it alone.
    static func nextAnswer(
        _ h: RawLatchHarness,
        after client: RawClient,
        _ request: String = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
        until done: (String) -> Bool = { $0.hasSuffix("fine:/next") }
    ) async throws -> String {
        let next = client.isClosed ? try await RawClient.connect(port: h.port, group: h.group) : client
        let mark = next.bytes.count
        try await next.send(request)
        try await next.wait { _, closed in closed || done(next.text(after: mark)) }
        await next.close()
        await client.close()
        return next.text(after: mark)
    }

    /// `/next` got its own clean answer over a second upstream connection; nothing more went on the first.
    static func expectServedOnNewConnection(_ node: RawBackend, _ answer: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.hasSuffix("fine:/next"), "got: \(answer.prefix(300))", sourceLocation: sourceLocation)
        #expect(node.accepted == 2, "a new upstream connection for the next request", sourceLocation: sourceLocation)
        #expect(node.connections.first?.requests.count == 1, "nothing more was sent on the first one", sourceLocation: sourceLocation)
        #expect(node.requests.map(\.target) == ["/bad", "/next"], "each request reached the node once", sourceLocation: sourceLocation)
    }

    @Test("broken response framing: 502, that upstream connection closed, the next request on a new one", arguments: badResponses)
    func badResponseFraming(row: Row) async throws {
        try await Self.withNode(bad: [.send(row.raw)]) { h in
            let (client, first) = try await Self.ask(h) { text, closed in text.contains("\r\n\r\n") && (text.hasSuffix("\n") || closed) }
            #expect(first.hasPrefix("HTTP/1.1 \(row.status)\r\n"), "got: \(first.prefix(200))")
            let node = h.raw("tomcat1")
            #expect(try await node.wait { $0.connections.first?.closed == true }, "Latch closed the connection that carried the broken response")
            Self.expectServedOnNewConnection(node, try await Self.nextAnswer(h, after: client))
        }
    }

    @Test("an invalid chunk size in the same read as the head: nothing reached the client, so it must get 502")
    func badChunkWithHead() async throws {
        try await Self.withNode(bad: [.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")]) { h in
            let (client, text) = try await Self.ask(h) { text, closed in closed || text.hasSuffix("\n") }
            if text.hasPrefix("HTTP/1.1 200 OK\r\n") {
                // The head got out in a read of its own: then the cut is the right answer.
                #expect(!text.contains("hello"))
            } else {
                // The head waits for the end of the read, so a body broken in the same read still gets 502.
                #expect(text.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "got \(text.isEmpty ? "nothing, then a close" : text)")
            }
            let node = h.raw("tomcat1")
            #expect(try await node.wait { $0.connections.first?.closed == true })
            Self.expectServedOnNewConnection(node, try await Self.nextAnswer(h, after: client))
        }
    }

    @Test("an invalid chunk after the response began: the client connection is cut, the upstream one closed")
    func badChunkMidResponse() async throws {
        let bad: [RawStep] = [
            .send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
            .wait(.milliseconds(150)),
            .send("zz\r\nworld\r\n0\r\n\r\n"),
        ]
        try await Self.withNode(bad: bad) { h in
            let (client, text) = try await Self.ask(h) { _, closed in closed }
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(text.contains("hello"))
            #expect(!text.contains("world"))
            #expect(!text.hasSuffix("0\r\n\r\n"), "the cut must not look like a complete response")
            let node = h.raw("tomcat1")
            #expect(try await node.wait { $0.connections.first?.closed == true })
            Self.expectServedOnNewConnection(node, try await Self.nextAnswer(h, after: client))
        }
    }

    /// What a node sends after a complete `Content-Length: 2` answer, in the same write. The parser
    /// takes the body only up to its length (``HTTP1ResponseParser``), so whatever follows is seen as
    /// left over and the connection closed.
    static let extraBytes: [Row] = [
        Row(name: "garbage", raw: "JUNKJUNK"),
        Row(name: "a whole second response", raw: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL"),
        Row(name: "the start of a response head", raw: "HTTP/1.1 200 OK\r\nX-Evil: "),
        Row(name: "half a status line", raw: "HTTP/1.1 20"),
    ]

    @Test(
        "a body longer than its Content-Length: the extra bytes are never the next answer, the connection is not reused",
        arguments: extraBytes
    )
    func bodyLongerThanContentLength(row: Row) async throws {
        try await Self.withNode(bad: [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + row.raw)]) { h in
            let (client, first) = try await Self.ask(h) { text, _ in text.hasSuffix("\r\n\r\nok") }
            #expect(first.hasPrefix("HTTP/1.1 200 OK\r\n") && first.hasSuffix("\r\n\r\nok"))
            try await Task.sleep(for: .milliseconds(100))  // the bytes after the answer reach Latch before the next request
            let second = try await Self.nextAnswer(h, after: client)
            let node = h.raw("tomcat1")
            #expect(!second.contains("EVIL"))
            #expect(!second.lowercased().contains("x-evil"), "the leftover head was glued onto the next answer: \(second)")
            Self.expectServedOnNewConnection(node, second)
        }
    }

    @Test("bytes after the end of a chunked response are never the next answer, the connection is not reused", arguments: extraBytes)
    func bytesAfterChunkedResponse(row: Row) async throws {
        try await Self.withNode(bad: [.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + row.raw)]) { h in
            let (client, first) = try await Self.ask(h) { text, _ in text.hasSuffix("0\r\n\r\n") }
            #expect(first.hasPrefix("HTTP/1.1 200 OK\r\n") && first.contains("\r\nok\r\n"))
            try await Task.sleep(for: .milliseconds(100))  // the bytes after the answer reach Latch before the next request
            let second = try await Self.nextAnswer(h, after: client)
            #expect(!second.contains("EVIL"))
            #expect(!second.lowercased().contains("x-evil"), "the leftover head was glued onto the next answer: \(second)")
            Self.expectServedOnNewConnection(h.raw("tomcat1"), second)
        }
    }

    @Test("a POST after a response with half a status line behind it: the node serves it, so the client must not get 502")
    func postOnDirtyConnection() async throws {
        try await Self.withNode(bad: [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 20")]) { h in
            let (client, _) = try await Self.ask(h) { text, _ in text.hasSuffix("\r\n\r\nok") }
            try await Task.sleep(for: .milliseconds(100))  // the bytes after the answer reach Latch before the next request
            let answer = try await Self.nextAnswer(h, after: client, "POST /order HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nitem=1") {
                $0.hasSuffix("fine:/order") || $0.hasSuffix("\n")
            }
            let node = h.raw("tomcat1")
            #expect(node.requests.filter { $0.method == "POST" }.count == 1, "a POST is never sent twice")
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.hasSuffix("fine:/order"), "the node served the POST, the client got: \(answer.prefix(120))")
            #expect(node.connections.first?.requests.count == 1, "the dirty connection was closed, so the POST went on a new one")
        }
    }

    @Test("bytes a node sends on an idle pooled connection get that connection closed, never read as an answer")
    func bytesOnIdleConnection() async throws {
        try await Self.withNode(bad: [.send(RawBackend.ok("ok")), .wait(.milliseconds(100)), .send("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")]) { h in
            let (client, _) = try await Self.ask(h) { text, _ in text.hasSuffix("\r\n\r\nok") }
            let node = h.raw("tomcat1")
            #expect(try await node.wait { $0.connections.first?.closed == true }, "the dirty idle connection was closed")
            let second = try await Self.nextAnswer(h, after: client)
            #expect(!second.contains("EVIL"))
            Self.expectServedOnNewConnection(node, second)
        }
    }

    static let closeDelimited: [Row] = [
        Row(name: "no Content-Length, no Transfer-Encoding", raw: "HTTP/1.1 200 OK\r\nX-A: b\r\n\r\nclose-delimited body"),
        Row(name: "Transfer-Encoding: chunked, gzip", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nclose-delimited body"),
        Row(name: "HTTP/1.0 with keep-alive but no length", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nclose-delimited body"),
    ]

    @Test("a close-delimited response is relayed whole, and its connection never reused", arguments: closeDelimited)
    func closeDelimitedResponse(row: Row) async throws {
        try await Self.withNode(bad: [.send(row.raw), .wait(.milliseconds(100)), .send(" end"), .close]) { h in
            let (client, first) = try await Self.ask(h) { text, closed in text.hasSuffix("0\r\n\r\n") || closed }
            #expect(first.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(first.lowercased().contains("transfer-encoding: chunked"), "re-framed for the HTTP/1.1 client")
            #expect(first.contains("close-delimited body") && first.contains(" end"))
            #expect(first.hasSuffix("0\r\n\r\n"), "relayed to its end: \(first)")
            Self.expectServedOnNewConnection(h.raw("tomcat1"), try await Self.nextAnswer(h, after: client))
        }
    }
}
