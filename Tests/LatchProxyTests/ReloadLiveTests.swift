import Foundation
import LatchCore
import LatchProxy
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Testing

@Suite("Hot reload", .timeLimit(.minutes(1)))
struct ReloadLiveTests {
    private static func health() -> HealthCheckConfig {
        HealthCheckConfig(interval: .milliseconds(100), timeout: .milliseconds(500), rise: 2, fall: 2, jitter: 0, initial: .up)
    }

    @Test("a reload under load adds a node, drops no request, and keeps kept nodes' health, state and counters")
    func reloadUnderLoad() async throws {
        try await withLatch(configure: { config in
            config.clusters[0].health = Self.health()
            for i in 0..<3 { config.clusters[0].nodes[i].health = Self.health() }
            // Keep the drained node draining whatever its session count, so the test sees the state carried.
            config.clusters[0].drain.maintenanceWhenEmpty = false
        }) { h in
            // tomcat2 fails its checks and goes down; tomcat3 is drained by an operator.
            h.backend("tomcat2").setReply { head in head.uri == "/health" ? .text(status: .serviceUnavailable, body: "") : .text(body: "hello") }
            _ = try await eventually(within: .seconds(5)) { !h.server.usableNodes(cluster: 0)[1] }
            #expect(h.server.usableNodes(cluster: 0) == [true, false, true])
            h.server.setNodeState(cluster: "shop", node: "tomcat3", .draining)
            for _ in 0..<5 { _ = try await h.get(cookie: "JSESSIONID=K.tomcat1") }

            let extra = try await TestBackend.start(name: "tomcat4", group: h.group)
            var newConfig = h.server.config
            newConfig.clusters[0].nodes.append(NodeConfig(name: "tomcat4", address: HostPort(host: "127.0.0.1", port: extra.port), health: Self.health()))
            newConfig.clusters[0].nodes[0].weight = 2
            let reloaded = newConfig

            let failures = NIOLockedValueBox(0)
            let served = NIOLockedValueBox(0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        for i in 0..<150 {
                            let cookie = i % 2 == 0 ? "JSESSIONID=W\(worker).tomcat1" : nil
                            let status = try await h.get(cookie: cookie).status
                            if status != .ok { failures.withLockedValue { $0 += 1 } }
                            served.withLockedValue { $0 += 1 }
                        }
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(100))  // the load runs a while before the reload
                    _ = try await h.server.reload(reloaded)
                }
                try await group.waitForAll()
            }
            #expect(failures.withLockedValue { $0 } == 0)
            #expect(served.withLockedValue { $0 } == 600)
            #expect(h.server.config.clusters[0].nodes.count == 4)
            // Kept nodes kept what they knew; the new node starts from its `initial`.
            #expect(h.server.usableNodes(cluster: 0) == [true, false, true, true])
            #expect(h.server.nodeStates(cluster: 0) == [.active, .active, .draining, .active])
            #expect((h.server.stats(cluster: 0).nodes[0].requests[.sticky] ?? 0) >= 5)
            #expect(extra.requests.contains { $0.head.uri == "/" }, "new sessions reach the added node")
            await extra.close()
        }
    }

    @Test("a broken lb.yaml is rejected with the loader's located error, and the running configuration stays")
    func badReloadRejected() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("latch-reload-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withLatch { h in
            try "listen:\n  - address: 127.0.0.1:0\nclusters:\n  - name: shop\n    balanse: round_robin\n".write(toFile: path, atomically: true, encoding: .utf8)
            var logger = Logger(label: "reload-test")
            logger.logLevel = .critical
            let outcome = await Reloader(server: h.server, path: path, logger: logger).reload()
            #expect(!outcome.applied)
            #expect(outcome.message.contains("\(path):5:5: clusters[0].balanse: unknown key"))
            #expect(h.server.config.clusters[0].nodes.count == 3)
            #expect(try await h.get(cookie: "JSESSIONID=A.tomcat2").node == "tomcat2")
        }
    }

    @Test("a node connection in use during a reload is closed when its exchange ends, not kept by the old pool")
    func noConnectionOutlivesItsPool() async throws {
        try await withLatch(reply: { _, head in
            head.uri == "/slow" ? .delayed(.milliseconds(600), body: "slow") : .text(body: "hello")
        }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("GET /slow HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\n\r\n")
            _ = try await eventually { h.backend("tomcat1").requests.contains { $0.head.uri == "/slow" } }
            try await h.server.reload(h.server.config)
            try await client.wait { text, _ in text.contains("slow") }
            // The next request uses the new configuration's pool and opens a new connection.
            try await client.send("GET /fast HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\n\r\n")
            try await client.wait { text, _ in text.contains("hello") }
            #expect(
                try await eventually { h.backend("tomcat1").openConnections == 1 },
                "only the new pool's connection stays open; the old one was closed at release"
            )
            await client.close()
        }
    }

    @Test("an exchange in flight during a reload is counted by the new configuration, in flight and when done")
    func inFlightExchangesReportToTheNewConfiguration() async throws {
        try await withLatch(reply: { _, head in
            // Slow enough that the reload surely happens while it is in flight, even on a loaded machine.
            head.uri == "/slow" ? .delayed(.seconds(5), body: "slow") : .text(body: "hello")
        }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("GET /slow HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\n\r\n")
            #expect(try await eventually { h.server.activeRequests(cluster: 0) == [1, 0, 0] })
            try await h.server.reload(h.server.config)
            #expect(h.server.activeRequests(cluster: 0) == [1, 0, 0], "the new configuration took the in-flight count over")
            try await client.wait { text, _ in text.contains("slow") }
            await client.close()
            #expect(try await eventually { h.server.activeRequests(cluster: 0) == [0, 0, 0] })
            #expect(h.server.stats(cluster: 0).nodes[0].requests == [.sticky: 1], "counted where the status API reads")
        }
    }

    @Test("listeners are added and removed; connections already open on a removed one are still served")
    func listenersChange() async throws {
        try await withLatch { h in
            let oldPort = h.port
            let open = try await RawClient.connect(port: oldPort, group: h.group)
            try await open.send("GET / HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\n\r\n")
            try await open.wait { text, _ in text.contains("hello") }

            var newConfig = h.server.config
            newConfig.listeners = [ListenerConfig(address: HostPort(host: "::1", port: 0))]
            try await h.server.reload(newConfig)
            let addresses = h.server.boundAddresses
            #expect(addresses.count == 1)
            #expect(addresses.first?.protocol == .inet6)

            try await open.send("GET /again HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\n\r\n")
            let text = try await open.wait { text, _ in text.count(of: "hello") == 2 }
            #expect(text.count(of: "HTTP/1.1 200 OK") == 2, "the open connection keeps working")
            await open.close()
            await #expect(throws: (any Error).self) { try await RawClient.connect(port: oldPort, group: h.group) }
        }
    }
}
