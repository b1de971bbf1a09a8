import Foundation
import LatchCore
import NIOCore
import NIOHTTP1
import NIOHTTP2
import Testing

@testable import LatchProxy

/// What an HTTP/2 stream must keep whatever Latch does with streams underneath (a child channel per
/// stream, or frames handled on the connection with its own windows): trailers both ways, answers
/// without a body, a client giving up on one stream among several, and flow control stream by stream.
/// Frame by frame (``HTTP2FrameClient``): each test says which frames go out, and checks which come
/// back on which stream, and what the node got.
@Suite("HTTP/2: trailers, bodiless answers, resets and per-stream flow control", .timeLimit(.minutes(1)))
struct HTTP2SemanticsLiveTests {
    /// An HTTP/2 listener on TLS in front of three nodes (those in `raw` played by ``RawBackend``s
    /// running `script`, the others by ``TestBackend``s answering `reply`), and a frame-level client
    /// connected to it.
    static func withH2Latch(
        raw: Set<String> = [],
        script: @escaping @Sendable (String, RawRequest) -> [RawStep] = { _, _ in [.send(RawBackend.ok("hello"))] },
        reply: @escaping @Sendable (String, HTTPRequestHead) -> BackendReply = { _, _ in .text(body: "hello") },
        _ body: (RawLatchHarness, HTTP2FrameClient) async throws -> Void
    ) async throws {
        let pki = try TestPKI()
        let files = try pki.write(names: ["localhost"], base: "localhost")
        try await withLatch(raw: raw, script: script, configure: { config in
            config.listeners[0].tls = TLSListenerConfig(certificates: [files])
        }, reply: reply) { h in
            try await HTTP2FrameClient.with(port: h.port, group: h.group, trusting: pki.authority.caPEM) { try await body(h, $0) }
        }
    }

    /// A request's header block for `path`, with the session cookie of `node`.
    static func head(_ path: String, method: String = "GET", node: String, port: Int, _ extra: [(String, String)] = []) -> [(String, String)] {
        [(":method", method), (":scheme", "https"), (":authority", "localhost:\(port)"), (":path", path),
         ("cookie", "JSESSIONID=S\(path.count).\(node)")] + extra
    }

    /// The stream is over, one way or another (or the whole connection is).
    static func over(_ seen: HTTP2FrameClient.Snapshot, _ id: HTTP2StreamID) -> Bool {
        seen[id].ended || seen[id].reset != nil || seen.closed
    }

    /// The connection is still whole: no GOAWAY, not closed, no error from swift-nio-http2.
    static func expectConnectionIntact(_ client: HTTP2FrameClient, sourceLocation: SourceLocation = #_sourceLocation) {
        let seen = client.seen
        #expect(seen.goAways.isEmpty, "\(seen.goAways)", sourceLocation: sourceLocation)
        #expect(!seen.closed, sourceLocation: sourceLocation)
        #expect(seen.errors.isEmpty, "\(seen.errors)", sourceLocation: sourceLocation)
    }

    /// Latch holds no exchange any more (a stream given up on must free its node's slot).
    static func noRequestInFlight(_ h: RawLatchHarness) async throws -> Bool {
        try await eventually { h.server.activeRequests(cluster: 0).allSatisfy { $0 == 0 } }
    }

    // MARK: - Trailers

