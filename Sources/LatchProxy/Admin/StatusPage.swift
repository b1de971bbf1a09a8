import LatchCore
import Foundation

/// The admin listener's human page (`GET /`): one table per cluster, a row per node, with buttons that
/// change a node's state through `POST /api/nodes/{cluster}/{node}/state`.
///
/// Self-contained: inline CSS and a small inline script, nothing fetched from elsewhere. Without
/// JavaScript it shows the numbers rendered here; with it, it polls `/api/status` every 2 s, updates
/// the rows in place and works out each node's request rate from two consecutive polls.
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
            <style>\(css)</style>
            </head>
            <body>
            <header>
              <div class="title">
                <h1>Latch</h1>
                <span class="sub">status</span>
                <span id="live" class="live" title="Rendered by the server at \(escape(stamp))">snapshot \(escape(stamp))</span>
              </div>
              <label class="token">Admin token
                <input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="only if the admin API needs one">
              </label>
            </header>
            <noscript><p class="note">JavaScript is off: these are the numbers as rendered; reload for new ones. The request rate and the buttons need JavaScript.</p></noscript>
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
            <footer>Polls <code>/api/status</code> every 2 s. Drain: keeps its sessions, takes no new ones. Maintenance: no traffic, its sessions fail over to its replicas. Activate: back to normal.</footer>
            <script>\(script)</script>
            </body>
            </html>

            """
        return out
    }

    // MARK: - Sections and rows

    private static func section(_ cluster: StatusDocument.Cluster, now: Date) -> String {
        let usable = cluster.nodes.filter(\.usable).count
        var out = """
            <section class="cluster" data-cluster="\(escape(cluster.name))">
            <div class="cluster-head">
              <h2>\(escape(cluster.name))</h2>
              <span class="summary" data-field="summary">\(usable) of \(cluster.nodes.count) nodes usable</span>
              <span class="unserved" data-field="unserved">\(escape(unservedText(cluster.unserved)))</span>
            </div>
            <table>
            <thead><tr>
              <th>Node</th><th>Address</th><th>State</th><th>Health</th><th>Usable</th>
              <th class="num" title="Requests in flight">Active</th>
              <th class="num" title="Distinct sessions seen recently">Sessions</th>
              <th class="num">Requests</th>
              <th class="num" title="Requests per second between the last two polls">Rate</th>
              <th class="num" title="Requests that failed because of the node">Errors</th>
              <th>Last sticky</th>
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
        let lastSticky = node.lastStickyRequest.map { text in
            "<time datetime=\"\(escape(text))\" title=\"\(escape(text))\">\(escape(age(of: text, now: now)))</time>"
        } ?? "never"
        return """
            <tr class="node\(node.usable ? "" : " unusable")" data-cluster="\(escape(cluster))" data-node="\(escape(node.name))">
              <td class="name"><strong>\(escape(node.name))</strong></td>
              <td class="addr"><code>\(escape(node.address))</code><small data-field="replicas">\(escape(replicas))</small></td>
              <td data-field="state"><span class="badge state-\(escape(node.effectiveState))">\(escape(node.effectiveState))</span><small>\(escape(stateNote(node)))</small></td>
              <td class="health" data-field="health"><span class="badge health-\(health.kind)">\(health.kind)</span><small title="\(escape(health.detail))">\(escape(health.detail))</small></td>
              <td data-field="usable"><span class="usable-\(node.usable ? "yes" : "no")">\(node.usable ? "yes" : "no")</span></td>
              <td class="num" data-field="active" title="max_connections: \(node.maxConnections == 0 ? "none" : String(node.maxConnections))">\(node.activeRequests)\(node.queuedRequests > 0 ? " +\(node.queuedRequests) queued" : "")</td>
              <td class="num" data-field="sessions">\(node.sessions.map(String.init) ?? "—")</td>
              <td class="num" data-field="requests" title="\(escape(requests.breakdown))"><strong>\(requests.total)</strong><small>sticky \(requests.sticky) · failover \(requests.failover)</small></td>
              <td class="num" data-field="rate" title="needs JavaScript">—</td>
              <td class="num\(node.failures > 0 ? " bad" : "")" data-field="errors" title="retried away: \(node.retriedAway), ejections: \(node.ejections)">\(node.failures)</td>
              <td data-field="last-sticky">\(lastSticky)</td>
              <td class="actions">\(buttons)</td>
            </tr>

            """
    }

    /// Why the node is in the state shown, when that is not simply the operator's: what it announces
    /// itself, the operator's own choice under it, and a running slow start.
    static func stateNote(_ node: StatusDocument.Node) -> String {
        var notes: [String] = []
        if let announced = node.announcedState, announced != "active" { notes.append("node says \(announced)") }
        if node.state != node.effectiveState || (node.announcedState != nil && node.state != "active") {
            notes.append("operator: \(node.state)")
        }
        if let percent = node.slowStartWeightPercent { notes.append("slow start \(percent)%") }
        return notes.joined(separator: " · ")
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

    static func requestCounts(_ requests: [String: Int]) -> (total: Int, sticky: Int, failover: Int, breakdown: String) {
        let total = requests.values.reduce(0, +)
        let sticky = requests["sticky", default: 0]
        let failover = requests["failover_ranked", default: 0] + requests["failover_replica", default: 0] + requests["failover_any", default: 0]
        let breakdown = requests.isEmpty ? "no requests yet" : requests.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        return (total, sticky, failover, breakdown)
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

    /// "12 s ago", "4 min ago", "3 h ago", "2 d ago", from an RFC 3339 time.
    static func age(of timestamp: String, now: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let date = formatter.date(from: timestamp) else { return timestamp }
        return ElapsedText.short(seconds: Int(now.timeIntervalSince(date))) + " ago"
    }

    static func escape(_ text: String) -> String {
        HTMLEscaping.escape(text)
    }

    // MARK: - Inline CSS and script

    private static let css = """

        :root { --fg: #1d2330; --muted: #5f6b7a; --line: #dfe3e8; --bg: #f6f7f9; --card: #fff;
          --green: #1a7f37; --green-bg: #dcf5e3; --amber: #8a5a00; --amber-bg: #fff1c7;
          --slate: #3d4a5c; --slate-bg: #e3e8ef; --red: #b42318; --red-bg: #fde4e1; --blue: #1f5fbf; }
        * { box-sizing: border-box; }
        body { margin: 0; padding: 20px 20px 28px; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
          color: var(--fg); background: var(--bg); }
        header { display: flex; align-items: center; justify-content: space-between; gap: 16px; margin-bottom: 16px; }
        .title { display: flex; align-items: baseline; gap: 10px; }
        h1 { margin: 0; font-size: 22px; letter-spacing: -0.01em; }
        .sub { color: var(--muted); font-size: 16px; }
        .live { color: var(--muted); font-size: 12px; margin-left: 8px; }
        .live::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
          background: #a0a8b3; margin-right: 6px; vertical-align: 0; }
        .live.ok::before { background: var(--green); }
        .live.stale { color: var(--red); }
        .live.stale::before { background: var(--red); }
        .token { color: var(--muted); font-size: 12px; display: flex; align-items: center; gap: 8px; }
        .token input { font: inherit; font-size: 13px; width: 240px; padding: 5px 8px; border: 1px solid var(--line);
          border-radius: 6px; background: var(--card); color: var(--fg); }
        .message { margin: 0 0 14px; padding: 9px 12px; border-radius: 6px; border: 1px solid; font-size: 13px; }
        .message.error { color: var(--red); background: var(--red-bg); border-color: #f3b8b1; }
        .message.info { color: var(--green); background: var(--green-bg); border-color: #a9dfb8; }
        .note { color: var(--muted); }
        .cluster { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin-bottom: 18px; overflow-x: auto; }
        .cluster-head { display: flex; align-items: baseline; gap: 14px; padding: 12px 16px; border-bottom: 1px solid var(--line); }
        h2 { margin: 0; font-size: 16px; }
        .summary { color: var(--muted); font-size: 13px; }
        .unserved { color: var(--red); font-size: 13px; }
        table { width: 100%; border-collapse: collapse; font-size: 13px; }
        th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: 0.02em; color: var(--muted);
          font-weight: 600; padding: 8px 7px; background: #fafbfc; border-bottom: 1px solid var(--line); white-space: nowrap; }
        td { padding: 9px 7px; border-bottom: 1px solid var(--line); vertical-align: top; }
        tbody tr:last-child td { border-bottom: 0; }
        tr.unusable td { background: #fff8f7; }
        .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        td small { display: block; color: var(--muted); font-size: 12px; white-space: nowrap; }
        td.health { min-width: 130px; }
        td.addr small { white-space: normal; }
        td.health small { max-width: 170px; white-space: normal; overflow-wrap: anywhere; }
        td.name strong { font-size: 14px; }
        code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
        td.bad { color: var(--red); font-weight: 600; }
        .badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
        .state-active, .health-up { color: var(--green); background: var(--green-bg); }
        .state-draining { color: var(--amber); background: var(--amber-bg); }
        .state-maintenance { color: var(--slate); background: var(--slate-bg); }
        .health-down { color: var(--red); background: var(--red-bg); }
        .health-unchecked { color: var(--muted); background: #eef0f3; }
        .usable-yes { color: var(--green); font-weight: 600; }
        .usable-no { color: var(--red); font-weight: 600; }
        td.actions { white-space: nowrap; }
        .act { font: inherit; font-size: 12px; padding: 3px 7px; margin-right: 3px; border-radius: 6px; cursor: pointer;
          border: 1px solid #c5ccd6; background: #fff; color: var(--fg); }
        .act:hover:not(:disabled) { border-color: var(--blue); color: var(--blue); }
        .act:disabled { cursor: default; opacity: 0.45; }
        .act.busy { opacity: 0.6; cursor: progress; }
        footer { color: var(--muted); font-size: 12px; margin-top: 6px; }

        """

    /// Polls `/api/status`, updates the rows found by `data-cluster`/`data-node` with `textContent`
    /// (never HTML built from data), and posts state changes.
    private static let script = #"""

        (function () {
          "use strict";
          var TOKEN_KEY = "latch.adminToken";
          var tokenInput = document.getElementById("token");
          var live = document.getElementById("live");
          var message = document.getElementById("message");
          var previous = {};      // "cluster\u0000node" -> { total, at }
          var lastReload = 0;

          try { tokenInput.value = sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) {}
          tokenInput.addEventListener("input", function () {
            try { sessionStorage.setItem(TOKEN_KEY, tokenInput.value); } catch (e) {}
          });

          var hideTimer = null;
          function show(text, kind) {
            message.textContent = text;
            message.className = "message " + kind;
            message.hidden = false;
            clearTimeout(hideTimer);
            // Errors stay until the next action; a success note goes after a few seconds.
            if (kind === "info") hideTimer = setTimeout(function () { message.hidden = true; }, 6000);
          }

          function el(tag, cls, text) {
            var e = document.createElement(tag);
            if (cls) e.className = cls;
            if (text !== undefined) e.textContent = text;
            return e;
          }

          function fill(cell, nodes) {
            if (!cell) return;
            while (cell.firstChild) cell.removeChild(cell.firstChild);
            nodes.forEach(function (n) { cell.appendChild(n); });
          }

          function age(iso) {
            var s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
            if (isNaN(s)) return iso;
            if (s < 60) return s + " s ago";
            if (s < 3600) return Math.floor(s / 60) + " min ago";
            if (s < 86400) return Math.floor(s / 3600) + " h ago";
            return Math.floor(s / 86400) + " d ago";
          }

          function rateText(r) {
            return (r < 10 ? r.toFixed(1) : Math.round(r).toString()) + "/s";
          }

          function rows() {
            var map = {};
            Array.prototype.forEach.call(document.querySelectorAll("tr[data-node]"), function (tr) {
              map[tr.dataset.cluster + "\u0000" + tr.dataset.node] = tr;
            });
            return map;
          }

          function update(doc, at) {
            var map = rows(), seen = 0;
            (doc.clusters || []).forEach(function (cluster) {
              var usable = 0;
              cluster.nodes.forEach(function (node) {
                var key = cluster.name + "\u0000" + node.name;
                var tr = map[key];
                if (!tr) { seen = -Infinity; return; }
                seen++;
                if (node.usable) usable++;
                var cell = function (f) { return tr.querySelector('[data-field="' + f + '"]'); };
                var req = node.requests || {};
                var total = 0;
                Object.keys(req).forEach(function (k) { total += req[k]; });
                var sticky = req.sticky || 0;
                var failover = (req.failover_ranked || 0) + (req.failover_replica || 0) + (req.failover_any || 0);

                tr.classList.toggle("unusable", !node.usable);
                fill(cell("replicas"), [document.createTextNode(node.replicas && node.replicas.length ? "replicas: " + node.replicas.join(", ") : "")]);
                var notes = [];
                if (node.announced_state && node.announced_state !== "active") notes.push("node says " + node.announced_state);
                if (node.state !== node.effective_state || (node.announced_state && node.state !== "active")) notes.push("operator: " + node.state);
                if (node.slow_start_weight_percent != null) notes.push("slow start " + node.slow_start_weight_percent + "%");
                fill(cell("state"), [el("span", "badge state-" + node.effective_state, node.effective_state), el("small", "", notes.join(" \u00b7 "))]);
                var h = node.health ? (node.health.up ? "up" : "down") : "unchecked";
                var detail = node.health ? (node.health.last_check || "not checked yet") : "no active checks";
                var small = el("small", "", detail);
                small.title = detail;
                fill(cell("health"), [el("span", "badge health-" + h, h), small]);
                fill(cell("usable"), [el("span", "usable-" + (node.usable ? "yes" : "no"), node.usable ? "yes" : "no")]);
                cell("active").textContent = node.active_requests + (node.queued_requests > 0 ? " +" + node.queued_requests + " queued" : "");
                cell("sessions").textContent = node.sessions == null ? "\u2014" : node.sessions;
                var r = cell("requests");
                fill(r, [el("strong", "", String(total)), el("small", "", "sticky " + sticky + " \u00b7 failover " + failover)]);
                r.title = Object.keys(req).length ? Object.keys(req).sort().map(function (k) { return k + ": " + req[k]; }).join(", ") : "no requests yet";
                var e = cell("errors");
                e.textContent = node.failures;
                e.classList.toggle("bad", node.failures > 0);
                e.title = "retried away: " + node.retried_away + ", ejections: " + node.ejections;
                var rate = cell("rate"), p = previous[key];
                if (p && at > p.at) {
                  rate.textContent = rateText(Math.max(0, total - p.total) * 1000 / (at - p.at));
                  rate.title = "between the last two polls";
                } else {
                  rate.textContent = "\u2026";
                  rate.title = "needs a second poll";
                }
                previous[key] = { total: total, at: at };
                if (node.last_sticky_request) {
                  var t = el("time", "", age(node.last_sticky_request));
                  t.setAttribute("datetime", node.last_sticky_request);
                  t.title = node.last_sticky_request;
                  fill(cell("last-sticky"), [t]);
                } else {
                  cell("last-sticky").textContent = "never";
                }
                Array.prototype.forEach.call(tr.querySelectorAll("button.act"), function (b) {
                  if (!b.classList.contains("busy")) b.disabled = b.dataset.state === node.state;
                });
              });
              Array.prototype.forEach.call(document.querySelectorAll("section[data-cluster]"), function (s) {
                if (s.dataset.cluster !== cluster.name) return;
                s.querySelector('[data-field="summary"]').textContent = usable + " of " + cluster.nodes.length + " nodes usable";
                var un = cluster.unserved || {};
                var parts = Object.keys(un).filter(function (k) { return un[k] > 0; }).sort()
                  .map(function (k) { return k.replace(/_/g, " ") + " " + un[k]; });
                s.querySelector('[data-field="unserved"]').textContent = parts.length ? "unserved: " + parts.join(", ") : "";
              });
            });
            // Clusters or nodes changed (a config reload): take the server's new page, at most every 10 s.
            if (seen !== Object.keys(map).length && Date.now() - lastReload > 10000) {
              lastReload = Date.now();
              location.reload();
            }
          }

          function poll() {
            fetch("/api/status", { cache: "no-store", headers: { "Accept": "application/json" } })
              .then(function (res) {
                if (!res.ok) throw new Error("HTTP " + res.status);
                return res.json();
              })
              .then(function (doc) {
                update(doc, Date.now());
                live.className = "live ok";
                live.textContent = "live \u00b7 updated " + new Date().toLocaleTimeString();
                live.title = "polls /api/status every 2 s";
              })
              .catch(function (err) {
                live.className = "live stale";
                live.textContent = "not updating: " + err.message;
              });
          }

          function setState(button) {
            var tr = button.closest("tr");
            var node = tr ? tr.dataset.node : "";
            var state = button.dataset.state;
            if (state === "maintenance" &&
                !confirm("Put " + node + " in maintenance? It takes no traffic; its sessions fail over to its replicas.")) return;
            var headers = { "Content-Type": "application/json" };
            var token = tokenInput.value.trim();
            if (token) headers["Authorization"] = "Bearer " + token;
            var buttons = tr ? tr.querySelectorAll("button.act") : [button];
            Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; b.classList.add("busy"); });
            fetch(button.dataset.url, { method: "POST", headers: headers, body: JSON.stringify({ state: state }) })
              .then(function (res) {
                return res.text().then(function (text) {
                  var body = {};
                  try { body = JSON.parse(text); } catch (e) {}
                  if (!res.ok) throw new Error((body.error || text || "request failed") + " (HTTP " + res.status + ")");
                  return body;
                });
              })
              .then(function (body) {
                show(node + ": " + (body.previous || "?") + " \u2192 " + (body.state || state), "info");
              })
              .catch(function (err) {
                show("Could not set " + node + " to " + state + ": " + err.message, "error");
              })
              .then(function () {
                Array.prototype.forEach.call(buttons, function (b) { b.classList.remove("busy"); b.disabled = false; });
                poll();
              });
          }

          document.addEventListener("click", function (event) {
            var b = event.target.closest ? event.target.closest("button.act") : null;
            if (b && !b.disabled) setState(b);
          });

          poll();
          setInterval(poll, 2000);
        })();

        """#
}
