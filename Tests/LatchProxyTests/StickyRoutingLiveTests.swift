import LatchCore
import NIOCore
import NIOHTTP1
import Testing

@Suite("Sticky routing through a live Latch", .timeLimit(.minutes(2)))
struct StickyRoutingLiveTests {
    @Test("300 requests with routes for three nodes all land on the named node")
    func stickyRequestsLandOnTheirNode() async throws {
        try await withLatch { h in
            let names = ["tomcat1", "tomcat2", "tomcat3"]
            for i in 0..<300 {
                let node = names[i % 3]
                // Mix the three places a route can be: cookie, path parameter, query parameter.
                let answer = switch i % 3 {
                case 0: try await h.get("/cart/\(i)", cookie: "theme=dark; JSESSIONID=\(i)ABCDEF.\(node)")
                case 1: try await h.get("/cart/\(i);jsessionid=\(i)ABCDEF.\(node)")
                default: try await h.get("/cart/\(i)?a=1&jsessionid=\(i)ABCDEF.\(node)")
                }
                #expect(answer.status == .ok)
                #expect(answer.node == node, "request \(i)")
            }
            for name in names {
                #expect(h.backend(name).requests.count == 100, "\(name)")
            }
        }
    }

    @Test("WildFly ranked routes: the first usable owner serves, a later one when it cannot, its replica after both")
    func rankedRoutes() async throws {
        try await withLatch(configure: { config in
            config.clusters[0].session.routes = .ranked
            config.clusters[0].nodes[0].replicas = ["tomcat3"]
        }) { h in
            let id = "JSESSIONID=ABC123.tomcat1.gone.tomcat2"
            var served: [String?] = []
            for down in ["tomcat1", "tomcat2", nil] {
                served.append(try await h.get(cookie: id).node)
                if let down { h.server.setNodeState(cluster: "shop", node: down, .maintenance) }
            }
            #expect(served == ["tomcat1", "tomcat2", "tomcat3"])
            let stats = h.server.stats(cluster: 0)
            #expect(stats.nodes[0].requests == [.sticky: 1])
            #expect(stats.nodes[1].requests == [.failoverRanked: 1])
            #expect(stats.nodes[2].requests == [.failoverReplica: 1])
        }
    }

    @Test("requests without a session are spread by smooth weighted round robin")
    func newSessionsAreBalanced() async throws {
        try await withLatch(configure: { config in
            config.clusters[0].nodes[0].weight = 2
        }) { h in
            var counts: [String: Int] = [:]
            for _ in 0..<40 {
                counts[try await h.get().node ?? "?", default: 0] += 1
            }
            // Weights 2:1:1 over 40 picks, one balancer for the whole process: exactly 20/10/10.
            #expect(counts == ["tomcat1": 20, "tomcat2": 10, "tomcat3": 10])
        }
    }

    @Test("an unknown route is balanced, and a later cookie with a known route wins")
    func unknownRouteFallsBack() async throws {
        try await withLatch { h in
            // Two `Cookie` lines, in this order.
            let answer = try await h.send(.GET, cookie: "JSESSIONID=OLD.tomcat9", headers: ["Cookie": "JSESSIONID=NEW.tomcat3"])
            #expect(answer.node == "tomcat3")
        }
    }

    @Test("keep-alive client connections and pooled upstream connections are reused")
    func connectionsAreReused() async throws {
        try await withLatch { h in
            let names = ["tomcat1", "tomcat2", "tomcat3"]
            for i in 0..<60 {
                let answer = try await h.get(cookie: "JSESSIONID=S.\(names[i % 3])")
                #expect(answer.status == .ok)
            }
            // Sequential requests on one client connection: one upstream connection per node, reused 20 times.
            let accepted = h.backends.map(\.accepted)
            #expect(accepted == [1, 1, 1])
            #expect(await h.server.upstreamConnectionsOpened() == 3)
        }
    }

    @Test("clusters are selected by host and path prefix, first match wins, no match goes to the first cluster")
    func clustersSelectedByMatch() async throws {
        try await withLatch(nodes: ["a1", "b1", "c1"], configure: { config in
            let nodes = config.clusters[0].nodes
            config.clusters = [
                ClusterConfig(name: "admin", match: ClusterMatch(host: "admin.example.com"), nodes: [nodes[1]]),
                ClusterConfig(name: "api", match: ClusterMatch(pathPrefix: "/api/"), nodes: [nodes[2]]),
                ClusterConfig(name: "www", match: ClusterMatch(host: "*.example.org"), nodes: [nodes[0]]),
            ]
        }) { h in
            func node(host: String?, path: String) async throws -> String? {
                try await h.send(.GET, path, headers: host.map { ["Host": $0] } ?? [:]).node
            }
            let admin = try await node(host: "ADMIN.example.com:8080", path: "/x")
            let api = try await node(host: nil, path: "/api/orders")
            let www = try await node(host: "shop.example.org", path: "/apix")
            let other = try await node(host: "other.example.com", path: "/")
            #expect(admin == "b1")
            #expect(api == "c1")
            #expect(www == "a1")
            #expect(other == "b1", "no cluster matches: the first cluster takes it")
        }
    }
}
