import LatchCore
import Foundation

/// The admin listener's human page (`GET /`): per cluster its totals and a table with a row per node,
/// each followed by a row of small charts of the node's history, and buttons that change a node's
/// state through `POST /api/nodes/{cluster}/{node}/state`.
///
/// Self-contained: inline CSS and an inline script, nothing fetched from elsewhere, so it works on an
/// admin network without internet. Without JavaScript it shows the numbers rendered here; with it, it
/// polls `/api/status` every 2 s and updates the rows in place (``StatusPageScript``), and draws the
/// charts from `/api/history` (``StatusPageCharts``).
enum StatusPage {
    static func html(_ document: StatusDocument, now: Date) -> String {
        let stamp = StatusDocument.timestamp(now)
        var out = """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Latch status</title>
            <style>\(StatusPageStyle.css)</style>
            </head>
            <body>
            <header>
              <div class="title">
                <h1>Latch</h1>
                <span class="sub" id="version">\(escape(document.version))</span>
                <span class="sub" id="uptime" title="\(escape(document.started.map { "started \($0)" } ?? ""))">\(escape(document.uptimeSeconds.map { "up " + duration($0) } ?? ""))</span>
                <span id="live" class="live" title="Rendered by the server at \(escape(stamp))">snapshot \(escape(stamp))</span>
              </div>
              <div class="controls">
                <label class="toggle"><input id="charts-toggle" type="checkbox" checked> Charts</label>
                <label class="token">Admin token
                  <input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="only if the admin API needs one">
                </label>
              </div>
            </header>
            <noscript><p class="note">JavaScript is off: these are the numbers as rendered; reload for new ones. The charts, the live rate and the buttons need JavaScript.</p></noscript>
            <div id="message" class="message" role="status" hidden></div>
            <main>

            """
        if document.clusters.isEmpty {
            out += "<p class=\"note\">No clusters configured.</p>\n"
        }
        for cluster in document.clusters {
            out += section(cluster, now: now)
        }
        out += """
            </main>
            <footer>Polls <code>/api/status</code> every 2 s and <code>/api/history</code> every history interval. Drain: keeps its sessions, takes no new ones. Maintenance: no traffic, its sessions fail over to its replicas. Activate: back to normal. Charts: requests/s in blue, 5xx in red, failed at the node dashed; p50 and p99; sessions. Changes: <span class="mark mark-state">state</span> <span class="mark mark-health">health</span> <span class="mark mark-ejected">ejection</span>.</footer>
            <script>\(StatusPageScript.script)\(StatusPageCharts.script)</script>
            </body>
            </html>

            """
        return out
    }

    // MARK: - Sections and rows

    /// Columns of a node row, for the chart row's `colspan`.
    static let columns = 9

    private static func section(_ cluster: StatusDocument.Cluster, now: Date) -> String {
        let usable = cluster.nodes.filter(\.usable).count
        var out = """
            <section class="cluster" data-cluster="\(escape(cluster.name))">
            <div class="cluster-head">
              <h2>\(escape(cluster.name))</h2>
              <span class="summary" data-field="summary">\(usable) of \(cluster.nodes.count) nodes usable</span>
              <span class="totals" data-field="totals">\(escape(totalsText(cluster.totals ?? StatusDocument.Totals(cluster.nodes))))</span>
              <span class="unserved" data-field="unserved">\(escape(unservedText(cluster.unserved)))</span>
            </div>
            <table>
            <thead><tr>
              <th>Node</th><th>State</th><th>Health</th>
              <th class="num" title="Distinct sessions seen recently">Sessions</th>
              <th class="num" title="Requests in flight (and queued)">Active</th>
              <th class="num" title="Requests since start, and per second">Requests</th>
              <th class="num" title="Median and 99th percentile over the last history interval">Latency</th>
              <th class="num" title="Requests that failed because of the node; 5xx answers per second">Errors</th>
              <th>Change state</th>
            </tr></thead>
            <tbody>

            """
        for node in cluster.nodes {
            out += row(cluster: cluster.name, node: node, now: now)
        }
        out += "</tbody>\n</table>\n</section>\n"
        return out
    }

