import LatchCore
import NIOHTTP1
import Testing

@testable import LatchProxy

/// `slow_start`: a node back from maintenance gets a small, rising share of new sessions; its own
/// sessions are never held back; nodes Latch starts with are not slowed.
@Suite("Slow start of a node that comes back", .timeLimit(.minutes(1)))
struct SlowStartLiveTests {
    /// New sessions (no cookie) per node, in node order.
    private func balance(_ h: LatchHarness, _ count: Int) async throws -> [Int] {
        var counts = [0, 0]
        for _ in 0..<count {
            let node = try await h.get().node
            if node == "tomcat1" { counts[0] += 1 } else if node == "tomcat2" { counts[1] += 1 }
        }
        return counts
    }

    @Test("back from maintenance: about a tenth of the new sessions at first, an even share once the ramp is over")
    func rampsUp() async throws {
        try await withLatch(nodes: ["tomcat1", "tomcat2"], configure: { config in
            // Long enough that a busy machine (CI runs suites side by side) cannot let the ramp end
            // while the 22 requests below are still going, short enough to wait for its end.
            config.clusters[0].slowStart = .seconds(6)
            for i in config.clusters[0].nodes.indices { config.clusters[0].nodes[i].slowStart = .seconds(6) }
        }) { h in
            let cluster = h.server.runtime.clusters[0]
            let atStart = try await balance(h, 20)
            #expect(atStart == [10, 10], "no slow start for the nodes Latch starts with")
            #expect(cluster.slowStartShares() == [nil, nil])

            h.server.setNodeState(cluster: "shop", node: "tomcat2", .maintenance)
            h.server.setNodeState(cluster: "shop", node: "tomcat2", .active)
            let share = try #require(cluster.slowStartShares()[1])
            #expect(share >= SlowStart<ContinuousClock.Instant>.initialShare && share < Balancer.fullShare)
            let ramping = try await balance(h, 22)
            #expect(ramping[1] >= 1 && ramping[1] <= 6, "tomcat2 just back: \(ramping)")
            let status = String(decoding: StatusDocument.make(h.server.runtime.clusters).json(), as: UTF8.self)
            #expect(status.contains("\"slow_start_weight_percent\" : "))
            for _ in 0..<5 {
                #expect(try await h.get(cookie: "JSESSIONID=S.tomcat2").node == "tomcat2", "sessions are never held back")
            }

            #expect(try await eventually(within: .seconds(10)) { cluster.slowStartShares()[1] == nil })
            let after = try await balance(h, 20)
            #expect(abs(after[0] - after[1]) <= 2, "whole weight again: \(after)")
        }
    }

    @Test("a node added by a reload ramps up; the node kept keeps its whole weight")
    func addedByAReload() async throws {
        try await withLatch(nodes: ["tomcat1", "tomcat2"], configure: { config in
            config.clusters[0].slowStart = .seconds(30)
            config.clusters[0].nodes.removeLast()
            config.clusters[0].nodes[0].slowStart = .seconds(30)
        }) { h in
            var config = h.server.config
            config.clusters[0].nodes.append(
                NodeConfig(name: "tomcat2", address: .init(host: "127.0.0.1", port: h.backend("tomcat2").port), slowStart: .seconds(30)))
            _ = try await h.server.reload(config)
            let counts = try await balance(h, 22)
            #expect(counts[1] >= 1 && counts[1] <= 4, "the new node: \(counts)")
            #expect(h.server.runtime.clusters[0].slowStartShares()[0] == nil)
            #expect(h.server.runtime.clusters[0].slowStartShares()[1] != nil)
        }
    }
}
