/// The status page's live part: polls `/api/status`, updates the rows found by
/// `data-cluster`/`data-node` with `textContent` (never HTML built from data), works out each node's
/// request rate from two consecutive polls, and posts state changes — Drain and Maintenance only
/// after a confirmation, as both change where sessions go.
enum StatusPageScript {
    static let script = #"""

        var Latch = (function () {
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
            nodes.forEach(function (n) { if (n) cell.appendChild(typeof n === "string" ? document.createTextNode(n) : n); });
          }

          function duration(s) {
            s = Math.max(0, Math.floor(s));
            if (s < 60) return s + " s";
            if (s < 3600) return Math.floor(s / 60) + " min";
            if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min";
            return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
          }

          // The server's clock minus the browser's, in ms (set from /api/history's `now`): times from
          // the server are measured against the server's clock, whatever the browser's says.
          var skew = 0;
          function now() { return Date.now() + skew; }

          function since(iso) {
            var t = Date.parse(iso);
            return isNaN(t) ? iso : duration((now() - t) / 1000);
          }

          function rate(r) {
            return (r < 1 && r > 0 ? r.toFixed(2) : r < 10 ? r.toFixed(1) : Math.round(r).toString()) + "/s";
          }

          function ms(v) {
            return v < 10 ? v.toFixed(1) : Math.round(v).toString();
          }

          var REASONS = ["sticky", "stayed", "failover_ranked", "failover_replica", "failover_any", "rejected", "new", "no_route", "unknown_route", "no_node", "redirect"];
          function reasons(req) {
            return Object.keys(req).filter(function (k) { return req[k] > 0; }).sort(function (a, b) {
              var i = REASONS.indexOf(a), j = REASONS.indexOf(b);
              return (i < 0 ? 99 : i) - (j < 0 ? 99 : j) || (a < b ? -1 : 1);
            }).map(function (k) { return k.replace(/_/g, " ") + " " + req[k]; }).join(" \u00b7 ");
          }

          function rows() {
            var map = {};
            Array.prototype.forEach.call(document.querySelectorAll("tr[data-node]"), function (tr) {
              map[tr.dataset.cluster + "\u0000" + tr.dataset.node] = tr;
            });
            return map;
          }

          /// Updates one row; returns the request rate it shows (`null` when it shows none).
          function updateNode(tr, node, key, at) {
            var cell = function (f) { return tr.querySelector('[data-field="' + f + '"]'); };
            var req = node.requests || {};
            var total = 0;
            Object.keys(req).forEach(function (k) { total += req[k]; });
            var recent = node.recent;

            tr.classList.toggle("unusable", !node.usable);
            fill(cell("replicas"), [node.replicas && node.replicas.length ? "replicas: " + node.replicas.join(", ") : ""]);
            var notes = [];
            if (node.announced_state && node.announced_state !== "active") notes.push("node says " + node.announced_state);
            if (node.state !== node.effective_state || (node.announced_state && node.state !== "active")) notes.push("operator: " + node.state);
            if (node.slow_start_weight_percent != null) notes.push("slow start " + node.slow_start_weight_percent + "%");
            if (node.state_since) notes.push("for " + since(node.state_since));
            fill(cell("state"), [el("span", "badge state-" + node.effective_state, node.effective_state), el("small", "", notes.join(" \u00b7 "))]);

            var h = node.health ? (node.health.up ? "up" : "down") : "unchecked";
            var detail = node.health ? (node.health.last_check || "not checked yet") : "no active checks";
            var small = el("small", "", detail);
            small.title = detail;
            fill(cell("health"), [
              el("span", "badge health-" + h, h),
              node.usable ? null : el("span", "usable-no", "not usable"),
              small,
              el("small", "", node.health && node.health_since ? h + " for " + since(node.health_since) : "")
            ]);

            var sessionNote = node.last_sticky_request ? "last sticky " + since(node.last_sticky_request) + " ago" : "no sticky request yet";
            if (node.effective_state === "draining" && node.drain_end_estimate) {
              var left = (Date.parse(node.drain_end_estimate) - now()) / 1000;
              sessionNote = left > 0 ? "empty in ~" + duration(left) : "empty now";
            }
            fill(cell("sessions"), [node.sessions == null ? "\u2014" : String(node.sessions), el("small", "", sessionNote)]);
            fill(cell("active"), [String(node.active_requests), node.queued_requests > 0 ? el("small", "", "+" + node.queued_requests + " queued") : null]);

            var p = previous[key], perSecond = null;
            if (p && at > p.at) perSecond = Math.max(0, total - p.total) * 1000 / (at - p.at);
            else if (recent) perSecond = recent.requests_per_second;
            previous[key] = { total: total, at: at };
            var r = cell("requests");
            var rateCell = el("small", "", perSecond == null ? "\u2014" : rate(perSecond));
            rateCell.dataset.field = "rate";
            fill(r, [el("strong", "", String(total)), rateCell, el("small", "", reasons(req))]);
            r.title = Object.keys(req).length ? Object.keys(req).sort().map(function (k) { return k + ": " + req[k]; }).join(", ") : "no requests yet";

            cell("latency").textContent = recent && recent.p50_ms != null && recent.p99_ms != null
              ? "p50 " + ms(recent.p50_ms) + " \u00b7 p99 " + ms(recent.p99_ms) + " ms" : "\u2014";
            var e = cell("errors");
            fill(e, [String(node.failures), recent ? el("small", "", "5xx " + rate(recent.server_errors_per_second)) : null]);
            e.classList.toggle("bad", node.failures > 0);
            e.title = "retried away: " + node.retried_away + ", ejections: " + node.ejections;
            Array.prototype.forEach.call(tr.querySelectorAll("button.act"), function (b) {
              if (!b.classList.contains("busy")) b.disabled = b.dataset.state === node.state;
            });
            return perSecond;
          }

          /// The cluster's totals; its rate is the sum of the rates the rows show, so they add up.
          function totalsText(t, perSecond) {
            if (!t) return "";
            var parts = [];
            if (perSecond != null) parts.push(rate(perSecond));
            else if (t.requests_per_second != null) parts.push(rate(t.requests_per_second));
            if (t.server_errors_per_second != null) parts.push("5xx " + rate(t.server_errors_per_second));
            parts.push(t.sessions + " sessions", t.active_requests + " in flight", t.requests + " requests");
            return parts.join(" \u00b7 ");
          }

          function update(doc, at) {
            var map = rows(), seen = 0;
            if (doc.uptime_seconds != null) document.getElementById("uptime").textContent = "up " + duration(doc.uptime_seconds);
            (doc.clusters || []).forEach(function (cluster) {
              var usable = 0, perSecond = null;
              cluster.nodes.forEach(function (node) {
                var key = cluster.name + "\u0000" + node.name;
                var tr = map[key];
                if (!tr) { seen = -Infinity; return; }
                seen++;
                if (node.usable) usable++;
                var shown = updateNode(tr, node, key, at);
                if (shown != null) perSecond = (perSecond || 0) + shown;
              });
              Array.prototype.forEach.call(document.querySelectorAll("section[data-cluster]"), function (s) {
                if (s.dataset.cluster !== cluster.name) return;
                s.querySelector('[data-field="summary"]').textContent = usable + " of " + cluster.nodes.length + " nodes usable";
                s.querySelector('[data-field="totals"]').textContent = totalsText(cluster.totals, perSecond);
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

          var CONFIRM = {
            draining: "Drain {node}? It keeps its current sessions but takes no new ones; it moves to maintenance once they are gone.",
            maintenance: "Put {node} in maintenance? It takes no traffic; its sessions fail over to its replicas."
          };

          function setState(button) {
            var tr = button.closest("tr");
            var node = tr ? tr.dataset.node : "";
            var state = button.dataset.state;
            if (CONFIRM[state] && !confirm(CONFIRM[state].replace("{node}", node))) return;
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
          return {
            el: el, fill: fill, duration: duration, rate: rate, ms: ms, now: now,
            setServerTime: function (serverMilliseconds) { skew = serverMilliseconds - Date.now(); }
          };
        })();

        """#
}
