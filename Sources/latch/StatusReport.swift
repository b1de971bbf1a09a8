import Foundation
import LatchCore

/// `GET /api/status` as `latch status` reads it. Beyond the names, every field is optional, so that
/// a Latch of another version — one without `recent` or `state_since`, or with fields this one does
/// not know — still makes a table, with "—" where a value is missing.
struct StatusView: Decodable, Sendable {
    var version: String?
    /// RFC 3339; with `uptimeSeconds`, the instance's own clock (see ``StatusReport/now(of:)``).
    var started: String?
    var uptimeSeconds: Double?
    var clusters: [Cluster]

    struct Cluster: Decodable, Sendable {
        var name: String
        var nodes: [Node]
        var unserved: [String: Int]?
    }

    struct Node: Decodable, Sendable {
        var name: String
        /// The operator's.
        var state: String?
        var effectiveState: String?
        var usable: Bool?
        var health: Health?
        var activeRequests: Int?
        var failures: Int?
        var sessions: Int?
        /// RFC 3339: when the effective state last changed (or Latch started).
        var stateSince: String?
        /// RFC 3339: when the health verdict last changed.
        var healthSince: String?
        var recent: Recent?
    }

    struct Health: Decodable, Sendable {
        var up: Bool
    }

    /// The latest 10-second point of the node's history.
    struct Recent: Decodable, Sendable {
        var requestsPerSecond: Double?
    }

    static func decode(_ body: String) throws -> StatusView {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(StatusView.self, from: Data(body.utf8))
    }
}

/// The terminal table of `latch status`: the instance, then per cluster its name and a row per node.
///
/// ```
/// http://127.0.0.1:9090 (latch 0.1.0, up 2 h)
///
/// cluster shop
/// NODE     STATE     HEALTH  USABLE  SESSIONS  ACTIVE  REQ/S  ERRORS  SINCE
/// tomcat1  active    up      yes           12       1    3.2       0  2 h
/// tomcat2  draining  down    no             3       0      0       2  down 40 s
/// ```
enum StatusReport {
    static let columns: [TextTable.Column] = [
        .init("NODE"), .init("STATE"), .init("HEALTH"), .init("USABLE"), .init("SESSIONS", .right),
        .init("ACTIVE", .right), .init("REQ/S", .right), .init("ERRORS", .right), .init("SINCE"),
    ]

    static func lines(_ status: StatusView, url: String) -> [String] {
        let now = now(of: status)
        var heading = [status.version.map { "latch \($0)" }, status.uptimeSeconds.map { "up \(ElapsedText.short(seconds: Int($0)))" }]
            .compactMap { $0 }.joined(separator: ", ")
        if !heading.isEmpty { heading = " (\(heading))" }
        // One table for the instance, so that columns line up from cluster to cluster; its title line
        // is repeated under each cluster's heading.
        var table = TextTable(columns)
        for cluster in status.clusters {
            for node in cluster.nodes { table.append(row(node, now: now)) }
        }
        let rendered = table.lines()
        var lines = [url + heading]
        var next = 1
        for cluster in status.clusters {
            let unserved = (cluster.unserved ?? [:]).filter { $0.value > 0 }.sorted { $0.key < $1.key }
                .map { "\($0.key.replacingOccurrences(of: "_", with: " ")) \($0.value)" }
            lines += ["", "cluster \(cluster.name)" + (unserved.isEmpty ? "" : " (unserved: \(unserved.joined(separator: ", ")))"), rendered[0]]
            lines += rendered[next..<next + cluster.nodes.count]
            next += cluster.nodes.count
        }
        return lines
    }

    static func row(_ node: StatusView.Node, now: Date) -> [String] {
        let effective = node.effectiveState ?? node.state ?? "—"
        // Stricter than the operator's when the node announces it (health.state_header).
        let state = node.state.map { $0 == effective ? effective : "\(effective) (op: \($0))" } ?? effective
        let health = node.health.map { $0.up ? "up" : "down" } ?? "unchecked"
        var since = age(node.stateSince, now: now)
        if node.health?.up == false, let down = node.healthSince { since = "down " + age(down, now: now) }
        return [
            node.name, state, health, node.usable.map { $0 ? "yes" : "no" } ?? "—", count(node.sessions), count(node.activeRequests),
            node.recent?.requestsPerSecond.map(rate) ?? "—", count(node.failures), since,
        ]
    }

    /// The instance's clock when it answered — its start plus its uptime — so that ages do not depend
    /// on this machine's clock agreeing with a remote one; this machine's without them.
    static func now(of status: StatusView) -> Date {
        guard let started = status.started.flatMap(date), let uptime = status.uptimeSeconds else { return Date() }
        return started.addingTimeInterval(uptime)
    }

    static func age(_ timestamp: String?, now: Date) -> String {
        guard let timestamp else { return "—" }
        guard let date = date(timestamp) else { return timestamp }
        return ElapsedText.short(seconds: Int(now.timeIntervalSince(date)))
    }

    /// RFC 3339, with or without fractions of a second.
    static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// "0", "0.4", "3.2", "152": a tenth where it matters.
    static func rate(_ perSecond: Double) -> String {
        if perSecond < 0.05 { return "0" }
        return perSecond < 10 ? String(format: "%.1f", perSecond) : String(format: "%.0f", perSecond)
    }

    static func count(_ value: Int?) -> String {
        value.map(String.init) ?? "—"
    }
}
