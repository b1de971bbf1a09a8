import LatchCore
@testable import LatchProxy
import Logging
import NIOConcurrencyHelpers
import NIOHTTP1
import Testing

/// `health.state_header`: a node drains or leaves itself through its health check, in front of
/// every Latch that checks it.
@Suite("Nodes that announce their own state", .timeLimit(.minutes(1)))
struct AnnouncedStateLiveTests {
    /// What tomcat2's health check answers in `X-Node-State`; `nil`: no such header.
    final class Announcement: Sendable {
        let value = NIOLockedValueBox<String?>(nil)
    }

    static func configure(_ config: inout LatchConfig) {
        let health = HealthCheckConfig(
            interval: .milliseconds(50), timeout: .milliseconds(45), rise: 1, fall: 2, jitter: 0, initial: .up,
            stateHeader: "X-Node-State")
        config.clusters[0].health = health
        for i in config.clusters[0].nodes.indices { config.clusters[0].nodes[i].health = health }
        config.clusters[0].nodes[1].replicas = ["tomcat3"]
    }

    static func reply(_ announcement: Announcement) -> @Sendable (String, HTTPRequestHead) -> BackendReply {
        { name, head in
            guard head.uri == "/health", name == "tomcat2", let value = announcement.value.withLockedValue({ $0 }) else {
                return .text(body: "ok")
            }
            return .text(headers: [("X-Node-State", value)], body: "ok")
        }
    }

    @Test("draining, then maintenance, an unknown value ignored, active again; the operator's state underneath")
    func announcedStates() async throws {
        let announcement = Announcement()
        try await withLatch(configure: Self.configure, reply: Self.reply(announcement)) { h in
            let cluster = h.server.runtime.clusters[0]
            #expect(try await eventually { cluster.lastCheckResults()[1] != nil })
            #expect(cluster.announcedStates() == [.active, .active, .active])

            announcement.value.withLockedValue { $0 = "Draining" }
            #expect(try await eventually { cluster.effectiveStates()[1] == .draining })
            #expect(h.server.nodeStates(cluster: 0)[1] == .active, "the operator's own state is untouched")
            for _ in 0..<12 { #expect(try await h.get().node != "tomcat2", "a draining node takes no new session") }
            #expect(try await h.get(cookie: "JSESSIONID=A.tomcat2").node == "tomcat2", "but keeps its own")

            announcement.value.withLockedValue { $0 = "maintenance" }
            #expect(try await eventually { cluster.effectiveStates()[1] == .maintenance })
            #expect(try await h.get(cookie: "JSESSIONID=A.tomcat2").node == "tomcat3", "in maintenance its sessions fail over")

            // Something else is ignored: the last announcement stands.
            announcement.value.withLockedValue { $0 = "sleepy" }
            try await Task.sleep(for: .milliseconds(300))  // six checks: had it been taken, it would be by now
            #expect(cluster.effectiveStates()[1] == .maintenance)

            // No header means active; the operator's maintenance then still holds, being the more restrictive.
            h.server.setNodeState(cluster: "shop", node: "tomcat2", .maintenance)
            announcement.value.withLockedValue { $0 = nil }
            #expect(try await eventually { cluster.announcedStates()[1] == .active })
            // The checker notes the change just after recording it.
            #expect(try await eventually { h.server.histories.history(cluster: "shop", node: "tomcat2")?.events.count == 4 })
            #expect(cluster.effectiveStates()[1] == .maintenance)
            h.server.setNodeState(cluster: "shop", node: "tomcat2", .active)
            #expect(cluster.effectiveStates()[1] == .active)
            #expect(try await h.get(cookie: "JSESSIONID=A.tomcat2").node == "tomcat2")

            // Each change is in the node's history, in order, as it happened.
            let events = try #require(h.server.histories.history(cluster: "shop", node: "tomcat2")).events.elements
            #expect(events.map { "\($0.kind.rawValue) \($0.from)→\($0.to) \($0.effective ?? "-")" } == [
                "announced active→draining draining", "announced draining→maintenance maintenance",
                // Under the node's own maintenance, the operator's changes nothing that traffic sees …
                "state active→maintenance -",
                // … and then holds it there when the node says active again.
                "announced maintenance→active -", "state maintenance→active active",
            ])
            #expect(events.map(\.time) == events.map(\.time).sorted())

            let status = String(decoding: StatusDocument.make(h.server.runtime.clusters).json(), as: UTF8.self)
            #expect(status.contains(#""announced_state" : "active""#))
            #expect(status.contains(#""effective_state" : "active""#))
        }
    }

    @Test("every Latch in front of the node follows it: a second instance drains it too")
    func everyInstanceFollows() async throws {
        let announcement = Announcement()
        try await withLatch(configure: Self.configure, reply: Self.reply(announcement)) { h in
            var logger = Logger(label: "latch-test-second")
            logger.logLevel = .critical
            let second = ProxyServer(config: h.server.config, group: h.group, logger: logger, accessLogger: logger)
            let addresses = try await second.start()
            do {
                announcement.value.withLockedValue { $0 = "draining" }
                #expect(try await eventually { h.server.runtime.clusters[0].effectiveStates()[1] == .draining })
                #expect(try await eventually { second.runtime.clusters[0].effectiveStates()[1] == .draining })
                let url = "http://127.0.0.1:\(addresses[0].port!)"
                for _ in 0..<6 { #expect(try await h.get(url: url).node != "tomcat2") }
                #expect(try await h.get(cookie: "JSESSIONID=B.tomcat2", url: url).node == "tomcat2")
            } catch {
                await second.shutdown(grace: .zero)
                throw error
            }
            await second.shutdown(grace: .zero)
        }
    }
}
