import LatchDemo
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// Session replication between demo nodes and the crash switch, over real loopback sockets: what
/// `latch demo` needs to show failover and failback.
@Suite("Demo replication and crash switch", .timeLimit(.minutes(1)))
struct DemoReplicationTests {
    @Test func ringNamesEachNodesReplica() {
        let ring = DemoSessionReplication(ring: ["tomcat1", "tomcat2", "tomcat3"])
        #expect(ring.replica(of: "tomcat1") == "tomcat2")
        #expect(ring.replica(of: "tomcat2") == "tomcat3")
        #expect(ring.replica(of: "tomcat3") == "tomcat1")
        #expect(ring.replica(of: "tomcat4") == nil)
        #expect(DemoSessionReplication(ring: ["solo"]).replica(of: "solo") == nil)
    }

    @Test func replicaServesTheSessionAndTheCountContinues() async throws {
        try await withDemoCluster(["node1", "node2"]) { nodes, group in
            let (node1, node2) = (nodes[0], nodes[1])
            let id = try await newSession(on: node1, group: group)
            for _ in 2...4 { _ = try await DemoTestClient.get("/", cookies: ["JSESSIONID=\(id)"], port: node1.port, group: group) }

            // node1's replica, as after a failover: same id, no new cookie, count goes on.
            let onReplica = try await DemoTestClient.get("/", cookies: ["JSESSIONID=\(id)"], port: node2.port, group: group)
            #expect(onReplica.body == "node=node2 session=\(id) hits=5\n")
            #expect(onReplica.headers["set-cookie"].isEmpty)
            #expect(onReplica.headers["x-demo-node"] == ["node2"])

            // The replica's hit was written back to the owner too.
            let backHome = try await DemoTestClient.get("/", cookies: ["JSESSIONID=\(id)"], port: node1.port, group: group)
            #expect(backHome.body == "node=node1 session=\(id) hits=6\n")
            #expect(node1.sessionCount() == 1 && node2.sessionCount() == 1)
        }
    }

    @Test func copiesGoOnlyToTheOwnersReplicaAroundTheRing() async throws {
        try await withDemoCluster(["node1", "node2", "node3"]) { nodes, group in
            // node3's replica is node1 (the ring wraps); node2 holds no copy of it.
            let id = try await newSession(on: nodes[2], group: group)
            let onReplica = try await DemoTestClient.get("/", cookies: ["JSESSIONID=\(id)"], port: nodes[0].port, group: group)
            #expect(onReplica.body == "node=node1 session=\(id) hits=2\n")

            let elsewhere = try await DemoTestClient.get("/", cookies: ["JSESSIONID=\(id)"], port: nodes[1].port, group: group)
            let fresh = try #require(elsewhere.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:)))
            #expect(fresh.hasSuffix(".node2"))
            #expect(elsewhere.body == "node=node2 session=\(fresh) hits=1\n")
        }
    }

