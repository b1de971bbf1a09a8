import LatchCore
import NIOCore
import NIOPosix
import Testing

@testable import LatchProxy

/// `limits:` through a live Latch: each limit answered with its own status, the connection closed,
/// and nothing of the refused request reaching a node.
@Suite("Request and connection limits through a live Latch", .timeLimit(.minutes(1)))
struct LimitsLiveTests {
    private static func small(_ config: inout LatchConfig) {
        config.limits = LimitsConfig(maxRequestHead: 2048, maxHeaders: 20, maxURILength: 512, maxBody: 1000)
    }

    @Test(
        "a head over max_request_head or max_headers gets 431, a long target 414, an announced large body 413",
        arguments: [
            ("GET / HTTP/1.1\r\nHost: a\r\nCookie: " + String(repeating: "c", count: 3000) + "\r\n\r\n", "431 Request Header Fields Too Large"),
            ("GET / HTTP/1.1\r\nHost: a\r\n" + (0..<25).map { "X-H\($0): v\r\n" }.joined() + "\r\n", "431 Request Header Fields Too Large"),
            ("GET /" + String(repeating: "p", count: 600) + " HTTP/1.1\r\nHost: a\r\n\r\n", "414 URI Too Long"),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", "413 Payload Too Large"),
        ]
    )
    func refusedBeforeAnyNode(raw: String, status: String) async throws {
        try await withLatch(configure: Self.small) { h in
            let text = try await h.exchange(raw)
            #expect(text.hasPrefix("HTTP/1.1 \(status)\r\n"), "got: \(text.prefix(200))")
            #expect(text.lowercased().contains("connection: close"))
            #expect(h.backends.allSatisfy { $0.accepted == 0 }, "no node may see a refused request")
        }
    }