    private static func row(cluster: String, node: StatusDocument.Node, now: Date) -> String {
        let url = stateURL(cluster: cluster, node: node.name)
        let requests = requestCounts(node.requests)
        let health = healthBadge(node.health)
        let replicas = node.replicas.isEmpty ? "" : "replicas: " + node.replicas.joined(separator: ", ")
        let buttons = actions.map { action in
            let current = action.state == node.state
            return "<button type=\"button\" class=\"act act-\(action.state)\" data-url=\"\(escape(url))\" data-state=\"\(action.state)\""
                + "\(current ? " disabled" : "")>\(action.label)</button>"
        }.joined()
        let lastSticky = node.lastStickyRequest.map { "last sticky " + age(of: $0, now: now) } ?? "no sticky request yet"
        let recent = node.recent
        return """
            <tr class="node\(node.usable ? "" : " unusable")" data-cluster="\(escape(cluster))" data-node="\(escape(node.name))">
              <td class="name"><strong>\(escape(node.name))</strong><small><code>\(escape(node.address))</code></small><small data-field="replicas">\(escape(replicas))</small></td>
              <td data-field="state" data-label="State"><span class="badge state-\(escape(node.effectiveState))">\(escape(node.effectiveState))</span><small>\(escape(stateNote(node, now: now)))</small></td>
              <td class="health" data-field="health" data-label="Health"><span class="badge health-\(health.kind)">\(health.kind)</span>\(node.usable ? "" : "<span class=\"usable-no\">not usable</span>")<small title="\(escape(health.detail))">\(escape(health.detail))</small><small>\(escape(healthSince(node, now: now)))</small></td>
              <td class="num" data-field="sessions" data-label="Sessions">\(node.sessions.map(String.init) ?? "—")<small>\(escape(drainNote(node, now: now) ?? lastSticky))</small></td>
              <td class="num" data-field="active" data-label="Active" title="max_connections: \(node.maxConnections == 0 ? "none" : String(node.maxConnections))">\(node.activeRequests)\(node.queuedRequests > 0 ? "<small>+\(node.queuedRequests) queued</small>" : "")</td>
              <td class="num" data-field="requests" data-label="Requests" title="\(escape(requests.breakdown))"><strong>\(requests.total)</strong><small data-field="rate">\(recent.map { rate($0.requestsPerSecond) } ?? "—")</small><small>\(escape(requests.reasons))</small></td>
              <td class="num" data-field="latency" data-label="Latency">\(escape(latencyText(recent)))</td>
              <td class="num\(node.failures > 0 ? " bad" : "")" data-field="errors" data-label="Errors" title="retried away: \(node.retriedAway), ejections: \(node.ejections)">\(node.failures)<small>\(recent.map { "5xx " + rate($0.serverErrorsPerSecond) } ?? "")</small></td>
              <td class="actions">\(buttons)</td>
            </tr>
            <tr class="charts" data-chart-cluster="\(escape(cluster))" data-chart-node="\(escape(node.name))"><td colspan="\(columns)"><div class="chart-row"></div></td></tr>

            """
    }

    /// Why the node is in the state shown, when that is not simply the operator's: what it announces
    /// itself, the operator's own choice under it, a running slow start; then since when.
    static func stateNote(_ node: StatusDocument.Node, now: Date) -> String {
        var notes: [String] = []
        if let announced = node.announcedState, announced != "active" { notes.append("node says \(announced)") }
        if node.state != node.effectiveState || (node.announcedState != nil && node.state != "active") {
            notes.append("operator: \(node.state)")
        }
        if let percent = node.slowStartWeightPercent { notes.append("slow start \(percent)%") }
        if let since = node.stateSince { notes.append("for " + age(of: since, now: now, suffix: "")) }
        return notes.joined(separator: " · ")
    }

    /// "down for 3 min" / "up for 2 h", from the last health change.
    static func healthSince(_ node: StatusDocument.Node, now: Date) -> String {
        guard let health = node.health, let since = node.healthSince else { return "" }
        return (health.up ? "up" : "down") + " for " + age(of: since, now: now, suffix: "")
    }

    /// While draining with an estimate: when the last session should be gone.
    static func drainNote(_ node: StatusDocument.Node, now: Date) -> String? {
        guard node.effectiveState == "draining", let end = node.drainEndEstimate else { return nil }
        guard let date = parse(end), date > now else { return "empty now" }
        return "empty in ~" + duration(Int(date.timeIntervalSince(now)))
    }

