import Foundation
import LatchCore
import LatchProxy
import NIOHTTP1
import Testing

/// `GET /api/history` and the figures `/api/status` takes from it, on a real Latch sampling every
/// second and keeping three points.
@Suite("Node history in the admin API", .timeLimit(.minutes(1)))
struct AdminHistoryLiveTests {
    static func shortHistory(_ config: inout LatchConfig) {
        config.admin = AdminConfig(address: HostPort(host: "127.0.0.1", port: 0), historyInterval: .seconds(1), historySpan: .seconds(3))
    }

    static func json(_ body: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
    }

    /// The named node's object in a status or history document.
    static func node(_ document: [String: Any], _ name: String) throws -> [String: Any] {
        let cluster = try #require((document["clusters"] as? [[String: Any]])?.first)
        return try #require((cluster["nodes"] as? [[String: Any]])?.first { $0["name"] as? String == name })
    }

    static func history(_ h: LatchHarness, _ admin: String, after: Int? = nil) async throws -> [String: Any] {
        let (status, body) = try await request(h, admin + "/api/history" + (after.map { "?after=\($0)" } ?? ""))
        #expect(status == .ok)
        return try json(body)
    }

    @Test("history gets a point per interval with requests by outcome and latency, keeps only the newest, and serves what is new")
    func pointsAreBoundedAndIncremental() async throws {
        try await withAdmin(configure: Self.shortHistory) { h, admin in
            for _ in 0..<20 { _ = try await h.get(cookie: "JSESSIONID=A.tomcat1") }
            // Polled as the page does, with the last document's `sequence`: every point arrives once,
            // so the points received add up to exactly the requests sent.
            var received: [[String: Any]] = []
            var cursor: Int?
            var document: [String: Any] = [:]
            let counted = try await eventually {
                document = try await Self.history(h, admin, after: cursor)
                cursor = try #require(document["sequence"] as? Int)
                received += try Self.node(document, "tomcat1")["points"] as? [[String: Any]] ?? []
                return received.reduce(0) { $0 + ($1["ok"] as? Int ?? 0) } >= 20
            }
            #expect(counted)
            #expect(received.reduce(0) { $0 + ($1["ok"] as? Int ?? 0) } == 20, "no point twice")
            let sequences = received.compactMap { $0["sequence"] as? Int }
            #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count)
            #expect(document["interval_seconds"] as? Double == 1)
            #expect(document["points_kept"] as? Int == 3)
            #expect(document["now"] is Double)
            let busy = try #require(received.first { ($0["ok"] as? Int ?? 0) > 0 })
            #expect(busy["p50_ms"] is Double)
            #expect(busy["p99_ms"] is Double)
            #expect(busy["state"] as? String == "active")
            #expect(busy["server_errors"] as? Int == 0)

            // More intervals pass than are kept: the history stays at three points.
            let full = try await eventually {
                let points = try Self.node(try await Self.history(h, admin), "tomcat1")["points"] as? [[String: Any]] ?? []
                return points.count == 3
            }
            #expect(full)
            try await Task.sleep(for: .seconds(2))
            let later = try #require(try Self.node(try await Self.history(h, admin), "tomcat1")["points"] as? [[String: Any]])
            #expect(later.count == 3, "bounded")
            let times = later.compactMap { $0["time"] as? Double }
            #expect(times == times.sorted(), "oldest first")

            // `after` leaves out what the poller has.
            let newest = try #require(later.last?["sequence"] as? Int)
            let recent = try Self.node(try await Self.history(h, admin, after: newest), "tomcat1")["points"] as? [[String: Any]] ?? []
            #expect(recent.allSatisfy { ($0["sequence"] as? Int ?? 0) > newest })
        }
    }

    @Test("a state change is an event with its time; /api/status shows since when, recent rates, cluster totals and uptime")
    func eventsAndStatusFigures() async throws {
        try await withAdmin(configure: Self.shortHistory) { h, admin in
            let before = Date().timeIntervalSince1970
            let (changed, _) = try await request(h, admin + "/api/nodes/shop/tomcat2/state", method: .POST, body: #"{"state": "draining"}"#)
            #expect(changed == .ok)
            let tomcat2 = try Self.node(try await Self.history(h, admin), "tomcat2")
            let events = try #require(tomcat2["events"] as? [[String: Any]])
            #expect(events.count == 1)
            #expect(events.first?["kind"] as? String == "state")
            #expect(events.first?["from"] as? String == "active")
            #expect(events.first?["to"] as? String == "draining")
            let since = try #require(tomcat2["state_since"] as? Double)
            #expect(since >= before - 1 && since <= Date().timeIntervalSince1970 + 1)

            for _ in 0..<10 { _ = try await h.get(cookie: "JSESSIONID=B.tomcat1") }
            var status: [String: Any] = [:]
            var sent = 10
            // `recent` is the last finished interval (1 s here): requests go on while the test looks,
            // or a test process held up for a second under load sees only an interval without any.
            let rated = try await eventually {
                _ = try await h.get(cookie: "JSESSIONID=B.tomcat1")
                sent += 1
                status = try Self.json(try await request(h, admin + "/api/status").1)
                return (try Self.node(status, "tomcat1")["recent"] as? [String: Any])?["requests_per_second"] as? Double ?? 0 > 0
            }
            #expect(rated, "recent rates appear once an interval with the requests has passed")
            #expect(status["uptime_seconds"] is Int)
            #expect(status["started"] is String)
            let node = try Self.node(status, "tomcat2")
            #expect(node["state_since"] is String)
            #expect(node["health_since"] == nil, "no active checks, so no health change")
            let cluster = try #require((status["clusters"] as? [[String: Any]])?.first)
            let totals = try #require(cluster["totals"] as? [String: Any])
            #expect(totals["requests"] as? Int == sent)
            #expect(totals["requests_per_second"] is Double)
        }
    }

    @Test("only GET and HEAD")
    func readOnly() async throws {
        try await withAdmin(configure: Self.shortHistory) { h, admin in
            let (status, _) = try await request(h, admin + "/api/history", method: .POST, body: "{}")
            #expect(status == .methodNotAllowed)
        }
    }
}
