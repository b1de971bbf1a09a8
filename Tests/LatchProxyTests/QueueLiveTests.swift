import LatchCore
import NIOCore
import NIOHTTP1
import Testing

/// A cluster's `limits:` through a live Latch: a node at `max_connections` makes requests wait in
/// its queue, first come first served; a full queue or a wait past `queue_timeout` is answered 503;
/// new sessions go to nodes with a free slot.
@Suite("Per-node connection limits and queues", .timeLimit(.minutes(1)))
struct QueueLiveTests {
    /// One request in flight per node; `timeout` well above ``busyFor`` unless a test wants it to pass.
    private static func limited(_ queue: Int, timeout: Duration = .seconds(15)) -> (inout LatchConfig) -> Void {
        { config in
            config.clusters[0].limits = NodeLimitsConfig(maxConnections: 1, maxQueue: queue, queueTimeout: timeout)
            for i in config.clusters[0].nodes.indices { config.clusters[0].nodes[i].maxConnections = 1 }
        }
    }

    /// How long session A's requests keep their node busy: what each test does meanwhile must fit in it,
    /// with room for a loaded machine (2 s proved too short when the suite ran beside a build).
    private static let busyFor: Int64 = 5

    /// Session A's requests take `seconds`; every other request is answered at once.
    private static func slowForA(_ seconds: Int64) -> @Sendable (String, HTTPRequestHead) -> BackendReply {
        { _, head in
            head.headers["cookie"].contains { $0.contains("JSESSIONID=A.") }
                ? .delayed(.seconds(seconds), body: "slow") : .text(body: "fast")
        }
    }

    @Test("a session's busy node queues its requests and serves them in turn; beyond max_queue: 503")
    func stickyRequestsWait() async throws {
        try await withLatch(configure: Self.limited(1), reply: Self.slowForA(Self.busyFor)) { h in
            async let first = h.get(cookie: "JSESSIONID=A.tomcat1")
            #expect(try await eventually { h.server.activeRequests(cluster: 0)[0] == 1 })
            async let second = h.get(cookie: "JSESSIONID=B.tomcat1")
            #expect(try await eventually { h.server.queuedRequests(cluster: 0)[0] == 1 })
            let third = try await h.get(cookie: "JSESSIONID=C.tomcat1")
            #expect(third.status == .serviceUnavailable)
            #expect(third.body.contains("busy"))
            let (a, b) = try await (first, second)
            #expect(a.status == .ok && a.node == "tomcat1")
            #expect(b.status == .ok && b.node == "tomcat1", "the queued request waited for its own node")
            #expect(h.server.stats(cluster: 0).nodes[0].queueFull == 1)
            #expect(h.server.activeRequests(cluster: 0) == [0, 0, 0])
            #expect(h.server.queuedRequests(cluster: 0) == [0, 0, 0])
            #expect(h.backend("tomcat1").requests.count == 2)
        }
    }

    @Test("a request that waits longer than queue_timeout gets 503 and never reaches the node")
    func queueTimeout() async throws {
        try await withLatch(
            configure: Self.limited(5, timeout: .milliseconds(200)),
            reply: Self.slowForA(3)
        ) { h in
            async let first = h.get(cookie: "JSESSIONID=A.tomcat2")
            #expect(try await eventually { h.server.activeRequests(cluster: 0)[1] == 1 })
            let waited = try await h.get(cookie: "JSESSIONID=B.tomcat2")
            #expect(waited.status == .serviceUnavailable)
            #expect(waited.body.contains("busy"))
            #expect(try await first.status == .ok)
            #expect(h.server.stats(cluster: 0).nodes[1].queueTimeouts == 1)
            #expect(h.backend("tomcat2").requests.count == 1)
            #expect(h.server.activeRequests(cluster: 0) == [0, 0, 0])
        }
    }

    @Test("new sessions go to nodes with a free slot instead of queueing behind a busy one")
    func newSessionsAvoidBusyNodes() async throws {
        try await withLatch(configure: Self.limited(5), reply: Self.slowForA(Self.busyFor)) { h in
            async let busy = h.get(cookie: "JSESSIONID=A.tomcat1")
            #expect(try await eventually { h.server.activeRequests(cluster: 0)[0] == 1 })
            var servedBy: [String] = []
            for _ in 0..<6 {
                let answer = try await h.get()
                #expect(answer.status == .ok)
                servedBy.append(answer.node ?? "?")
            }
            #expect(!servedBy.contains("tomcat1"), "got \(servedBy)")
            #expect(Set(servedBy) == ["tomcat2", "tomcat3"])
            #expect(try await busy.status == .ok)
        }
    }

    @Test("a queued client that leaves gives up its place; the slot is not lost")
    func leavingTheQueue() async throws {
        try await withLatch(configure: Self.limited(5), reply: Self.slowForA(Self.busyFor)) { h in
            async let first = h.get(cookie: "JSESSIONID=A.tomcat3")
            #expect(try await eventually { h.server.activeRequests(cluster: 0)[2] == 1 })
            let leaver = try await RawClient.connect(port: h.port, group: h.group)
            try await leaver.send("GET / HTTP/1.1\r\nHost: a\r\nCookie: JSESSIONID=L.tomcat3\r\n\r\n")
            #expect(try await eventually { h.server.queuedRequests(cluster: 0)[2] == 1 })
            await leaver.close()
            #expect(try await eventually { h.server.queuedRequests(cluster: 0)[2] == 0 })
            #expect(try await first.status == .ok)
            #expect(try await eventually { h.server.activeRequests(cluster: 0) == [0, 0, 0] })
            // The node still takes requests: its one slot came back.
            let after = try await h.get(cookie: "JSESSIONID=Z.tomcat3")
            #expect(after.status == .ok && after.node == "tomcat3")
        }
    }
}