    private static let actions: [(label: String, state: String)] = [
        ("Drain", "draining"), ("Maintenance", "maintenance"), ("Activate", "active"),
    ]

    // MARK: - Values

    /// `/api/nodes/{cluster}/{node}/state`, each name percent-encoded as a path segment.
    static func stateURL(cluster: String, node: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: "\u{0}"..."\u{7F}"))
        allowed.insert(charactersIn: "-._~")
        let segment = { (text: String) in text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text }
        return "/api/nodes/\(segment(cluster))/\(segment(node))/state"
    }

    /// The total, every reason with requests (`sticky 7 · new 2 · failover replica 1`), and the same
    /// spelled as the API does for the tooltip.
    static func requestCounts(_ requests: [String: Int]) -> (total: Int, reasons: String, breakdown: String) {
        let total = requests.values.reduce(0, +)
        let order = DecisionReason.allCases.map(\.rawValue) + ["redirect"]
        let counted = requests.filter { $0.value > 0 }.sorted { a, b in
            (order.firstIndex(of: a.key) ?? order.count, a.key) < (order.firstIndex(of: b.key) ?? order.count, b.key)
        }
        let reasons = counted.map { "\($0.key.replacingOccurrences(of: "_", with: " ")) \($0.value)" }.joined(separator: " · ")
        let breakdown = requests.isEmpty ? "no requests yet" : requests.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        return (total, reasons, breakdown)
    }

    static func healthBadge(_ health: StatusDocument.Health?) -> (kind: String, detail: String) {
        guard let health else { return ("unchecked", "no active checks") }
        return (health.up ? "up" : "down", health.lastCheck ?? "not checked yet")
    }

    static func unservedText(_ unserved: [String: Int]) -> String {
        let counted = unserved.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        guard !counted.isEmpty else { return "" }
        return "unserved: " + counted.map { "\($0.key.replacingOccurrences(of: "_", with: " ")) \($0.value)" }.joined(separator: ", ")
    }

    /// `12.5/s · 5xx 0/s · 40 sessions · 3 in flight`.
    static func totalsText(_ totals: StatusDocument.Totals) -> String {
        var parts: [String] = []
        if let perSecond = totals.requestsPerSecond { parts.append(rate(perSecond)) }
        if let errors = totals.serverErrorsPerSecond { parts.append("5xx " + rate(errors)) }
        parts.append("\(totals.sessions) sessions")
        parts.append("\(totals.activeRequests) in flight")
        parts.append("\(totals.requests) requests")
        return parts.joined(separator: " · ")
    }

    /// `p50 3.2 · p99 48 ms`, or `—` before the first interval with requests.
    static func latencyText(_ recent: StatusDocument.Recent?) -> String {
        guard let p50 = recent?.p50Ms, let p99 = recent?.p99Ms else { return "—" }
        return "p50 \(milliseconds(p50)) · p99 \(milliseconds(p99)) ms"
    }

    static func milliseconds(_ value: Double) -> String {
        value < 10 ? String(format: "%.1f", value) : String(Int(value.rounded()))
    }

    /// Two decimals below 1/s (a trickle is not "0.0/s"), one below 10, whole numbers above.
    static func rate(_ perSecond: Double) -> String {
        let digits = perSecond > 0 && perSecond < 1 ? "%.2f" : "%.1f"
        return (perSecond < 10 ? String(format: digits, perSecond) : String(Int(perSecond.rounded()))) + "/s"
    }

    /// "45 s", "4 min", "3 h 5 min", "2 d 4 h".
    static func duration(_ seconds: Int) -> String {
        ElapsedText.detailed(seconds: seconds)
    }

    /// "12 s ago", "4 min ago", "3 h 5 min ago", from an RFC 3339 time.
    static func age(of timestamp: String, now: Date, suffix: String = " ago") -> String {
        guard let date = parse(timestamp) else { return timestamp }
        return duration(Int(now.timeIntervalSince(date))) + suffix
    }

    static func parse(_ timestamp: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: timestamp)
    }

    static func escape(_ text: String) -> String {
        HTMLEscaping.escape(text)
    }
}