    @Test("a node's chunked answer with trailers reaches the client as HEADERS, DATA, then trailers in a HEADERS block that ends the stream")
    func responseTrailersReachTheClient() async throws {
        let answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum, X-Rows\r\n\r\n"
            + "6\r\nhello \r\n5\r\nworld\r\n0\r\nX-Checksum: sha-256=abc\r\nX-Rows: 2\r\n\r\n"
        try await Self.withH2Latch(raw: ["tomcat1"], script: { _, _ in [.send(answer)] }) { h, client in
            let id = try await client.request(Self.head("/report", node: "tomcat1", port: h.port))
            #expect(await client.until { Self.over($0, id) })
            let stream = client.seen[id]
            #expect(stream.reset == nil)
            #expect(stream.status == "200")
            #expect(stream.text == "hello world")
            let head = try #require(stream.head)
            #expect(!head.endStream)
            // Connection-specific, never in an HTTP/2 head (RFC 9113 §8.2.2).
            #expect(head.first("transfer-encoding") == nil)
            let trailers = try #require(stream.trailers, "\(stream.frames)")
            #expect(trailers.endStream)
            #expect(trailers.first("x-checksum") == "sha-256=abc")
            #expect(trailers.first("x-rows") == "2")
            // No pseudo-header field in a trailer block (§8.1).
            #expect(!trailers.fields.contains { $0.name.hasPrefix(":") })
            // The trailers end the stream: no DATA frame with END_STREAM before them, nothing after.
            #expect(stream.frames.first == "HEADERS")
            #expect(stream.frames.last == "HEADERS END_STREAM", "\(stream.frames)")
            #expect(stream.frames.filter { $0.hasPrefix("HEADERS") }.count == 2)
            #expect(!stream.frames.contains { $0.hasPrefix("DATA") && $0.hasSuffix("END_STREAM") }, "\(stream.frames)")
            Self.expectConnectionIntact(client)
        }
    }

    /// Latch relays request trailers only in a chunked body's trailer section, so only when the request
    /// goes to the node chunked: an HTTP/2 request without `content-length` (Sources/LatchProxy:
    /// `ClientRequestHead.init(http2:endStream:)` adds `Transfer-Encoding: chunked`, and
    /// `UpstreamHandler` writes `.end(trailers)` as the last chunk and trailer section only when
    /// `requestChunked`). A request with `content-length` keeps that length to the node (README,
    /// "Framing"), and an HTTP/1.1 body framed by length has no place for trailers: they are dropped
    /// there, deliberately, and must not leak into the connection as bytes of their own.
    @Test("request trailers reach the node after the last chunk; beside a content-length, which leaves them no place in HTTP/1.1, they are dropped cleanly")
    func requestTrailersReachTheNode() async throws {
        try await Self.withH2Latch(raw: ["tomcat1"], script: { _, request in [.send(RawBackend.ok("got \(request.body.count)"))] }) { h, client in
            // HEADERS, two DATA frames, then the trailers with END_STREAM.
            let chunked = try await client.request(Self.head("/chunked", method: "POST", node: "tomcat1", port: h.port), endStream: false)
            try await client.data(chunked, "abc")
            try await client.data(chunked, "def")
            try await client.trailers(chunked, [("x-digest", "sha-256=xyz"), ("x-count", "6")])
            #expect(await client.until { Self.over($0, chunked) })
            #expect(client.seen[chunked].status == "200", "\(client.seen[chunked].frames)")
            #expect(client.seen[chunked].text == "got 6")

            // The same with a content-length, after, so it goes over the same node connection.
            let sized = try await client.request(
                Self.head("/sized", method: "POST", node: "tomcat1", port: h.port, [("content-length", "6")]), endStream: false)
            try await client.data(sized, "ghijkl")
            try await client.trailers(sized, [("x-digest", "sha-256=uvw")])
            #expect(await client.until { Self.over($0, sized) })
            #expect(client.seen[sized].status == "200", "\(client.seen[sized].frames)")
            #expect(client.seen[sized].text == "got 6")

            let node = h.raw("tomcat1")
            let requests = node.requests
            try #require(requests.count == 2, "\(node.connections.map(\.text))")
            let first = requests[0]
            #expect(first.target == "/chunked")
            #expect(first.headers("transfer-encoding") == ["chunked"])
            #expect(first.headers("content-length").isEmpty)
            #expect(first.bodyText == "abcdef")
            // The trailer section after the last chunk, the fields as the client sent them.
            #expect(first.rawBodyText.lowercased().hasSuffix("0\r\nx-digest: sha-256=xyz\r\nx-count: 6\r\n\r\n"), "\(first.rawBodyText)")
            #expect(!first.head.lowercased().contains("x-digest"), "trailers are not head fields")

            let second = requests[1]
            #expect(second.target == "/sized")
            #expect(second.headers("content-length") == ["6"])
            #expect(second.headers("transfer-encoding").isEmpty)
            #expect(second.rawBodyText == "ghijkl")
            #expect(!second.head.lowercased().contains("x-digest"))
            // Every byte the node got belongs to one of the two requests: the dropped trailers did not
            // go out as stray bytes (a third, garbled request on a reused connection).
            for connection in node.connections {
                let framed = connection.requests.reduce(0) { $0 + $1.head.utf8.count + $1.rawBody.count }
                #expect(connection.bytes.count == framed, "\(connection.text)")
                #expect(!connection.text.contains("uvw"))
            }
            Self.expectConnectionIntact(client)
        }
    }

