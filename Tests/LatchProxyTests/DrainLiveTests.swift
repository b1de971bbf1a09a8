import AsyncHTTPClient
import LatchCore
import NIOCore
import Testing

@Suite("Drain that knows when it is done", .timeLimit(.minutes(1)))
struct DrainLiveTests {
    private func get(_ h: LatchHarness, _ cookie: String) async throws -> String? {
        var request = HTTPClientRequest(url: h.baseURL + "/")
        request.headers.add(name: "Cookie", value: cookie)
        let response = try await h.client.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1024)
        return response.headers.first(name: "X-Backend-Node")
    }

    private func waitFor(_ limit: Duration = .seconds(10), _ condition: () -> Bool) async throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while clock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test("sessions are counted per node: distinct ids, each counted once however many requests it makes")
    func sessionCounting() async throws {
        try await withLatch { h in
            for round in 0..<3 {
                for s in 0..<50 { _ = try await get(h, "JSESSIONID=S\(s).tomcat1") }
                for s in 0..<20 where round < 2 { _ = try await get(h, "JSESSIONID=T\(s).tomcat2") }
            }
            _ = try await get(h, "JSESSIONID=UNKNOWN.tomcat9")  // balanced, not an existing session of anyone
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
            _ = try await get(h, "JSESSIONID=A.tomcat1")
            h.server.setNodeState(cluster: "shop", node: "tomcat1", .draining)
            // While its session keeps coming, it stays draining and keeps serving it.
            for _ in 0..<5 {
                #expect(try await get(h, "JSESSIONID=A.tomcat1") == "tomcat1")
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(h.server.nodeStates(cluster: 0)[0] == .draining)
            // The session goes quiet: after session_idle (plus a bucket and a tick) the node is done.
            let done = try await waitFor { h.server.nodeStates(cluster: 0)[0] == .maintenance }
            #expect(done)
            #expect(try await get(h, "JSESSIONID=A.tomcat1") == "tomcat2", "in maintenance its sessions fail over")
        }
    }

    @Test("a draining node with a deadline moves to maintenance at the deadline, sessions or not")
    func deadline() async throws {
        try await withLatch(configure: { config in
            config.clusters[0].drain = DrainConfig(sessionIdle: .seconds(600), maintenanceWhenEmpty: true, deadline: .milliseconds(500))
        }) { h in
            _ = try await get(h, "JSESSIONID=A.tomcat3")
            h.server.setNodeState(cluster: "shop", node: "tomcat3", .draining)
            #expect(h.server.sessions(cluster: 0)[2].count == 1)
            let done = try await waitFor { h.server.nodeStates(cluster: 0)[2] == .maintenance }
            #expect(done)
        }
    }
}