    @Test("bytes sent behind an upgrade request its node has not answered are held up to a head's room, then the client is closed")
    func bytesBehindAnUpgradeAreCapped() async throws {
        try await withLatch(
            nodes: ["tomcat1"], raw: ["tomcat1"], script: { _, _ in [.hang] },
            configure: {
                $0.limits.maxRequestHead = 1024
                // Without the cap the node's silence would end this exchange with a 504 instead.
                $0.timeouts.upstreamResponse = .seconds(20)
            }
        ) { h in
            let upgrade = "GET /ws HTTP/1.1\r\nHost: a\r\nCookie: JSESSIONID=S.tomcat1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
            let started = ContinuousClock.now
            let answer = try await h.untilClosed(upgrade + String(repeating: "x", count: 8192))
            #expect(answer.isEmpty, "closed without an answer: \(answer.prefix(80))")
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    @Test("the limits themselves are allowed: a head, target and body exactly at their limits are served")
    func atTheLimits() async throws {
        try await withLatch(configure: Self.small) { h in
            let target = "/" + String(repeating: "p", count: 511)
            let body = String(repeating: "b", count: 1000)
            let text = try await h.exchange(
                "POST \(target) HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n\(body)"
            )
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"), "got: \(text.prefix(200))")
            #expect(h.backends.flatMap(\.requests).map(\.bodyBytes) == [1000])
        }
    }

    @Test("a client that keeps sending a refused body still reads its 413: Latch drains before closing")
    func lingeringClose() async throws {
        try await withLatch(configure: Self.small) { h in
            // An uploader that reads only once it has sent its whole body (curl, a browser form):
            // had Latch closed at once, its unread body would make the kernel answer the rest of the
            // upload with a reset, and the client would report a network error, not the 413.
            let client = try await RawClient.connect(port: h.port, group: h.group, halfClosure: true)
            try await client.stopReading()
            let size = 1000 * 1024
            try await client.send("PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: \(size)\r\n\r\n")
            let chunk = String(repeating: "x", count: 16 * 1024)
            var sendFailures = 0
            for _ in 0..<(size / chunk.utf8.count) {
                do { try await client.send(chunk) } catch { sendFailures += 1 }
            }
            #expect(sendFailures == 0, "Latch reset the connection while the body was still coming")
            try await Task.sleep(for: .milliseconds(200))  // Latch answers while the client still does not read
            try await client.resumeReading()
            let text = try await client.wait { _, closed in closed }
            await client.close()
            #expect(text.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"), "got: \(text.prefix(100))")
            #expect(h.backends.allSatisfy { $0.accepted == 0 })
        }
    }

    @Test("a client still sending a head far over the limit reads its 431: the parser's refusal lingers too")
    func lingeringAfterAParseError() async throws {
        try await withLatch { h in
            let client = try await RawClient.connect(port: h.port, group: h.group, halfClosure: true)
            try await client.stopReading()
            try await client.send("GET / HTTP/1.1\r\nHost: a\r\n")
            let line = "X-Filler: " + String(repeating: "f", count: 16 * 1024 - 12) + "\r\n"
            var sendFailures = 0
            for _ in 0..<13 {  // about 200 KiB, over the default 32 KiB head
                do { try await client.send(line) } catch { sendFailures += 1 }
            }
            #expect(sendFailures == 0, "Latch reset the connection while the head was still coming")
            try await Task.sleep(for: .milliseconds(200))  // Latch answers while the client still does not read
            try await client.resumeReading()
            let text = try await client.wait { _, closed in closed }
            await client.close()
            #expect(text.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "got: \(text.prefix(100))")
            #expect(client.error == nil, "the answer must not be destroyed by a reset: \(client.error ?? "")")
        }
    }

    @Test("a chunked body that outgrows max_body is cut off: 413 to the client, the node's connection closed")
    func chunkedOverLimit() async throws {
        try await withLatch(configure: Self.small, reply: { _, _ in .echoBodyChecksum }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("POST /up HTTP/1.1\r\nHost: a\r\nCookie: JSESSIONID=X.tomcat1\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in 0..<3 { try await client.send("190\r\n" + String(repeating: "z", count: 400) + "\r\n") }
            let text = try await client.wait { _, closed in closed }
            await client.close()
            #expect(text.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"), "got: \(text.prefix(200))")
            #expect(h.backend("tomcat1").requests.isEmpty, "the node never got a complete request")
        }
    }

    @Test("a malformed chunk in a body already being forwarded gets 400 and the node never sees a whole request")
    func badChunkMidBody() async throws {
        try await withLatch(reply: { _, _ in .echoBodyChecksum }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("POST /up HTTP/1.1\r\nHost: a\r\nCookie: JSESSIONID=X.tomcat1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            try await Task.sleep(for: .milliseconds(100))  // the first chunk is forwarded before the bad one comes
            try await client.send("zz\r\nbad\r\n0\r\n\r\n")
            let text = try await client.wait { _, closed in closed }
            await client.close()
            #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "got: \(text.prefix(200))")
            #expect(text.contains("an invalid chunk in the request body"))
            #expect(h.backend("tomcat1").requests.isEmpty)
        }
    }

    @Test("bytes after a request with Connection: close get no answer of their own")
    func nothingAfterClose() async throws {
        try await withLatch { h in
            let text = try await h.exchange("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGARBAGE\r\n\r\n")
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(!text.contains("400"), "got: \(text)")
            #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2, "exactly one response")
        }
    }

    @Test("beyond max_client_connections a new connection is answered 503 and closed; a freed slot serves again")
    func clientConnectionCap() async throws {
        try await withLatch(configure: { $0.limits.maxClientConnections = 2 }) { h in
            let first = try await RawClient.connect(port: h.port, group: h.group)
            let second = try await RawClient.connect(port: h.port, group: h.group)
            try await first.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            try await second.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            _ = try await first.wait { text, _ in text.contains("hello") }
            _ = try await second.wait { text, _ in text.contains("hello") }
            let refused = try await h.exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(refused.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "got: \(refused.prefix(200))")
            #expect(refused.lowercased().contains("retry-after: 1"))
            await first.close()
            // The slot frees when Latch sees the close: ask again until it has.
            var served = ""
            _ = try await eventually {
                served = try await h.exchange("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                return served.hasPrefix("HTTP/1.1 200")
            }
            #expect(served.hasPrefix("HTTP/1.1 200 OK\r\n"))
            await second.close()
            let metrics = h.server.metrics.exposition(clusters: h.server.runtime.clusters)
            #expect(metrics.contains("latch_client_connections_refused_total"))
        }
    }

    @Test("a connection refused for capacity while its client uploads still gets its 503, not a reset")
    func capacityRefusalLingers() async throws {
        try await withLatch(configure: { $0.limits.maxClientConnections = 1 }) { h in
            let first = try await RawClient.connect(port: h.port, group: h.group)
            try await first.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            _ = try await first.wait { text, _ in text.contains("hello") }
            // The request and its body in one write, read only afterwards: Latch has answered 503 by the
            // time they arrive, and must drop them rather than reset the connection (its linger is
            // short, 2 s, so the client does nothing slow in between).
            let uploader = try await RawClient.connect(port: h.port, group: h.group, halfClosure: true)
            try await uploader.stopReading()
            var sendFailures = 0
            do {
                try await uploader.send("PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n" + String(repeating: "u", count: 65536))
            } catch { sendFailures += 1 }
            #expect(sendFailures == 0, "Latch reset the refused connection while the client was sending")
            try await uploader.resumeReading()
            let text = try await uploader.wait { _, closed in closed }
            await uploader.close()
            await first.close()
            #expect(text.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "got: \(text.prefix(100))")
            #expect(uploader.error == nil, "the answer must not be destroyed by a reset: \(uploader.error ?? "")")
        }
    }
}