    // MARK: - Bodiless answers

    @Test("HEAD keeps the node's content-length with no DATA byte; 204 and 304 (with a content-length) end without a body; the node connection serves on")
    func bodilessAnswers() async throws {
        try await Self.withH2Latch(raw: ["tomcat1"], script: { _, request in
            switch request.target {
            case "/head": [.send("HTTP/1.1 200 OK\r\nContent-Length: 12345\r\nContent-Type: text/plain\r\n\r\n")]
            case "/204": [.send("HTTP/1.1 204 No Content\r\nX-Done: yes\r\n\r\n")]
            // A 304 may give the length of the representation it stands for (RFC 9110 §8.6): no body follows.
            case "/304": [.send("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 5000\r\n\r\n")]
            default: [.send(RawBackend.ok("after"))]
            }
        }) { h, client in
            // One after the other, so a body wrongly expected would hold up the node connection for the next.
            let head = try await client.request(Self.head("/head", method: "HEAD", node: "tomcat1", port: h.port))
            #expect(await client.until(within: .seconds(10)) { Self.over($0, head) }, "\(client.seen[head].frames)")
            let noContent = try await client.request(Self.head("/204", node: "tomcat1", port: h.port))
            #expect(await client.until(within: .seconds(10)) { Self.over($0, noContent) }, "\(client.seen[noContent].frames)")
            let notModified = try await client.request(
                Self.head("/304", node: "tomcat1", port: h.port, [("if-none-match", "\"v1\"")]))
            #expect(await client.until(within: .seconds(10)) { Self.over($0, notModified) }, "\(client.seen[notModified].frames)")
            let after = try await client.request(Self.head("/after", node: "tomcat1", port: h.port))
            #expect(await client.until(within: .seconds(10)) { Self.over($0, after) })

            let seen = client.seen
            #expect(seen[head].status == "200")
            #expect(seen[head].head?.first("content-length") == "12345", "the node's length, as a GET would get")
            #expect(seen[head].head?.first("content-type") == "text/plain")
            #expect(seen[noContent].status == "204")
            #expect(seen[noContent].head?.first("x-done") == "yes")
            #expect(seen[notModified].status == "304")
            #expect(seen[notModified].head?.first("etag") == "\"v1\"")
            for id in [head, noContent, notModified] {
                #expect(seen[id].ended && seen[id].reset == nil, "stream \(id): \(seen[id].frames)")
                #expect(seen[id].bytes == 0, "stream \(id): no DATA byte")
                #expect(seen[id].trailers == nil, "stream \(id): one header block")
            }
            #expect(seen[after].status == "200")
            #expect(seen[after].text == "after")
            #expect(h.raw("tomcat1").requests.map(\.target) == ["/head", "/204", "/304", "/after"])
            #expect(h.raw("tomcat1").accepted == 1, "one node connection served all four: no answer was taken to have a body")
            Self.expectConnectionIntact(client)
        }
    }

    // MARK: - Resets

