import LatchCore
import NIOCore
import Testing

@Suite("Upstream keep-alive pool", .timeLimit(.minutes(1)))
struct PoolLiveTests {
    /// A GET in a session on tomcat1, expected to succeed.
    private func get(_ h: LatchHarness) async throws {
        #expect(try await h.get(cookie: "JSESSIONID=P.tomcat1").status == .ok)
    }

    @Test("an idle pooled connection is closed after pool.idle_timeout, and the next request opens a new one")
    func idleConnectionsAreClosed() async throws {
        // Reuse while fresh is covered by StickyRoutingLiveTests; timing it here would make the test
        // depend on how loaded the machine is.
        try await withLatch(configure: { $0.pool.idleTimeout = .milliseconds(200) }) { h in
            try await get(h)
            #expect(h.backend("tomcat1").accepted == 1)
            try await Task.sleep(for: .seconds(1))  // well past the 200 ms idle_timeout
            try await get(h)
            #expect(h.backend("tomcat1").accepted == 2, "closed after idling, so a new one was opened")
        }
    }

    @Test("each idle connection gets its own idle_timeout: the one reused meanwhile outlives the other")
    func idleTimeoutIsPerConnection() async throws {
        try await withLatch(
            threads: 1,
            // 4 s, reused after 2: the second connection outlives the first by 2 s, room for a loaded machine.
            configure: { $0.pool.idleTimeout = .seconds(4) },
            reply: { _, head in head.uri == "/slow" ? .delayed(.milliseconds(100), body: "x") : .text(body: "y") }
        ) { h in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<2 {
                    group.addTask { _ = try await h.get("/slow", cookie: "JSESSIONID=P.tomcat1") }
                }
                try await group.waitForAll()
            }
            #expect(h.backend("tomcat1").accepted == 2)
            try await Task.sleep(for: .seconds(2))  // half of idle_timeout: both are still pooled
            try await get(h)  // reuses one of the two: its idle time starts again
            #expect(
                try await eventually(within: .seconds(8)) { h.backend("tomcat1").openConnections == 1 },
                "the connection idle since the burst was closed"
            )
            try await get(h)
            #expect(h.backend("tomcat1").accepted == 2, "the one reused two seconds later was still pooled")
        }
    }

    @Test("pool.max_idle_per_node bounds what is kept: 0 keeps nothing")
    func poolIsBounded() async throws {
        try await withLatch(configure: { $0.pool.maxIdlePerNode = 0 }) { h in
            for _ in 0..<5 { try await get(h) }
            #expect(h.backend("tomcat1").accepted == 5)
        }
    }

    @Test("concurrent requests to one node open as many connections as are in flight, then reuse them")
    func concurrentRequestsShareThePool() async throws {
        try await withLatch(threads: 1, configure: { $0.pool.maxIdlePerNode = 4 }, reply: { _, _ in .delayed(.milliseconds(100), body: "x") }) { h in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { try await get(h) } }
                try await group.waitForAll()
            }
            let afterBurst = h.backend("tomcat1").accepted
            #expect(afterBurst == 4)
            for _ in 0..<4 { try await get(h) }
            #expect(h.backend("tomcat1").accepted == afterBurst, "the four idle connections were reused")
        }
    }
}
