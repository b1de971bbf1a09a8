import LatchCore
import NIOCore
import NIOHTTP1
import Testing

@Suite("What the client gets when a node fails", .timeLimit(.minutes(1)))
struct UpstreamFailureLiveTests {
    @Test("with retries: 0, a node that refuses connections gives 502, and the other nodes keep serving")
    func connectionRefused() async throws {
        try await withLatch(configure: { $0.clusters[0].failover.retries = 0 }) { h in
            await h.backend("tomcat2").close()
            let answer = try await h.get(cookie: "JSESSIONID=A.tomcat2")
            #expect(answer.status == .badGateway)
            #expect(answer.body.hasPrefix("502 Bad Gateway"))
            #expect(!answer.body.contains("127.0.0.1"), "internal addresses stay in the log")
            #expect(try await h.get(cookie: "JSESSIONID=A.tomcat1").status == .ok)
        }
    }

    @Test("a node answering garbage gives 502")
    func garbageResponse() async throws {
        try await withLatch(reply: { _, _ in .garbage }) { h in
            let answer = try await h.get(cookie: "JSESSIONID=A.tomcat1")
            #expect(answer.status == .badGateway)
        }
    }

    @Test("a node closing without answering gives 502")
    func closedWithoutAnswer() async throws {
        try await withLatch(reply: { _, _ in .close }) { h in
            let answer = try await h.get(cookie: "JSESSIONID=A.tomcat1")
            #expect(answer.status == .badGateway)
        }
    }

    @Test("a node that never answers gives 504 after upstream_response")
    func upstreamTimeout() async throws {
        try await withLatch(configure: { $0.timeouts.upstreamResponse = .milliseconds(300) }, reply: { _, _ in .hang }) { h in
            let clock = ContinuousClock()
            let start = clock.now
            let answer = try await h.get(cookie: "JSESSIONID=A.tomcat3")
            #expect(answer.status == .gatewayTimeout)
            #expect(answer.body.hasPrefix("504 Gateway Timeout"))
            #expect(clock.now - start < .seconds(10))
        }
    }

    @Test("a pooled connection the node closed while idle is replaced without the client noticing")
    func staleKeepAliveConnection() async throws {
        try await withLatch { h in
            #expect(try await h.get(cookie: "JSESSIONID=A.tomcat1").status == .ok)
            // Kill the node's side of every kept-alive connection, as a node's keep-alive timeout would.
            await h.backend("tomcat1").closeAcceptedConnections()
            // Time for the hang-up to reach Latch's pooled connection: nothing Latch exposes tells when it has.
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await h.get(cookie: "JSESSIONID=A.tomcat1").status == .ok)
            #expect(h.backend("tomcat1").accepted == 2)
        }
    }

    @Test("a request body that stops arriving for `idle` gets 408, and the node connection is dropped")
    func stalledRequestBody() async throws {
        try await withLatch(configure: { $0.timeouts.idle = .milliseconds(300) }, reply: { _, _ in .echoBodyChecksum }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("POST /upload HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\nContent-Length: 10\r\n\r\nabc")
            let text = try await client.wait { _, closed in closed }
            #expect(text.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
            #expect(text.lowercased().contains("connection: close"))
            #expect(h.backend("tomcat1").requests.isEmpty, "the node never saw a complete request")
            #expect(h.server.activeRequests(cluster: 0) == [0, 0, 0])
        }
    }

    @Test("a pipelined request served slower than `idle` is not cut by the keep-alive timer")
    func slowPipelinedRequest() async throws {
        try await withLatch(configure: { $0.timeouts.idle = .milliseconds(200) }, reply: { _, head in
            head.uri == "/slow" ? .delayed(.milliseconds(600), body: "slow") : .text(body: "fast")
        }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send(
                "GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\n\r\n"
            )
            let text = try await client.wait { text, closed in text.hasSuffix("slow") || closed }
            await client.close()
            #expect(text.hasSuffix("\r\n\r\nslow"))
            #expect(text.count(of: "HTTP/1.1 200 OK") == 2)
        }
    }

    @Test("a client slower than request_head gets 408 and is closed")
    func requestHeadTimeout() async throws {
        try await withLatch(configure: { $0.timeouts.requestHead = .milliseconds(300) }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            // …and never the blank line. On a loaded machine the 300 ms may pass before this is written.
            try? await client.send("GET / HTTP/1.1\r\nHost: x\r\n")
            let text = try await client.wait { _, closed in closed }
            #expect(text.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
            #expect(h.backends.allSatisfy { $0.requests.isEmpty })
        }
    }
}
