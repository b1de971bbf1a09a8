import LatchCore
import NIOCore
import NIOPosix
import Testing

/// The deadlines of `timeouts:` that no other suite pins down: a head trickled in byte by byte, a
/// keep-alive connection left idle, a node whose connect never completes. (Stalled bodies and readers
/// are in StallLiveTests and UpstreamFailureLiveTests; the queue's deadline in QueueLiveTests.)
@Suite("Deadlines through a live Latch", .timeLimit(.minutes(1)))
struct DeadlinesLiveTests {
    @Test("a head trickled a byte at a time gets 408 at request_head, although bytes keep coming (slowloris)")
    func slowloris() async throws {
        try await withLatch(configure: { $0.timeouts.requestHead = .milliseconds(500) }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            let head = "GET / HTTP/1.1\r\nHost: x\r\nX-Padding: " + String(repeating: "p", count: 200)
            let started = ContinuousClock.now
            for byte in head.utf8 {
                if client.isClosed { break }
                try? await client.send(String(UnicodeScalar(byte)))
                try await Task.sleep(for: .milliseconds(20))
            }
            let text = try await client.wait { _, closed in closed }
            await client.close()
            #expect(text.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
            #expect(started.duration(to: .now) < .seconds(4), "the 201-byte trickle would take 4 s; the deadline cut it")
            #expect(h.backends.allSatisfy { $0.accepted == 0 })
        }
    }

    @Test("a keep-alive connection with no next request for idle is closed without a response")
    func keepAliveIdle() async throws {
        try await withLatch(configure: { $0.timeouts.idle = .milliseconds(300) }) { h in
            let text = try await h.exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(text.components(separatedBy: "HTTP/1.1").count == 2, "nothing after the response: \(text)")
        }
    }

    @Test("a node whose connect never completes gets 504 after timeouts.connect; other nodes keep serving")
    func connectTimeout() async throws {
        // A listener that never accepts, with its backlog filled: the kernel drops further SYNs, so a
        // connect to it hangs as one to a dead host would — on loopback.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let blackhole = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 0)
            .serverChannelOption(.autoRead, value: false)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = blackhole.localAddress!.port!
        var fillers: [any Channel] = []
        for _ in 0..<4 {
            if let channel = try? await ClientBootstrap(group: group).connectTimeout(.milliseconds(200))
                .connect(host: "127.0.0.1", port: port).get() {
                fillers.append(channel)
            }
        }
        try await withLatch(configure: { config in
            config.timeouts.connect = .milliseconds(300)
            config.clusters[0].failover.retries = 0
            config.clusters[0].passive.failures = 0
            config.clusters[0].nodes[0].address = HostPort(host: "127.0.0.1", port: port)
        }) { h in
            let text = try await h.exchange("GET / HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\nConnection: close\r\n\r\n")
            #expect(text.hasPrefix("HTTP/1.1 504 Gateway Timeout\r\n"), "got: \(text.prefix(100))")
            let served = try await h.exchange("GET / HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=B.tomcat2\r\nConnection: close\r\n\r\n")
            #expect(served.hasPrefix("HTTP/1.1 200 OK\r\n"))
        }
        for channel in fillers { try? await channel.close() }
        try await blackhole.close()
        try await group.shutdownGracefully()
    }
}
