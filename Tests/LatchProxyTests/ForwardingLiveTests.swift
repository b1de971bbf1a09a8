import LatchCore
import NIOCore
import NIOHTTP1
import Testing

@Suite("Headers Latch forwards, strips and adds", .timeLimit(.minutes(1)))
struct ForwardingLiveTests {
    @Test("hop-by-hop fields go, Host stays, Via and X-Forwarded-* are added, client XFF is replaced")
    func forwardedHeaders() async throws {
        try await withLatch { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send(
                "GET /a;jsessionid=X.tomcat1?q=1 HTTP/1.1\r\nHost: shop.example.com:8080\r\n"
                    + "Connection: keep-alive, X-Secret\r\nX-Secret: drop me\r\nKeep-Alive: timeout=5\r\n"
                    + "TE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\n"
                    + "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nVia: 1.1 edge\r\nX-Custom: kept\r\n"
                    + "Forwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n\r\n"
            )
            let text = try await client.wait { text, _ in text.contains("hello") }
            await client.close()
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(text.lowercased().contains("via: 1.1 latch"))
            let seen = try #require(h.backend("tomcat1").requests.first).head
            #expect(seen.uri == "/a;jsessionid=X.tomcat1?q=1")
            #expect(seen.version == .http1_1)
            #expect(seen.headers["host"] == ["shop.example.com:8080"])
            for dropped in ["connection", "x-secret", "keep-alive", "te", "proxy-connection", "upgrade", "forwarded", "x-real-ip"] {
                #expect(seen.headers[dropped].isEmpty, "\(dropped) must not reach the node")
            }
            #expect(seen.headers["x-custom"] == ["kept"])
            #expect(seen.headers["via"] == ["1.1 edge, 1.1 latch"])
            #expect(seen.headers["x-forwarded-for"] == ["127.0.0.1"])
            #expect(seen.headers["x-forwarded-proto"] == ["http"])
            #expect(seen.headers["x-forwarded-host"] == ["shop.example.com:8080"])
        }
    }

    @Test("x_forwarded_for: append keeps the client's list and adds the peer")
    func forwardedForAppend() async throws {
        try await withLatch(configure: { $0.forwarding.xForwardedFor = .append }) { h in
            _ = try await h.send(.GET, cookie: "JSESSIONID=A.tomcat3", headers: ["X-Forwarded-For": "203.0.113.7"])
            #expect(h.backend("tomcat3").requests.first?.head.headers["x-forwarded-for"] == ["203.0.113.7, 127.0.0.1"])
        }
    }

    @Test("the client's framing is never forwarded verbatim: an odd Transfer-Encoding is re-framed")
    func reframedBody() async throws {
        try await withLatch(reply: { _, _ in .echoBodyChecksum }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            // NIOHTTP1 accepts `Transfer-Encoding: ,chunked` as chunked; the node must see a clean `chunked`.
            try await client.send(
                "POST /f HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat2\r\nTransfer-Encoding: ,chunked\r\n\r\n"
                    + "5\r\nhello\r\n0\r\n\r\n"
            )
            let text = try await client.wait { text, _ in text.contains("bytes=") }
            await client.close()
            #expect(text.contains("bytes=5 "))
            let seen = try #require(h.backend("tomcat2").requests.first).head
            #expect(seen.headers["transfer-encoding"] == ["chunked"])
        }
    }

    @Test("an HTTP/1.0 request without Host reaches the node as HTTP/1.1 with the node's address as Host")
    func http10WithoutHost() async throws {
        try await withLatch { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("GET /old HTTP/1.0\r\nCookie: JSESSIONID=A.tomcat2\r\n\r\n")
            let text = try await client.wait { _, closed in closed }
            #expect(text.hasPrefix("HTTP/1.0 200 OK\r\n"))
            let seen = try #require(h.backend("tomcat2").requests.first).head
            #expect(seen.version == .http1_1)
            #expect(seen.headers["host"] == ["127.0.0.1:\(h.backend("tomcat2").port)"])
        }
    }

    @Test("absolute-form targets reach the node in origin-form with the target's authority as Host")
    func absoluteForm() async throws {
        try await withLatch { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("GET http://shop.example.com/cart?jsessionid=Z.tomcat2 HTTP/1.1\r\nHost: shop.example.com\r\n\r\n")
            try await client.wait { text, _ in text.contains("hello") }
            await client.close()
            let seen = try #require(h.backend("tomcat2").requests.first).head
            #expect(seen.uri == "/cart?jsessionid=Z.tomcat2")
            #expect(seen.headers["host"] == ["shop.example.com"])
        }
    }

    @Test(
        "malformed requests get 400 and never reach a node",
        arguments: [
            "GET / HTTP/1.1\r\n\r\n",  // no Host
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // two Hosts
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",  // TE in HTTP/1.0
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",  // CL + TE
        ]
    )
    func badRequests(raw: String) async throws {
        try await withLatch { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send(raw)
            let text = try await client.wait { _, closed in closed }
            await client.close()
            // Answered in the client's own version: HTTP/1.0 for the HTTP/1.0 row.
            #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n") || text.hasPrefix("HTTP/1.0 400 Bad Request\r\n"))
            #expect(h.backends.allSatisfy { $0.requests.isEmpty && $0.accepted == 0 })
        }
    }
}
