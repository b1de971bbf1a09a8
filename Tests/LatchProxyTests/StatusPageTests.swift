import Foundation
import LatchCore
import Logging
import NIOCore
import NIOHTTP1
import Testing

@testable import LatchProxy

@Suite("Status page", .timeLimit(.minutes(1)))
struct StatusPageTests {
    private static let now = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z

    private static func node(
        _ name: String,
        state: String = "active",
        usable: Bool = true,
        health: StatusDocument.Health? = StatusDocument.Health(up: true, lastCheck: "HTTP 200 in 2 ms"),
        requests: [String: Int] = [:],
        failures: Int = 0,
        lastSticky: String? = nil,
        announced: String? = nil,
        effective: String? = nil,
        slowStart: Int? = nil,
        stateSince: String? = nil,
        healthSince: String? = nil,
        recent: StatusDocument.Recent? = nil,
        drainEnd: String? = nil
    ) -> StatusDocument.Node {
        StatusDocument.Node(
            name: name,
            address: "10.0.0.1:8080",
            replicas: [],
            state: state,
            announcedState: announced,
            effectiveState: effective ?? state,
            slowStartWeightPercent: slowStart,
            usable: usable,
            health: health,
            activeRequests: 0,
            requests: requests,
            failures: failures,
            retriedAway: 0,
            healthTransitions: 0,
            ejections: 0,
            sessions: 4,
            lastStickyRequest: lastSticky,
            stateSince: stateSince,
            healthSince: healthSince,
            recent: recent,
            drainEndEstimate: drainEnd
        )
    }

    /// An interval of 10 s with 120 requests, 3 of them 5xx, and one failure.
    private static let recent = StatusDocument.Recent(HistoryPoint(
        time: 1_767_225_600, seconds: 10, ok: 117, clientErrors: 0, serverErrors: 3, unanswered: 0, failures: 1,
        p50Ms: 3.25, p99Ms: 48.4, sessions: 4, active: 0, queued: 0, state: "active", up: true, usable: true))

    private static let document = StatusDocument(version: "1.2.3", started: "2025-12-31T21:00:00Z", uptimeSeconds: 10800, clusters: [
        StatusDocument.Cluster(
            name: "shop",
            nodes: [
                node("tomcat1", requests: ["sticky": 7, "new": 2, "failover_replica": 1, "stayed": 0], lastSticky: "2025-12-31T23:59:48Z",
                     stateSince: "2025-12-31T21:00:00Z", recent: recent),
                node("tomcat2", state: "draining", stateSince: "2025-12-31T23:56:00Z", drainEnd: "2026-01-01T00:05:00Z"),
                node("tomcat3", state: "maintenance", usable: false, health: StatusDocument.Health(up: false, lastCheck: "connection refused"), failures: 3,
                     healthSince: "2025-12-31T23:58:00Z"),
                node("tomcat4", health: nil),
                node("tomcat5", announced: "draining", effective: "draining", slowStart: 40),
            ],
            unserved: ["no_node": 2]
        )
    ])

    /// The `<tr>` of one node, from its opening tag to its closing one.
    private func row(_ html: String, _ name: String) throws -> Substring {
        let attribute = try #require(html.range(of: "data-node=\"\(name)\""), "no row for \(name)")
        let start = try #require(html.range(of: "<tr ", options: .backwards, range: html.startIndex..<attribute.lowerBound))
        let end = try #require(html.range(of: "</tr>", range: attribute.upperBound..<html.endIndex))
        return html[start.lowerBound..<end.upperBound]
    }

