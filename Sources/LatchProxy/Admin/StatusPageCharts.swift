/// The status page's charts: fetches `/api/history` once, then only what is new (`?after=` the last
/// document's `sequence`) every history interval (2 to 30 s), and draws three small SVG charts per node — requests/s with 5xx and failures,
/// p50/p99 latency, sessions — over the whole span kept, with the node's state, health and
/// ejection events as vertical lines. Plain SVG built with DOM calls: no library, nothing fetched
/// from elsewhere, no markup built from data.
enum StatusPageCharts {
    static let script = #"""

        (function () {
          "use strict";
          var SVG = "http://www.w3.org/2000/svg";
          var W = 300, H = 54;
          var CHARTS_KEY = "latch.charts";
          var store = {};         // "cluster\u0000node" -> { points, events, drainEnd }
          var interval = 10, kept = 360, cursor = null;
          var toggle = document.getElementById("charts-toggle");

          function shown() { return toggle.checked; }
          try { toggle.checked = localStorage.getItem(CHARTS_KEY) !== "off"; } catch (e) {}
          document.body.classList.toggle("no-charts", !shown());
          toggle.addEventListener("change", function () {
            document.body.classList.toggle("no-charts", !shown());
            try { localStorage.setItem(CHARTS_KEY, shown() ? "on" : "off"); } catch (e) {}
            draw();
          });

          function svg(tag, attributes) {
            var e = document.createElementNS(SVG, tag);
            Object.keys(attributes).forEach(function (k) { e.setAttribute(k, attributes[k]); });
            return e;
          }

          function line(values, x, y, color, dashed) {
            var d = "", pen = false;
            values.forEach(function (v, i) {
              if (v == null) { pen = false; return; }
              d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
              pen = true;
            });
            var path = svg("path", { d: d || "M0 0", fill: "none", stroke: color, "stroke-width": 1.5,
              "vector-effect": "non-scaling-stroke", "stroke-linejoin": "round" });
            if (dashed) path.setAttribute("stroke-dasharray", "3 2");
            return path;
          }

          function clock(t) { return new Date(t * 1000).toLocaleTimeString(); }

          /// One chart: a title with the latest value, and its series over [t0, t1].
          function chart(title, latest, series, points, events, t0, t1, extra) {
            var box = Latch.el("div", "chart");
            var head = Latch.el("div", "chart-title");
            head.appendChild(Latch.el("span", "", title));
            head.appendChild(Latch.el("b", "", latest));
            box.appendChild(head);
            var top = 0;
            series.forEach(function (s) { s.values.forEach(function (v) { if (v != null && v > top) top = v; }); });
            top = top > 0 ? top * 1.15 : 1;
            var x = function (i) { return (points[i].time - t0) / (t1 - t0) * W; };
            var y = function (v) { return H - 2 - v / top * (H - 6); };
            var picture = svg("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img" });
            var label = svg("title", {});
            label.textContent = title + " over the last " + Latch.duration(t1 - t0) + (top > 1 || series.some(function (s) {
              return s.values.some(function (v) { return v != null; });
            }) ? "; peak " + (top / 1.15).toFixed(1) : "; no data");
            picture.appendChild(label);
            events.forEach(function (e) {
              if (e.time < t0) return;
              var ex = (e.time - t0) / (t1 - t0) * W;
              var mark = svg("line", { x1: ex, x2: ex, y1: 0, y2: H, "stroke-width": 1.5, "vector-effect": "non-scaling-stroke",
                stroke: e.kind === "health" ? "#d92d20" : e.kind === "ejected" ? "#7a5af8" : "#b57a00" });
              mark.setAttribute("class", "event event-" + e.kind);
              var tip = svg("title", {});
              tip.textContent = clock(e.time) + " " + e.kind + ": " + e.from + " \u2192 " + e.to;
              mark.appendChild(tip);
              picture.appendChild(mark);
            });
            series.forEach(function (s) { picture.appendChild(line(s.values, x, y, s.color, s.dashed)); });
            if (extra) extra(picture, x, y);
            box.appendChild(picture);
            return box;
          }

          function draw() {
            if (!shown()) return;
            // The whole span kept, or less while the history is young (at least 30 points' worth), so
            // the first minutes are not a sliver at the right edge.
            var t1 = Latch.now() / 1000, oldest = t1;
            Object.keys(store).forEach(function (k) { if (store[k].points.length) oldest = Math.min(oldest, store[k].points[0].time); });
            var t0 = Math.max(t1 - interval * kept, Math.min(oldest - interval, t1 - interval * 30));
            Array.prototype.forEach.call(document.querySelectorAll("tr.charts"), function (tr) {
              var h = store[tr.dataset.chartCluster + "\u0000" + tr.dataset.chartNode];
              var row = tr.querySelector(".chart-row");
              if (!h || !row) return;
              var points = h.points.filter(function (p) { return p.time >= t0; });
              if (!points.length) {
                Latch.fill(row, [Latch.el("div", "chart-empty", "History: the first point comes " + Latch.duration(interval) + " after start.")]);
                return;
              }
              var perSecond = function (f) { return points.map(function (p) { return f(p) / p.seconds; }); };
              var newest = points[points.length - 1];
              var requests = perSecond(function (p) { return p.ok + p.client_errors + p.server_errors + p.unanswered; });
              var errors = perSecond(function (p) { return p.server_errors; });
              var failures = perSecond(function (p) { return p.failures; });
              var p50 = points.map(function (p) { return p.p50_ms; });
              var p99 = points.map(function (p) { return p.p99_ms; });
              var sessions = points.map(function (p) { return p.sessions; });
              var drainNote = "";
              if (newest.state === "draining" && h.drainEnd) {
                var left = h.drainEnd - t1;
                drainNote = left > 0 ? " \u00b7 empty in ~" + Latch.duration(left) : " \u00b7 empty now";
              }
              Latch.fill(row, [
                chart("Requests/s", Latch.rate(requests[requests.length - 1]) +
                  (errors[errors.length - 1] > 0 ? " \u00b7 5xx " + Latch.rate(errors[errors.length - 1]) : "") +
                  (failures[failures.length - 1] > 0 ? " \u00b7 failed " + Latch.rate(failures[failures.length - 1]) : ""),
                  [{ values: requests, color: "#2f6fdb" }, { values: errors, color: "#d92d20" }, { values: failures, color: "#7a5af8", dashed: true }],
                  points, h.events, t0, t1),
                chart("Latency p50 \u00b7 p99", newest.p99_ms == null ? "\u2014" : Latch.ms(newest.p50_ms) + " \u00b7 " + Latch.ms(newest.p99_ms) + " ms",
                  [{ values: p50, color: "#6172f3" }, { values: p99, color: "#b54708" }], points, h.events, t0, t1),
                chart("Sessions" + drainNote, newest.sessions == null ? "\u2014" : String(newest.sessions),
                  [{ values: sessions, color: "#0e9384" }], points, h.events, t0, t1)
              ]);
            });
          }

          /// Adds what the document has: with `after`, only points and events not seen before.
          function merge(doc) {
            interval = doc.interval_seconds || interval;
            kept = doc.points_kept || kept;
            if (doc.now) Latch.setServerTime(doc.now * 1000);
            (doc.clusters || []).forEach(function (cluster) {
              cluster.nodes.forEach(function (node) {
                var key = cluster.name + "\u0000" + node.name;
                var h = store[key] || (store[key] = { points: [], events: [] });
                h.points = h.points.concat(node.points).slice(-kept);
                h.events = h.events.concat(node.events).slice(-100);
                h.drainEnd = node.drain_end_estimate;
              });
            });
            cursor = doc.sequence;
          }

          function fetchHistory() {
            fetch("/api/history" + (cursor == null ? "" : "?after=" + cursor), { cache: "no-store", headers: { "Accept": "application/json" } })
              .then(function (res) {
                if (!res.ok) throw new Error("HTTP " + res.status);
                return res.json();
              })
              .then(function (doc) { merge(doc); draw(); })
              .catch(function () {})
              .then(function () { setTimeout(fetchHistory, Math.min(Math.max(interval, 2), 30) * 1000); });
          }

          fetchHistory();
        })();

        """#
}
