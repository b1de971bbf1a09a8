import AsyncHTTPClient
import LatchCore
import NIOCore
import NIOHTTP1
import Testing

/// Peers that stop moving: nothing may hold connections forever, and the right side gets the blame.
@Suite("Stalled clients and nodes", .timeLimit(.minutes(1)))
struct StallLiveTests {
    /// Whether the cluster comes to have no request in flight within 15 s.
    private func waitUntilIdle(_ h: LatchHarness) async throws -> Bool {
        try await eventually(within: .seconds(15)) { h.server.activeRequests(cluster: 0).allSatisfy { $0 == 0 } }
    }

    @Test("a client that stops reading a large response is disconnected after upstream_response")
    func clientStopsReading() async throws {
        try await withLatch(
            configure: { $0.timeouts.upstreamResponse = .milliseconds(400) },
            reply: { _, _ in .download(bytes: 64 * 1024 * 1024, chunked: false) }
        ) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            // Stop before asking: the kernel's buffers take the first bytes, then nothing moves. (Reading
            // the head first could, on a loaded machine, let the whole 64 MiB through before stopping.)
            try await client.stopReading()
            try await client.send("GET /big HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\n\r\n")
            let idle = try await waitUntilIdle(h)
            #expect(idle, "the exchange ended although the client never read again")
            await client.close()
        }
    }

    @Test("a node that stops reading an upload gets the exchange failed after upstream_response")
    func nodeStopsReading() async throws {
        try await withLatch(
            configure: { $0.timeouts.upstreamResponse = .milliseconds(400) },
            reply: { _, _ in .stopReadingAfterHead }
        ) { h in
            var request = HTTPClientRequest(url: h.baseURL + "/upload")
            request.method = .PUT
            request.headers.add(name: "Cookie", value: "JSESSIONID=U.tomcat2")
            request.body = .stream(PatternBody(total: 64 * 1024 * 1024), length: .known(Int64(64 * 1024 * 1024)))
            // The client either gets Latch's 504 or sees the connection closed mid-upload; both end the wait.
            let status = try? await h.client.execute(request, timeout: .seconds(20)).status
            #expect(status == nil || status == .gatewayTimeout)
            let idle = try await waitUntilIdle(h)
            #expect(idle)
        }
    }

    @Test("an upgrade request is answered and the connection then closed; CONNECT gets 501")
    func upgradeAndConnect() async throws {
        try await withLatch { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send(
                "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
            )
            let text = try await client.wait { _, closed in closed }
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(text.lowercased().contains("connection: close"))
            #expect(h.backends.flatMap(\.requests).first?.head.headers["upgrade"] == [])

            let connect = try await RawClient.connect(port: h.port, group: h.group)
            try await connect.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
            let answer = try await connect.wait { _, closed in closed }
            #expect(answer.hasPrefix("HTTP/1.1 501 Not Implemented\r\n"))
            #expect(h.backends.flatMap(\.requests).count == 1, "CONNECT never reaches a node")
        }
    }

    @Test("requests pipelined behind a response that closes the connection are not served")
    func nothingAfterClose() async throws {
        try await withLatch(reply: { _, _ in .download(bytes: 100, chunked: true) }) { h in
            // An HTTP/1.0 keep-alive client cannot be sent a body of unknown length except by closing,
            // so Latch answers `Connection: close`; the request pipelined behind must not reach a node.
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send(
                "GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nPOST /2 HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
            )
            let text = try await client.wait { _, closed in closed }
            #expect(text.hasPrefix("HTTP/1.0 200 OK\r\n"))
            #expect(text.lowercased().contains("connection: close"))
            #expect(text.count(of: "HTTP/1.") == 1, "\(text)")
            #expect(h.backends.flatMap(\.requests).map(\.head.uri) == ["/1"])
        }
    }
}
