import LatchCore
import NIOCore
import Testing

@Suite("Decision reasons and counters", .timeLimit(.minutes(1)))
struct VisibilityLiveTests {
    @Test("requests are counted per node and reason; retries, failures and ejections too; the node header names the node")
    func counters() async throws {
        try await withLatch(configure: { config in
            FailoverLiveTests.configure(&config)
            config.clusters[0].health = nil
            for i in 0..<3 { config.clusters[0].nodes[i].health = nil }  // passive detection only: deterministic
            // Out for the whole test: with FailoverLiveTests' 300 ms a loaded machine could re-admit the
            // dead node between two requests, and the next one would find it dead again.
            config.clusters[0].passive.ejectFor = .seconds(30)
        }) { h in
            for _ in 0..<6 { _ = try await h.get(cookie: "JSESSIONID=A.tomcat1") }
            for _ in 0..<3 { _ = try await h.get() }
            await h.backend("tomcat2").close()
            for _ in 0..<4 {
                let answer = try await h.get(cookie: "JSESSIONID=B.tomcat2")
                #expect(answer.node == "tomcat3")
                #expect(answer.headers.first(name: "X-Latch-Node") == "tomcat3")
            }
            let stats = h.server.stats(cluster: 0)
            #expect(stats.nodes[0].requests == [.sticky: 6, .newSession: 1])
            #expect(stats.nodes[1].requests == [.newSession: 1])
            #expect(stats.nodes[2].requests == [.newSession: 1, .failoverReplica: 4])
            #expect(stats.nodes[1].retriedAway == 1, "the first request found the node dead and moved on")
            #expect(stats.nodes[1].ejections == 1)
            #expect(stats.nodes[1].failures == 1)
            #expect(stats.nodes.map(\.failures) == [0, 1, 0])
            #expect(stats.unserved.isEmpty)
        }
    }
}
