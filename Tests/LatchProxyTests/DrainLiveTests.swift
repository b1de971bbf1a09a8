import AsyncHTTPClient
import LatchCore
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@Suite("Drain that knows when it is done", .timeLimit(.minutes(1)))
struct DrainLiveTests {
    @Test("sessions are counted per node: distinct ids, each counted once however many requests it makes")
    func sessionCounting() async throws {
        try await withLatch { h in
            for round in 0..<3 {
                for s in 0..<50 { _ = try await h.get(cookie: "JSESSIONID=S\(s).tomcat1") }
                for s in 0..<20 where round < 2 { _ = try await h.get(cookie: "JSESSIONID=T\(s).tomcat2") }
            }
            _ = try await h.get(cookie: "JSESSIONID=UNKNOWN.tomcat9")  // balanced, not an existing session of anyone
            let counts = h.server.sessions(cluster: 0).map(\.count)
            #expect(counts == [50, 20, 0])
            #expect(h.server.sessions(cluster: 0)[0].lastSeen != nil)
            #expect(h.server.sessions(cluster: 0)[2].lastSeen == nil)
        }
    }

    @Test("a draining node moves itself to maintenance once no session is left")
    func maintenanceWhenEmpty() async throws {
        try await withLatch(configure: { config in
            // 2 s, ten times the gap between the session's requests below: with 600 ms, a loaded CI
            // machine once let a gap grow past it, and the node went to maintenance mid-loop.
            config.clusters[0].drain = DrainConfig(sessionIdle: .seconds(2), maintenanceWhenEmpty: true)
            config.clusters[0].nodes[0].replicas = ["tomcat2"]
        }) { h in
            _ = try await h.get(cookie: "JSESSIONID=A.tomcat1")
            h.server.setNodeState(cluster: "shop", node: "tomcat1", .draining)
            // While its session keeps coming, it stays draining and keeps serving it.
            for _ in 0..<5 {
                #expect(try await h.get(cookie: "JSESSIONID=A.tomcat1").node == "tomcat1")
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(h.server.nodeStates(cluster: 0)[0] == .draining)
            // The session goes quiet: after session_idle (plus a bucket and a tick) the node is done.
            let done = try await eventually { h.server.nodeStates(cluster: 0)[0] == .maintenance }
            #expect(done)
            #expect(try await h.get(cookie: "JSESSIONID=A.tomcat1").node == "tomcat2", "in maintenance its sessions fail over")
        }
    }

    @Test("a draining node with a deadline moves to maintenance at the deadline, sessions or not")
    func deadline() async throws {
        try await withLatch(configure: { config in
            config.clusters[0].drain = DrainConfig(sessionIdle: .seconds(600), maintenanceWhenEmpty: true, deadline: .milliseconds(500))
        }) { h in
            _ = try await h.get(cookie: "JSESSIONID=A.tomcat3")
            h.server.setNodeState(cluster: "shop", node: "tomcat3", .draining)
            #expect(h.server.sessions(cluster: 0)[2].count == 1)
            let done = try await eventually { h.server.nodeStates(cluster: 0)[2] == .maintenance }
            #expect(done)
        }
    }
}

/// Sessions a node issues in `Set-Cookie` count for drain from the response that issues them.
@Suite("Drain counts the sessions nodes issue", .timeLimit(.minutes(1)))
struct IssuedSessionDrainLiveTests {
    /// A node that issues `JSESSIONID=<n>.<node>` to a request without one, as Tomcat does on the first
    /// request that creates a session; `/login` changes the id, `/logout` deletes the cookie.
    static func node(_ name: String, _ head: HTTPRequestHead) -> BackendReply {
        let cookie = head.headers.first(name: "cookie")
        let path = head.uri
        if path == "/logout" {
            return .text(headers: [("Set-Cookie", "JSESSIONID=; Path=/; Max-Age=0"), ("Set-Cookie", "theme=dark")], body: "bye")
        }
        if path == "/logout-expires" {
            return .text(headers: [("Set-Cookie", "JSESSIONID=\"OLD.\(name)\"; Expires=Thu, 01-Jan-1970 00:00:10 GMT")], body: "bye")
        }
        if path == "/login" {
            return .text(headers: [("Set-Cookie", "theme=light"), ("Set-Cookie", "JSESSIONID=NEW.\(name); Path=/; HttpOnly")], body: "in")
        }
        guard cookie == nil else { return .text(body: "again") }
        return .text(headers: [("Set-Cookie", "JSESSIONID=FIRST-\(UUID().uuidString).\(name); Path=/; HttpOnly")], body: "new")
    }