    @Test("a self-contained page with a row per node: state and health badges, counters, last sticky request")
    func rows() throws {
        let html = StatusPage.html(Self.document, now: Self.now)
        #expect(html.hasPrefix("<!doctype html>"))
        #expect(html.contains("<style>") && html.contains("<script>"))
        #expect(!html.contains("src=") && !html.contains("<link"), "nothing loaded from elsewhere")
        #expect(html.contains("<h2>shop</h2>"))
        #expect(html.contains("unserved: no node 2"))
        #expect(html.contains(#"<span class="sub" id="version">1.2.3</span>"#))
        #expect(html.contains(#"title="started 2025-12-31T21:00:00Z">up 3 h 0 min</span>"#))
        // Cluster totals: the rates of the nodes that have a history point, and the sums.
        #expect(html.contains(#"<span class="totals" data-field="totals">12/s · 5xx 0.30/s · 20 sessions · 0 in flight · 10 requests</span>"#))

        let first = try row(html, "tomcat1")
        #expect(first.contains("<strong>tomcat1</strong><small><code>10.0.0.1:8080</code></small>"))
        #expect(first.contains(#"<span class="badge state-active">active</span><small>for 3 h 0 min</small>"#))
        #expect(first.contains(#"<span class="badge health-up">up</span><small title="HTTP 200 in 2 ms">HTTP 200 in 2 ms</small>"#))
        // Every reason with requests, in the decision order, and the rate of the latest interval.
        #expect(first.contains(#"<strong>10</strong><small data-field="rate">12/s</small><small>sticky 7 · failover replica 1 · new 2</small>"#))
        #expect(first.contains(#"data-field="latency" data-label="Latency">p50 3.3 · p99 48 ms</td>"#))
        #expect(first.contains("4<small>last sticky 12 s ago</small>"))
        #expect(first.contains(">0<small>5xx 0.30/s</small>"))

        let second = try row(html, "tomcat2")
        #expect(second.contains(#"<span class="badge state-draining">draining</span><small>for 4 min</small>"#))
        #expect(second.contains("4<small>empty in ~5 min</small>"), "the drain estimate replaces the last sticky request")
        #expect(second.contains(#"data-field="latency" data-label="Latency">—</td>"#), "no history point yet")

        let third = try row(html, "tomcat3")
        #expect(third.contains(#"class="node unusable""#))
        #expect(third.contains(#"<span class="badge state-maintenance">maintenance</span>"#))
        #expect(third.contains(#"<span class="badge health-down">down</span><span class="usable-no">not usable</span><small title="connection refused">connection refused</small><small>down for 2 min</small>"#))
        #expect(third.contains(#"class="num bad" data-field="errors""#))

        // A chart row under each node, filled by the page's script from /api/history.
        #expect(html.components(separatedBy: #"<tr class="charts""#).count - 1 == 5)
        #expect(html.contains(#"<tr class="charts" data-chart-cluster="shop" data-chart-node="tomcat2"><td colspan="9">"#))

        #expect(try row(html, "tomcat4").contains(#"<span class="badge health-unchecked">unchecked</span>"#))

        // A node that announces draining itself: treated as draining, the operator's choice and the
        // slow start still shown; its buttons follow the operator's state.
        let fifth = try row(html, "tomcat5")
        #expect(fifth.contains(#"<span class="badge state-draining">draining</span><small>node says draining · operator: active · slow start 40%</small>"#))
        #expect(fifth.contains(#"data-state="active" disabled"#))
    }

    @Test("three buttons per node post to the node's state URL; the one for the current state is disabled")
    func buttons() throws {
        let html = StatusPage.html(Self.document, now: Self.now)
        let second = try row(html, "tomcat2")
        let url = #"data-url="/api/nodes/shop/tomcat2/state""#
        #expect(second.contains(#"<button type="button" class="act act-draining" \#(url) data-state="draining" disabled>Drain</button>"#))
        #expect(second.contains(#"<button type="button" class="act act-maintenance" \#(url) data-state="maintenance">Maintenance</button>"#))
        #expect(second.contains(#"<button type="button" class="act act-active" \#(url) data-state="active">Activate</button>"#))
        #expect(html.components(separatedBy: "<button ").count - 1 == 3 * 5)
        #expect(html.contains("\"Authorization\"") && html.contains("sessionStorage"), "the token goes along as a bearer token")
        #expect(html.contains("draining: \"Drain {node}?") && html.contains("maintenance: \"Put {node} in maintenance?"), "Drain and Maintenance ask first")
    }

    @Test("every interpolated value is escaped")
    func escaping() throws {
        let hostile = "<script>alert(\"x&y\")</script>"
        var document = Self.document
        document.clusters[0].name = "c'<b>"
        document.clusters[0].nodes[0].name = hostile
        document.clusters[0].nodes[0].address = "<img onerror=x>"
        document.clusters[0].nodes[0].health = StatusDocument.Health(up: false, lastCheck: "<i>bad</i>")
        document.clusters[0].nodes[0].lastStickyRequest = "\"><script>"
        let html = StatusPage.html(document, now: Self.now)
        #expect(!html.contains(hostile))
        #expect(!html.contains("<b>") && !html.contains("<i>") && !html.contains("<img"))
        #expect(!html.contains("\"><script>"))
        #expect(html.components(separatedBy: "<script>").count - 1 == 1, "only the page's own script")
        #expect(html.contains("<strong>&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;</strong>"))
        #expect(html.contains("<h2>c&#39;&lt;b&gt;</h2>"))
        // In the URL the names are percent-encoded path segments.
        #expect(html.contains("data-url=\"/api/nodes/c%27%3Cb%3E/%3Cscript%3Ealert%28%22x%26y%22%29%3C%2Fscript%3E/state\""))
    }

    @Test("GET / on a live admin listener serves the page with every node")
    func live() async throws {
        try await withLatch { h in
            var logger = Logger(label: "status-page-test")
            logger.logLevel = .critical
            let admin = try AdminServer(
                server: h.server,
                config: AdminConfig(address: HostPort(host: "127.0.0.1", port: 0)),
                logger: logger
            )
            let address = try await admin.start(group: h.group)
            do {
                for path in ["/", "/index.html"] {
                    let answer = try await h.get(path, url: "http://127.0.0.1:\(address.port!)")
                    #expect(answer.status == .ok)
                    #expect(answer.headers.first(name: "Content-Type") == "text/html; charset=utf-8")
                    for name in ["tomcat1", "tomcat2", "tomcat3"] {
                        #expect(answer.body.contains("data-node=\"\(name)\""), "\(path) lists \(name)")
                    }
                    #expect(answer.body.contains("/api/nodes/shop/tomcat1/state"))
                }
                await admin.stop()
            } catch {
                await admin.stop()
                throw error
            }
        }
    }
}
