import Foundation
import LatchCore
import LatchProxy
import Logging
import NIOCore
import NIOHTTP1
import Testing

@Suite("Admin API and node states", .timeLimit(.minutes(1)))
struct AdminLiveTests {
    @Test("a request naming the admin listener by a foreign host name is refused (DNS rebinding)")
    func foreignHostIsRefused() async throws {
        try await withAdmin { h, admin in
            let port = Int(admin.split(separator: ":").last!)!
            func raw(_ text: String) async throws -> String {
                let client = try await RawClient.connect(port: port, group: h.group)
                try await client.send(text)
                let answer = try await client.wait { _, closed in closed }
                await client.close()
                return answer
            }
            let evil = try await raw("GET /api/status HTTP/1.1\r\nHost: evil.example:\(port)\r\nConnection: close\r\n\r\n")
            #expect(evil.hasPrefix("HTTP/1.1 403 Forbidden\r\n"), "\(evil)")
            #expect(evil.contains("a name listed in admin.hosts (a DNS rebinding guard)"))
            #expect(!evil.contains("evil.example"), "the refused name is not echoed")
            let post = try await raw("POST /api/nodes/shop/tomcat1/state HTTP/1.1\r\nHost: evil.example\r\n"
                + "Content-Type: application/json\r\nContent-Length: 21\r\n\r\n{\"state\": \"draining\"}")
            #expect(post.hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
            #expect(h.server.nodeStates(cluster: 0)[0] == .active)
            for host in ["localhost:\(port)", "127.0.0.1:\(port)", "[::1]:\(port)"] {
                let fine = try await raw("GET /api/status HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
                #expect(fine.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(host): \(fine.prefix(80))")
            }
        }
    }

    @Test("GET /api/status describes clusters, nodes, states, load and counters as JSON")
    func status() async throws {
        try await withAdmin { h, admin in
            _ = try await h.get(cookie: "JSESSIONID=A.tomcat1")
            let (status, body) = try await request(h, admin + "/api/status")
            #expect(status == .ok)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            #expect(json["version"] as? String == LatchVersion.current)
            let cluster = try #require((json["clusters"] as? [[String: Any]])?.first)
            #expect(cluster["name"] as? String == "shop")
            let nodes = try #require(cluster["nodes"] as? [[String: Any]])
            #expect(nodes.map { $0["name"] as? String } == ["tomcat1", "tomcat2", "tomcat3"])
            #expect(nodes[0]["state"] as? String == "active")
            #expect(nodes[0]["usable"] as? Bool == true)
            #expect((nodes[0]["requests"] as? [String: Int])?["sticky"] == 1)
            #expect(nodes[0]["last_sticky_request"] is String)
            #expect(nodes[0]["replicas"] as? [String] == ["tomcat2"])
            #expect(nodes[0]["active_requests"] as? Int == 0)
            #expect(nodes[0]["queued_requests"] as? Int == 0)
            #expect(nodes[0]["max_connections"] as? Int == 200)
        }
    }

    @Test("draining keeps sticky sessions and takes no new ones; maintenance fails its sessions over")
    func drainAndMaintenance() async throws {
        try await withAdmin { h, admin in
            let (set, reply) = try await request(h, admin + "/api/nodes/shop/tomcat1/state", method: .POST, body: #"{"state": "draining"}"#)
            #expect(set == .ok)
            #expect(reply.contains(#""previous":"active""#) && reply.contains(#""state":"draining""#))
            #expect(h.server.nodeStates(cluster: 0) == [.draining, .active, .active])
            #expect(try await h.get(cookie: "JSESSIONID=A.tomcat1").latchNode == "tomcat1", "its sessions stay")
            for _ in 0..<6 {
                #expect(try await h.get().latchNode != "tomcat1", "no new session lands on it")
            }
            _ = try await request(h, admin + "/api/nodes/shop/tomcat1/state", method: .POST, body: #"{"state": "maintenance"}"#)
            #expect(try await h.get(cookie: "JSESSIONID=A.tomcat1").latchNode == "tomcat2", "to its replica, as if down")
            _ = try await request(h, admin + "/api/nodes/shop/tomcat1/state", method: .POST, body: #"{"state": "active"}"#)
            #expect(try await h.get(cookie: "JSESSIONID=A.tomcat1").latchNode == "tomcat1")
        }
    }

    @Test("state changes need the bearer token when one is configured; reads do not")
    func token() async throws {
        try await withAdmin(token: "s3cret") { h, admin in
            let url = admin + "/api/nodes/shop/tomcat2/state"
            let (none, _) = try await request(h, url, method: .POST, body: #"{"state": "draining"}"#)
            #expect(none == .unauthorized)
            let (wrong, _) = try await request(h, url, method: .POST, body: #"{"state": "draining"}"#, token: "guess")
            #expect(wrong == .unauthorized)
            #expect(h.server.nodeStates(cluster: 0) == [.active, .active, .active])
            let (right, _) = try await request(h, url, method: .POST, body: #"{"state": "draining"}"#, token: "s3cret")
            #expect(right == .ok)
            #expect(h.server.nodeStates(cluster: 0) == [.active, .draining, .active])
            let (read, _) = try await request(h, admin + "/api/status")
            #expect(read == .ok)
        }
    }

    @Test("bad requests get clear errors")
    func badRequests() async throws {
        try await withAdmin { h, admin in
            let (unknownState, a) = try await request(h, admin + "/api/nodes/shop/tomcat1/state", method: .POST, body: #"{"state": "asleep"}"#)
            #expect(unknownState == .badRequest && a.contains("unknown state"))
            let (notJSON, _) = try await request(h, admin + "/api/nodes/shop/tomcat1/state", method: .POST, body: "draining")
            #expect(notJSON == .badRequest)
            let (noNode, b) = try await request(h, admin + "/api/nodes/shop/tomcat9/state", method: .POST, body: #"{"state": "draining"}"#)
            #expect(noNode == .notFound && b.contains("tomcat9"))
            let (wrongMethod, _) = try await request(h, admin + "/api/nodes/shop/tomcat1/state")
            #expect(wrongMethod == .methodNotAllowed)
            let (missing, _) = try await request(h, admin + "/nope")
            #expect(missing == .notFound)
        }
    }

    @Test("runtime state changes survive a restart through the state file")
    func stateFileRoundTrip() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("latch-state-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withAdmin(stateFile: path) { h, admin in
            _ = try await request(h, admin + "/api/nodes/shop/tomcat3/state", method: .POST, body: #"{"state": "maintenance"}"#)
        }
        // A new Latch with the same lb.yaml and state file starts with tomcat3 in maintenance.
        try await withAdmin(stateFile: path) { h, _ in
            #expect(h.server.nodeStates(cluster: 0) == [.active, .active, .maintenance])
        }
    }

    @Test("POST /api/reload applies a good lb.yaml, rejects a broken one with its located error, and needs the token")
    func reloadEndpoint() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("latch-admin-reload-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withAdmin(token: "t0k", reloadFrom: path) { h, admin in
            let nodes = h.backends.map { "      - { name: \($0.name), address: 127.0.0.1:\($0.port) }" }.joined(separator: "\n")
            try "listen:\n  - address: 127.0.0.1:0\nclusters:\n  - name: shop\n    balance: least_connections\n    nodes:\n\(nodes)\n"
                .write(toFile: path, atomically: true, encoding: .utf8)
            let (unauthorized, _) = try await request(h, admin + "/api/reload", method: .POST)
            #expect(unauthorized == .unauthorized)
            let (ok, body) = try await request(h, admin + "/api/reload", method: .POST, token: "t0k")
            #expect(ok == .ok, "\(body)")
            #expect(body.contains("\"applied\":true"))
            #expect(h.server.config.clusters[0].balance == .leastConnections)

            try "listen: [\n".write(toFile: path, atomically: true, encoding: .utf8)
            let (rejected, reason) = try await request(h, admin + "/api/reload", method: .POST, token: "t0k")
            #expect(rejected == .unprocessableEntity)
            #expect(reason.contains("\"applied\":false") && reason.contains("invalid YAML"))
            #expect(h.server.config.clusters[0].balance == .leastConnections, "the running configuration stays")
        }
    }

    /// `name{a="x",b="y"} value` lines of the Prometheus text format, labels as a dictionary.
    static func samples(_ text: String) -> [(name: String, labels: [String: String], value: Double)] {
        text.split(separator: "\n").compactMap { line -> (String, [String: String], Double)? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else { return (String(series), [:], value) }
            var labels: [String: String] = [:]
            for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
            return (String(series[..<brace]), labels, value)
        }
    }

    @Test("GET /metrics is Prometheus text with requests by node, reason and status class, durations, connect errors and gauges")
    func metrics() async throws {
        try await withAdmin { h, admin in
            for _ in 0..<3 { _ = try await h.get(cookie: "JSESSIONID=M.tomcat1") }
            await h.backend("tomcat2").close()
            _ = try await h.get(cookie: "JSESSIONID=M.tomcat2")
            let (status, text) = try await request(h, admin + "/metrics")
            #expect(status == .ok)
            let samples = Self.samples(text)
            func value(_ name: String, _ labels: [String: String]) -> Double? {
                samples.first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?.value
            }
            #expect(value("latch_build_info", ["version": LatchVersion.current]) == 1)
            #expect(value("latch_requests_total", ["cluster": "shop", "node": "tomcat1", "reason": "sticky", "status_class": "2xx"]) == 3)
            #expect(value("latch_upstream_connect_errors_total", ["cluster": "shop", "node": "tomcat2"]) == 1)
            func sum(_ name: String, _ labels: [String: String] = [:]) -> Double {
                samples.filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }
                    .reduce(0) { $0 + $1.value }
            }
            // The dead node's session failed over to another node (no replica set: failover_any).
            #expect(sum("latch_requests_total", ["reason": "failover_any", "status_class": "2xx"]) == 1)
            #expect(sum("latch_request_duration_seconds_count") == 4)
            #expect(value("latch_ejections_total", ["cluster": "shop", "node": "tomcat2"]) == 1)
            #expect(value("latch_node_usable", ["cluster": "shop", "node": "tomcat2"]) == 0)
            #expect(value("latch_node_state", ["cluster": "shop", "node": "tomcat1", "state": "active"]) == 1)
            #expect(sum("latch_sessions") == 2, "M.tomcat1 on its node, M.tomcat2 where it failed over")
            #expect(value("latch_active_requests", ["cluster": "shop", "node": "tomcat1"]) == 0)
            #expect(value("latch_queued_requests", ["cluster": "shop", "node": "tomcat1"]) == 0)
            // A second scrape does not count the stats-fed counters twice.
            let again = Self.samples(try await request(h, admin + "/metrics").1)
            #expect(again.first { $0.name == "latch_ejections_total" && $0.labels["node"] == "tomcat2" }?.value == 1)
        }
    }

    /// `promtool check metrics` on `text` (Debian's prometheus package; Scripts/test installs it):
    /// its exit status and what it said.
    static func promtool(_ text: String) throws -> (status: ChildProcess.Termination, output: String) {
        let ran = try Spawn.run("/usr/bin/promtool", ["check", "metrics"], input: text)
        return (ran.status, ran.stdout + ran.stderr)
    }

    @Test("/metrics passes promtool's checks, has every series at 0 before any event, process and reload metrics, and answers HEAD")
    func metricsAScraperCanTrust() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("latch-metrics-reload-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withAdmin(reloadFrom: path) { h, admin in
            let (status, text) = try await request(h, admin + "/metrics")
            #expect(status == .ok)
            let checked = try Self.promtool(text)
            #expect(checked.status == .exited(0) && checked.output.isEmpty, "promtool: \(checked.output)")
            // Every family says what it is.
            let families = Set(Self.samples(text).map { $0.name.replacingOccurrences(of: #"_(bucket|sum|count)$"#, with: "", options: .regularExpression) })
            for family in families {
                #expect(text.contains("# HELP \(family) "), "no HELP for \(family)")
                #expect(text.contains("# TYPE \(family) "), "no TYPE for \(family)")
            }
            // Before any request or failure, the series alerts are written on are there, at 0.
            let samples = Self.samples(text)
            func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
                samples.first { sample in sample.name == name && labels == sample.labels }?.value
            }
            for node in ["tomcat1", "tomcat2", "tomcat3"] {
                #expect(value("latch_upstream_connect_errors_total", ["cluster": "shop", "node": node]) == 0)
                #expect(value("latch_requests_total", ["cluster": "shop", "node": node, "reason": "sticky", "status_class": "5xx"]) == 0)
                #expect(value("latch_request_duration_seconds_count", ["cluster": "shop", "node": node]) == 0)
            }
            #expect(value("latch_client_connections_refused_total") == 0)
            for reason in ["head_too_large", "uri_too_long", "body_too_large", "malformed", "not_implemented", "queue_full", "queue_timeout"] {
                #expect(value("latch_requests_refused_total", ["reason": reason]) == 0, "\(reason)")
            }
            #expect(value("latch_reloads_total", ["result": "success"]) == 0)
            #expect(value("latch_config_last_reload_successful") == 1)
            #expect((value("process_resident_memory_bytes") ?? 0) > 1_000_000)
            #expect((value("process_open_fds") ?? 0) > 0)
            #expect((value("process_max_fds") ?? 0) > 0)
            #expect((value("process_cpu_seconds_total") ?? 0) > 0)
            #expect(abs((value("process_start_time_seconds") ?? 0) - Date().timeIntervalSince1970) < 3600)

            // Reloads, by result.
            let nodes = h.backends.map { "      - { name: \($0.name), address: 127.0.0.1:\($0.port) }" }.joined(separator: "\n")
            try "listen:\n  - address: 127.0.0.1:0\nclusters:\n  - name: shop\n    nodes:\n\(nodes)\n".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(try await request(h, admin + "/api/reload", method: .POST).0 == .ok)
            try "listen: [\n".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(try await request(h, admin + "/api/reload", method: .POST).0 == .unprocessableEntity)
            let after = Self.samples(try await request(h, admin + "/metrics").1)
            #expect(after.first { $0.name == "latch_reloads_total" && $0.labels["result"] == "success" }?.value == 1)
            #expect(after.first { $0.name == "latch_reloads_total" && $0.labels["result"] == "failure" }?.value == 1)
            #expect(after.first { $0.name == "latch_config_last_reload_successful" }?.value == 0)

            // HEAD: GET's head, Content-Length included, and no body.
            let port = Int(admin.split(separator: ":").last!)!
            let client = try await RawClient.connect(port: port, group: h.group)
            try await client.send("HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            let head = try await client.wait { _, closed in closed }
            #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(head)")
            #expect(head.contains("Content-Length: ") && head.hasSuffix("\r\n\r\n"), "\(head)")
            let (wrong, _) = try await request(h, admin + "/metrics", method: .POST)
            #expect(wrong == .methodNotAllowed)
        }
    }

    @Test("a reload that removes a node removes its series; a kept node keeps its counts; one added is there at 0")
    func seriesFollowReloads() async throws {
        try await withAdmin { h, admin in
            for _ in 0..<2 { _ = try await h.get(cookie: "JSESSIONID=R.tomcat1") }
            var config = h.server.config
            config.clusters[0].nodes.removeAll { $0.name == "tomcat3" }
            config.clusters[0].nodes.append(NodeConfig(name: "tomcat4", address: HostPort(host: "127.0.0.1", port: h.backend("tomcat3").port)))
            try await h.server.reload(config)
            let text = try await request(h, admin + "/metrics").1
            #expect(try Self.promtool(text).status == .exited(0))
            let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
            #expect(!lines.contains { $0.contains("node=\"tomcat3\"") }, "\(lines.filter { $0.contains("tomcat3") })")
            #expect(lines.contains(#"latch_requests_total{cluster="shop",node="tomcat1",reason="sticky",status_class="2xx"} 2"#))
            #expect(lines.contains(#"latch_upstream_connect_errors_total{cluster="shop",node="tomcat4"} 0"#))
            #expect(lines.contains { $0.hasPrefix(#"latch_active_requests{cluster="shop",node="tomcat4"}"#) })
        }
    }

    @Test("state changes refuse what a foreign web page could send: non-JSON bodies and cross-site requests; pages cannot be framed")
    func crossSiteRequestsAreRefused() async throws {
        try await withAdmin { h, admin in
            func post(_ headers: [(String, String)]) async throws -> HTTPResponseStatus {
                try await h.send(.POST, "/api/nodes/shop/tomcat1/state", headers: HTTPHeaders(headers), body: #"{"state":"maintenance","x":"="}"#, url: admin).status
            }
            #expect(try await post([("Content-Type", "text/plain")]) == .unsupportedMediaType)
            #expect(try await post([("Content-Type", "application/json"), ("Origin", "https://evil.example")]) == .forbidden)
            #expect(try await post([("Content-Type", "application/json"), ("Sec-Fetch-Site", "cross-site")]) == .forbidden)
            #expect(h.server.nodeStates(cluster: 0) == [.active, .active, .active])
            let page = try await h.get(url: admin)
            #expect(page.headers.first(name: "X-Frame-Options") == "DENY")
        }
    }
}