    @Test("a stream reset mid-download ends alone: a download in flight beside it completes intact, the exchange is freed, the connection takes new streams")
    func resetDuringDownload() async throws {
        let big = 16 * 1024 * 1024
        let beside = 1024 * 1024 + 3
        try await Self.withH2Latch(reply: { _, head in
            switch head.uri {
            case "/big": .download(bytes: big, chunked: false)
            case "/beside": .download(bytes: beside, chunked: true)
            default: .text(body: "hello")
            }
        }) { h, client in
            // Held: in flight, its window full, when the other stream is reset. The reset one is held
            // too, so that it cannot finish before the reset however fast the machine is: it is reset
            // with its window full and the node still sending.
            let inFlight = try await client.request(Self.head("/beside", node: "tomcat2", port: h.port), credit: false)
            let cancelled = try await client.request(Self.head("/big", node: "tomcat1", port: h.port), credit: false)
            #expect(await client.until {
                ($0[inFlight].bytes == 65_535 && $0[cancelled].bytes == 65_535) || Self.over($0, inFlight) || Self.over($0, cancelled)
            }, "\(client.seen[inFlight].bytes) and \(client.seen[cancelled].bytes) bytes")
            try #require(!client.seen[cancelled].ended, "the download was still under way when reset")
            try await client.reset(cancelled, .cancel)

            try await client.release(inFlight)
            #expect(await client.until { Self.over($0, inFlight) })
            let stream = client.seen[inFlight]
            #expect(stream.status == "200")
            #expect(stream.reset == nil)
            #expect(stream.bytes == beside)
            #expect(stream.checksum.final == PatternBody.expectedChecksum(total: beside))