    @Test func aNodeNameJoinsOneReplicationOnlyOnceAtATime() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let replication = DemoSessionReplication(ring: ["node1", "node2"])
        let first = try await DemoAppServer.start(name: "node1", group: group, replication: replication)
        await #expect(throws: DemoAppServerError.nameAlreadyReplicated("node1")) {
            _ = try await DemoAppServer.start(name: "node1", group: group, replication: replication)
        }
        try await first.close()
        let again = try await DemoAppServer.start(name: "node1", group: group, replication: replication)
        try await again.close()
        try await group.shutdownGracefully()
    }

    @Test func crashRefusesConnectionsThenListensAgainEmpty() async throws {
        try await withDemoCluster(["node1"]) { nodes, group in
            let node = nodes[0]
            let id = try await newSession(on: node, group: group)
            let clock = ContinuousClock()
            let (crash, keptAliveClosed) = try await DemoTestClient.withConnection(port: node.port, group: group) { idle in
                _ = try await idle.send(.init(method: .GET, uri: "/health"))
                let crashedAt = clock.now
                let crash = try await DemoTestClient.send(.init(method: .POST, uri: "/demo/crash?seconds=3"), port: node.port, group: group)
                return ((crash, crashedAt), try await idle.waitForServerClose())
            }
            #expect(crash.0.status == .accepted)
            #expect(crash.0.body == "node1 crashed: down for 3 s, then back with no sessions\n")
            #expect(crash.0.headers["connection"] == ["close"])
            #expect(crash.0.headers["x-demo-node"] == ["node1"])
            #expect(keptAliveClosed, "open connections are dropped too")
            #expect(node.sessionCount() == 0)
            // The 202 is sent only once the listener is closed, so the port refuses straight away (3 s
            // of downtime leave room for a loaded machine between the answer and this check).
            #expect(try await !canConnect(port: node.port, group: group))

            let back = try await eventually(within: .seconds(5) - (clock.now - crash.1)) { try await canConnect(port: node.port, group: group) }
            #expect(back, "listening again on port \(node.port) within 5 s")
            #expect(clock.now - crash.1 >= .milliseconds(2900), "down for about the 3 s it was asked")
            #expect(node.sessionCount() == 0)

            let after = try await DemoTestClient.get("/", cookies: ["JSESSIONID=\(id)"], port: node.port, group: group)
            let fresh = try #require(after.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:)))
            #expect(fresh != id)
            #expect(after.body == "node=node1 session=\(fresh) hits=1\n")
        }
    }

    /// The `failback: immediate` story: the session lives on at the replica while its node is down, and
    /// the node, back empty, does not get it back from the replica's later hits.
    @Test func restartedOwnerStartsANewSessionAndSaysSo() async throws {
        try await withDemoCluster(["node1", "node2"]) { nodes, group in
            let (node1, node2) = (nodes[0], nodes[1])
            let id = try await newSession(on: node1, group: group)
            let crash = try await DemoTestClient.send(.init(method: .POST, uri: "/demo/crash?seconds=1"), port: node1.port, group: group)
            #expect(crash.status == .accepted)
            let start = ContinuousClock.now

            let onReplica = try await DemoTestClient.get("/", cookies: ["JSESSIONID=\(id)"], port: node2.port, group: group)
            #expect(onReplica.body == "node=node2 session=\(id) hits=2\n")
            let back = try await eventually(within: .seconds(3) - (ContinuousClock.now - start)) { try await canConnect(port: node1.port, group: group) }
            #expect(back)
            // A hit on the replica after the restart must not hand the session back to node1.
            let again = try await DemoTestClient.get("/", cookies: ["JSESSIONID=\(id)"], port: node2.port, group: group)
            #expect(again.body == "node=node2 session=\(id) hits=3\n")

            let home = try await DemoTestClient.get(
                "/",
                cookies: ["JSESSIONID=\(id)"],
                extraHeaders: [("Accept", "text/html")],
                port: node1.port,
                group: group
            )
            let fresh = try #require(home.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:)))
            #expect(fresh != id && fresh.hasSuffix(".node1"))
            #expect(home.body.contains("New session: the old one was not found on this node."))
        }
    }

    @Test func crashSwitchAcceptsOnlyAPostWithASaneDuration() async throws {
        try await withDemoCluster(["node1"]) { nodes, group in
            let port = nodes[0].port
            let get = try await DemoTestClient.get("/demo/crash", port: port, group: group)
            #expect(get.status == .methodNotAllowed)
            #expect(get.headers["allow"] == ["POST"])
            #expect(get.headers["set-cookie"].isEmpty, "the switch never touches sessions")
            for bad in ["0", "301", "abc", "-5", ""] {
                let response = try await DemoTestClient.send(.init(method: .POST, uri: "/demo/crash?seconds=\(bad)"), port: port, group: group)
                #expect(response.status == .badRequest, "seconds=\(bad)")
            }
            #expect(try await canConnect(port: port, group: group), "still up")
            #expect(nodes[0].sessionCount() == 0)
        }
    }

    @Test func closeWhileCrashedCancelsTheRestart() async throws {
        try await withDemoCluster(["node1"]) { nodes, group in
            let node = nodes[0]
            let crash = try await DemoTestClient.send(.init(method: .POST, uri: "/demo/crash?seconds=1"), port: node.port, group: group)
            #expect(crash.status == .accepted)
            try await node.close()
            try await Task.sleep(for: .milliseconds(1_500))  // past the 1 s crash, when it would have listened again
            #expect(try await !canConnect(port: node.port, group: group), "a closed node stays down")
        }
    }
}

/// A new session on `server`; returns its id.
private func newSession(on server: DemoAppServer, group: any EventLoopGroup) async throws -> String {
    let response = try await DemoTestClient.get("/", port: server.port, group: group)
    return try #require(response.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:)))
}

/// Whether a TCP connection to 127.0.0.1:`port` is accepted now.
private func canConnect(port: Int, group: any EventLoopGroup) async throws -> Bool {
    do {
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(1))
            .connect(host: "127.0.0.1", port: port)
            .get()
        try? await channel.close()
        return true
    } catch {
        return false
    }
}

/// Runs `body` against one node per name on 127.0.0.1:0, all sharing one replication ring in that order,
/// and always closes every node and the event loop group, also when `body` fails.
private func withDemoCluster(
    _ names: [String],
    _ body: ([DemoAppServer], MultiThreadedEventLoopGroup) async throws -> Void
) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let replication = DemoSessionReplication(ring: names)
    var servers: [DemoAppServer] = []
    var failure: (any Error)?
    do {
        for name in names {
            servers.append(try await DemoAppServer.start(name: name, host: "127.0.0.1", port: 0, group: group, replication: replication))
        }
        try await body(servers, group)
    } catch {
        failure = error
    }
    for server in servers {
        do { try await server.close() } catch { failure = failure ?? error }
    }
    do { try await group.shutdownGracefully() } catch { failure = failure ?? error }
    if let failure { throw failure }
}