    @Test("a session issued on the first response keeps a node just put to drain: counted, draining, sticky")
    func firstResponseCounts() async throws {
        try await withLatch(configure: { config in
            config.clusters[0].drain = DrainConfig(sessionIdle: .seconds(2), maintenanceWhenEmpty: true)
        }, reply: Self.node) { h in
            // Past one watch of session_idle (and a bucket): from here an empty count ends a drain.
            try await Task.sleep(for: .milliseconds(2200))
            let first = try await h.get()
            let node = try #require(first.node)
            let cookie = try #require(first.sessionCookie)
            let index = try #require(["tomcat1", "tomcat2", "tomcat3"].firstIndex(of: node))
            h.server.setNodeState(cluster: "shop", node: node, .draining)
            #expect(h.server.sessions(cluster: 0)[index].count == 1, "the session the node just issued")
            // The drain watcher looks every second: had the session not counted, it would end the drain.
            try await Task.sleep(for: .milliseconds(1100))
            #expect(h.server.nodeStates(cluster: 0)[index] == .draining)
            let next = try await h.get(cookie: cookie)
            #expect(next.node == node)
            #expect(h.server.stats(cluster: 0).nodes[index].requests[.sticky] == 1)
            #expect(h.server.nodeStates(cluster: 0)[index] == .draining)
        }
    }

    @Test("a changed id counts for the node its route names; a deleted cookie is forgotten at once")
    func changedAndDeletedIDs() async throws {
        try await withLatch(reply: Self.node) { h in
            _ = try await h.get("/login", cookie: "JSESSIONID=OLD.tomcat2")
            #expect(h.server.sessions(cluster: 0).map(\.count) == [0, 2, 0], "OLD as requested, NEW as issued")
            _ = try await h.get("/logout", cookie: "JSESSIONID=NEW.tomcat2")
            #expect(h.server.sessions(cluster: 0).map(\.count) == [0, 1, 0], "NEW ended by its deletion")
            _ = try await h.get("/logout-expires", cookie: "JSESSIONID=OLD.tomcat2")
            #expect(h.server.sessions(cluster: 0).map(\.count) == [0, 0, 0], "an Expires in the past deletes too")
        }
    }

    @Test("failback stay keeps a session learned from Set-Cookie on the node that took it over")
    func stayWithALearnedSession() async throws {
        try await withLatch(configure: { config in
            config.clusters[0].failover.failback = .stay
            config.clusters[0].nodes[0].replicas = ["tomcat2"]
            config.clusters[0].nodes[1].replicas = ["tomcat3"]
            config.clusters[0].nodes[2].replicas = ["tomcat1"]
        }, reply: Self.node) { h in
            let first = try await h.get()
            let node = try #require(first.node)
            let cookie = try #require(first.sessionCookie)
            let replica = ["tomcat1": "tomcat2", "tomcat2": "tomcat3", "tomcat3": "tomcat1"][node]!
            h.server.setNodeState(cluster: "shop", node: node, .maintenance)
            let failedOver = try await h.get(cookie: cookie)
            #expect(failedOver.node == replica)
            let owner = try #require(failedOver.headers["set-cookie"].first { $0.hasPrefix("LATCH_NODE=\(replica)~") })
            #expect(!owner.contains("Secure"), "plain HTTP: a Secure cookie would not come back")
            let replicaIndex = ["tomcat1", "tomcat2", "tomcat3"].firstIndex(of: replica)!
            #expect(h.server.sessions(cluster: 0)[replicaIndex].count == 1, "counted where it is served now")
            h.server.setNodeState(cluster: "shop", node: node, .active)
            let stayed = try await h.get(cookie: "\(cookie); \(owner.prefix { $0 != ";" })")
            #expect(stayed.node == replica, "the session stays where its state now is")
        }
    }
}