            let next = try await client.request(Self.head("/next", node: "tomcat1", port: h.port))
            #expect(await client.until { Self.over($0, next) })
            #expect(client.seen[next].status == "200")
            #expect(client.seen[next].text == "hello")
            #expect(client.seen[cancelled].bytes < big, "nothing of the reset stream completed it")
            #expect(try await Self.noRequestInFlight(h), "\(h.server.activeRequests(cluster: 0))")
            Self.expectConnectionIntact(client)
        }
    }

    @Test("a stream reset mid-upload ends alone: the node never gets the cut body as a whole request, an upload beside it arrives intact, the connection takes new streams")
    func resetDuringUpload() async throws {
        let beside = 200_000
        try await Self.withH2Latch(raw: ["tomcat1"], reply: { _, head in
            head.method == .POST ? .echoBodyChecksum : .text(body: "hello")
        }) { h, client in
            // An upload under way beside the one to be reset: its first part now, the rest after the reset.
            let inFlight = try await client.request(
                Self.head("/beside", method: "POST", node: "tomcat2", port: h.port, [("content-length", String(beside))]), endStream: false)
            try await client.data(inFlight, TestPattern.chunk(offset: 0, count: 40_000))
            // No content-length: the node gets it chunked, so only a last chunk Latch must never send
            // would make it a whole request there.
            let cancelled = try await client.request(Self.head("/cut", method: "POST", node: "tomcat1", port: h.port), endStream: false)
            let part = 48 * 1024
            try await client.data(cancelled, TestPattern.chunk(offset: 0, count: part))
            let node = h.raw("tomcat1")
            // The part has reached the node (head and chunk framing around it): the upload is under way there.
            #expect(try await eventually { node.receivedBytes > part }, "\(node.receivedBytes) bytes at the node")
            try await client.reset(cancelled, .cancel)

            try await client.data(inFlight, TestPattern.chunk(offset: 40_000, count: beside - 40_000), endStream: true)
            #expect(await client.until { Self.over($0, inFlight) })
            let stream = client.seen[inFlight]
            #expect(stream.status == "200", "\(stream.frames)")
            #expect(stream.text == "bytes=\(beside) checksum=\(PatternBody.expectedChecksum(total: beside))")
            #expect(!stream.windowIncrements.isEmpty, "Latch opened the window as it read")

            // The node connection with the cut request is closed, and what it got never framed a request.
            #expect(try await eventually { node.connections.allSatisfy(\.closed) }, "the cut request's node connection is closed")
            #expect(node.requests.isEmpty, "\(node.requests.map(\.target))")
            #expect(node.connections.first?.text.hasPrefix("POST /cut HTTP/1.1\r\n") == true)
            #expect(node.connections.first?.text.contains("\r\n0\r\n\r\n") == false, "no last chunk")
            #expect(try await Self.noRequestInFlight(h), "\(h.server.activeRequests(cluster: 0))")

            let next = try await client.request(Self.head("/next", node: "tomcat1", port: h.port))
            #expect(await client.until { Self.over($0, next) })
            #expect(client.seen[next].status == "200")
            #expect(client.seen[next].text == "hello")
            #expect(node.requests.map(\.target) == ["/next"])
            Self.expectConnectionIntact(client)
        }
    }

    // MARK: - Flow control per stream

    /// Polls `value` every 10 ms until it has not changed for `quiet` (or `limit` passed), and returns
    /// it: where a node's progress stops when nothing downstream takes its bytes. There is no event
    /// for "nothing more happens"; settling, unlike a fixed sleep, ends at the same value however
    /// loaded the machine is, whether or not the bytes are held back.
    static func settled(_ value: () -> Int, quiet: Duration = .milliseconds(300), within limit: Duration = .seconds(15)) async throws -> Int {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        var last = value()
        var since = clock.now
        while clock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
            let now = value()
            if now != last {
                last = now
                since = clock.now
            } else if clock.now - since >= quiet {
                return now
            }
        }
        return value()
    }

    /// The client does not read stream A (sends no WINDOW_UPDATE for it; the connection window is wide
    /// open), so A's 64 KiB window fills. Streams opened after it must be answered all the same, its
    /// node must be held back rather than its body buffered, and once A's window opens, all of it
    /// must come.
    @Test("a stream whose client stops reading holds back only itself and its node: a small answer and a 512 KiB download complete beside it, then it arrives whole")
    func stalledStreamHoldsOnlyItself() async throws {
        let size = 32 * 1024 * 1024 + 1
        let beside = 512 * 1024 + 7
        try await Self.withH2Latch(reply: { _, head in
            switch head.uri {
            case "/stalled": .download(bytes: size, chunked: false)
            case "/beside": .download(bytes: beside, chunked: true)
            default: .text(body: "small")
            }
        }) { h, client in
            let stalled = try await client.request(Self.head("/stalled", node: "tomcat1", port: h.port), credit: false)
            // The default 64 KiB window (RFC 9113 §6.9.2), filled to the byte.
            #expect(await client.until { $0[stalled].bytes == 65_535 || Self.over($0, stalled) }, "\(client.seen[stalled].bytes) bytes")

            // The same node (Latch needs another connection to it, the first is taken) and another one.
            let small = try await client.request(Self.head("/small", node: "tomcat1", port: h.port))
            let download = try await client.request(Self.head("/beside", node: "tomcat2", port: h.port))
            #expect(await client.until(within: .seconds(15)) { Self.over($0, small) && Self.over($0, download) },
                    "\(client.seen[small].frames) and \(client.seen[download].bytes) bytes")
            #expect(client.seen[small].status == "200")
            #expect(client.seen[small].text == "small")
            #expect(client.seen[download].status == "200")
            #expect(client.seen[download].bytes == beside)
            #expect(client.seen[download].checksum.final == PatternBody.expectedChecksum(total: beside))
            #expect(client.seen[stalled].bytes == 65_535, "not a byte beyond the stalled stream's window")
            #expect(!client.seen[stalled].ended)

            // Backpressure reaches the node: it stops with the socket buffers full (about 4 MiB here),
            // far from the whole body, which Latch would otherwise be holding in memory.
            let written = try await Self.settled { h.backend("tomcat1").downloadBytesWritten }
            #expect(written < size / 2, "the node wrote \(written) of \(size) bytes for a stream nobody reads")

            try await client.release(stalled)
            #expect(await client.until(within: .seconds(40)) { Self.over($0, stalled) }, "\(client.seen[stalled].bytes) bytes")
            let stream = client.seen[stalled]
            #expect(stream.status == "200")
            #expect(stream.reset == nil)
            #expect(stream.head?.first("content-length") == String(size))
            #expect(stream.bytes == size)
            #expect(stream.checksum.final == PatternBody.expectedChecksum(total: size))
            Self.expectConnectionIntact(client)
        }
    }

    /// A client that opens a stalled stream's window a byte at a time: each opening makes the stream
    /// writable again for an instant, and if Latch then read the node on, what it read would wait in
    /// Latch for a window that hardly grows. What waits unsent is bounded instead.
    @Test("a client opening its window a byte at a time gets those bytes, and Latch does not read the node on for it")
    func tricklingWindowDoesNotFillLatch() async throws {
        let size = 32 * 1024 * 1024 + 1
        try await Self.withH2Latch(reply: { _, _ in .download(bytes: size, chunked: false) }) { h, client in
            let stalled = try await client.request(Self.head("/trickle", node: "tomcat1", port: h.port), credit: false)
            #expect(await client.until { $0[stalled].bytes == 65_535 || Self.over($0, stalled) })
            let before = try await Self.settled { h.backend("tomcat1").downloadBytesWritten }
            for _ in 0..<200 { try await client.windowUpdate(stalled, 1) }
            #expect(await client.until { $0[stalled].bytes == 65_735 || Self.over($0, stalled) }, "\(client.seen[stalled].bytes) bytes")
            let after = try await Self.settled { h.backend("tomcat1").downloadBytesWritten }
            // Each opening once let the node be read on (up to 256 KiB a time): 200 of them, 50 MiB.
            #expect(after - before < 1024 * 1024, "the node wrote \(after - before) more bytes for 200 bytes of window")
            #expect(client.seen[stalled].bytes == 65_735)
            try await client.reset(stalled)
            Self.expectConnectionIntact(client)
        }
    }

    /// An upload many times the 64 KiB stream and connection windows, to a node that takes at most
    /// 16 KiB a millisecond: the client can only send as Latch opens both windows, and Latch must open
    /// them as the node takes the bytes — not so fast that it holds the upload itself, not so slowly
    /// (or never) that the upload stalls.
    @Test("a 16 MiB upload to a node that reads slowly arrives intact: Latch opens the stream's and the connection's windows as the node takes the bytes")
    func uploadToSlowNode() async throws {
        let size = 16 * 1024 * 1024 + 5
        let expected = PatternBody.expectedChecksum(total: size)
        try await Self.withH2Latch(reply: { _, _ in .readSlowly(every: .milliseconds(1)) }) { h, client in
            let id = try await client.request(
                Self.head("/upload", method: "PUT", node: "tomcat3", port: h.port, [("content-length", String(size))]), endStream: false)
            // Each write returns once sent, which past the first 64 KiB only WINDOW_UPDATEs allow.
            var offset = 0
            while offset < size {
                let n = min(64 * 1024, size - offset)
                try await client.data(id, TestPattern.chunk(offset: offset, count: n), endStream: offset + n == size)
                offset += n
            }
            // All sent: what the node has not read yet is in socket buffers (about 3 MiB here) and
            // in Latch. Not most of the upload: the windows followed the node.
            let unread = size - h.backend("tomcat3").bodyBytesRead
            #expect(unread < size / 2, "\(unread) of \(size) bytes not yet at the node when the client had sent them all")

            #expect(await client.until { Self.over($0, id) })
            let seen = client.seen
            #expect(seen[id].status == "200", "\(seen[id].frames)")
            #expect(seen[id].text == "bytes=\(size) checksum=\(expected)")
            #expect(seen[id].windowIncrements.reduce(0, +) >= size - 65_535, "\(seen[id].windowIncrements.count) stream WINDOW_UPDATEs")
            #expect(seen.connectionWindowIncrements.reduce(0, +) >= size - 65_535, "\(seen.connectionWindowIncrements.count) connection WINDOW_UPDATEs")
            let request = try #require(h.backend("tomcat3").requests.first)
            #expect(request.head.headers["content-length"] == [String(size)])
            #expect(request.bodyBytes == size)
            #expect(request.checksum == expected)
            Self.expectConnectionIntact(client)
        }
    }
}
