import Foundation
import LatchCore
import Testing

@testable import LatchProxy

/// `docs/alerts.yml` and `docs/grafana-dashboard.json`, the rules and dashboard operators start from:
/// valid for Prometheus' own checker, and naming only metrics a running Latch exports.
@Suite("Alerts and dashboard in docs/", .timeLimit(.minutes(1)))
struct ObservabilityDocsTests {
    static let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs")

    /// Metric names in `text`: Latch's own and the process ones.
    static func metricNames(in text: String) -> Set<String> {
        let pattern = try! NSRegularExpression(pattern: #"\b(latch|process)_[a-z_]+\b"#)
        let range = NSRange(text.startIndex..., in: text)
        return Set(pattern.matches(in: text, range: range).compactMap { Range($0.range, in: text).map { String(text[$0]) } })
    }

    /// The families a Latch with a TLS listener and a node with replicas exports (`# TYPE` lines).
    static func exportedFamilies() async throws -> Set<String> {
        let pki = try TestPKI()
        let files = try pki.write(names: ["localhost"], base: "localhost")
        return try await withLatch(configure: { config in
            config.listeners[0].tls = TLSListenerConfig(certificates: [files])
            config.clusters[0].nodes[0].replicas = ["tomcat2"]
        }) { h in
            let text = h.server.metrics.exposition(
                clusters: h.server.runtime.clusters, listeners: h.server.config.listeners, certificates: h.server.certificatesInForce())
            return Set(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
        }
    }

    @Test("the alert rules pass promtool check rules and name only exported metrics")
    func alerts() async throws {
        let path = Self.docs.appendingPathComponent("alerts.yml").path
        let checked = try Spawn.run("/usr/bin/promtool", ["check", "rules", path])
        #expect(checked.status == .exited(0), "\(checked.stdout)\(checked.stderr)")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let exported = try await Self.exportedFamilies()
        let named = Self.metricNames(in: text)
        #expect(named.count >= 6)
        #expect(named.subtracting(exported).isEmpty, "not exported: \(named.subtracting(exported).sorted())")
    }

    @Test("every dashboard panel has a query; every query parses (promtool) and names only exported metrics")
    func dashboard() async throws {
        let data = try Data(contentsOf: Self.docs.appendingPathComponent("grafana-dashboard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        #expect(panels.count >= 10)
        #expect(Set(panels.compactMap { $0["id"] as? Int }).count == panels.count, "panel ids are unique")
        var expressions: [String] = []
        for panel in panels {
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "\(panel["title"] ?? "?") has no query")
            expressions += targets.compactMap { $0["expr"] as? String }
        }
        // Each query as a recording rule, for promtool to parse the PromQL.
        let rules = "groups:\n  - name: dashboard\n    rules:\n" + expressions.enumerated().map { index, expr in
            "      - record: latch_dashboard_query_\(index)\n        expr: '\(expr.replacingOccurrences(of: "'", with: "''"))'\n"
        }.joined()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("latch-dashboard-\(UUID().uuidString).yml").path
        try rules.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let checked = try Spawn.run("/usr/bin/promtool", ["check", "rules", file])
        #expect(checked.status == .exited(0), "\(checked.stdout)\(checked.stderr)")
        let exported = try await Self.exportedFamilies()
        let named = Self.metricNames(in: expressions.joined(separator: "\n"))
            .map { $0.replacingOccurrences(of: #"_bucket$"#, with: "", options: .regularExpression) }
        #expect(Set(named).subtracting(exported).isEmpty, "not exported: \(Set(named).subtracting(exported).sorted())")
    }
}
