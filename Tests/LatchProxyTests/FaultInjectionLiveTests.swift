import LatchCore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Testing

/// Small misbehaving nodes (issue 5): tomcat1 is a ``RawBackend`` playing one fault, tomcat2 (its
/// replica) and tomcat3 are healthy ``TestBackend``s. Each test asserts what the client got (status,
/// or a cut connection; whether an idempotent request was retried on the replica), what the faulty
/// node received, how its health reacted (passive ejection, failure counters, usable nodes), and that
/// a second client on tomcat3's sessions saw nothing of it.
///
/// Passive detection only (no active checks), so ejections are deterministic. Related single-client
/// cases live in ``UpstreamFailureLiveTests`` (502/504 with one node), ``FailoverLiveTests`` (killed
/// nodes, 5xx with `on_5xx`) and ``StallLiveTests`` (nodes that stop reading).
@Suite("Misbehaving nodes: the client's answer, the node's health, other clients untouched", .timeLimit(.minutes(1)))
struct FaultInjectionLiveTests {
    static func configure(_ config: inout LatchConfig) {
        config.clusters[0].nodes[0].replicas = ["tomcat2"]
        config.clusters[0].passive = PassiveHealthConfig(failures: 3, window: .seconds(30), ejectFor: .seconds(30), on5xx: false)
        config.clusters[0].failover.nodeHeader = "X-Latch-Node"
        config.timeouts.upstreamResponse = .milliseconds(300)
    }

    /// A request with the session cookie of `route` (the shared ``Answer``: read `latchNode`, which
    /// names the raw tomcat1 too).
    static func send(
        _ h: RawLatchHarness,
        _ method: HTTPMethod = .GET,
        route: String,
        path: String = "/",
        body: String? = nil
    ) async throws -> Answer {
        try await h.latch.send(method, path, cookie: "JSESSIONID=S.\(route)", body: body)
    }

    /// `count` requests one after the other.
    static func send(_ h: RawLatchHarness, times count: Int, route: String, path: String) async throws -> [Answer] {
        var answers: [Answer] = []
        for _ in 0..<count { answers.append(try await send(h, route: route, path: path)) }
        return answers
    }

    /// Runs `fault` while another client keeps using a session on tomcat3 (at least 3 requests, then
    /// until the fault is over); returns the fault's result and every answer that client got.
    static func whileAnotherClientWorks<T>(
        _ h: RawLatchHarness,
        _ fault: () async throws -> T
    ) async throws -> (T, [String]) {
        let done = NIOLockedValueBox(false)
        async let bystander: [String] = {
            var seen: [String] = []
            while seen.count < 3 || (!done.withLockedValue { $0 } && seen.count < 1000) {
                do {
                    let answer = try await send(h, route: "tomcat3", path: "/bystander")
                    seen.append("\(answer.status.code) \(answer.latchNode ?? "-")")
                } catch {
                    seen.append("error \(error)")
                }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return seen
        }()
        do {
            let result = try await fault()
            done.withLockedValue { $0 = true }
            return (result, await bystander)
        } catch {
            done.withLockedValue { $0 = true }
            _ = await bystander
            throw error
        }
    }

    static func expectUntouched(_ seen: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(seen.count >= 3, sourceLocation: sourceLocation)
        #expect(seen.allSatisfy { $0 == "200 tomcat3" }, "the other client saw: \(Set(seen))", sourceLocation: sourceLocation)
    }

    static func posts(_ backend: TestBackend) -> Int { backend.requests.filter { $0.head.method == .POST }.count }

    // MARK: - Faults before any byte of an answer

    @Test("refused (closed port): even a POST goes to the replica, the node is ejected at once")
    func refused() async throws {
        try await withLatch(raw: ["tomcat1"], configure: Self.configure) { h in
            await h.raw("tomcat1").close()
            let (answers, seen) = try await Self.whileAnotherClientWorks(h) {
                var answers: [Answer] = []
                for i in 0..<5 { answers.append(try await Self.send(h, .POST, route: "tomcat1", path: "/order", body: "item=\(i)")) }
                return answers
            }
            // Nothing was written to tomcat1, so even a POST may go elsewhere (RFC 9110 §9.2.2).
            #expect(answers.map(\.status) == Array(repeating: .ok, count: 5))
            #expect(answers.allSatisfy { $0.latchNode == "tomcat2" })
            #expect(Self.posts(h.backend("tomcat2")) == 5, "each POST reached the replica once")
            #expect(h.raw("tomcat1").accepted == 0)
            #expect(h.server.usableNodes(cluster: 0) == [false, true, true])
            let stats = h.server.stats(cluster: 0).nodes[0]
            #expect(stats.ejections == 1)
            #expect(stats.retriedAway == 1, "after the first refusal the node was out: no more attempts")
            Self.expectUntouched(seen)
        }
    }

    @Test("reset once the request arrived: a POST gets 502 and is not re-sent, GETs go to the replica, 3 resets eject")
    func resetAfterAccept() async throws {
        try await withLatch(raw: ["tomcat1"], script: { _, _ in [.reset] }, configure: Self.configure) { h in
            let (answers, seen) = try await Self.whileAnotherClientWorks(h) {
                [try await Self.send(h, .POST, route: "tomcat1", path: "/order", body: "item=1")]
                    + (try await Self.send(h, times: 3, route: "tomcat1", path: "/page"))
            }
            let node = h.raw("tomcat1")
            #expect(answers[0].status == .badGateway, "bytes were written: a POST is never sent twice")
            #expect(Self.posts(h.backend("tomcat2")) == 0)
            #expect(answers.dropFirst().map(\.status) == [.ok, .ok, .ok])
            #expect(answers.dropFirst().allSatisfy { $0.latchNode == "tomcat2" }, "idempotent GETs were retried on the replica")
            #expect(node.requests.map(\.method) == ["POST", "GET", "GET"], "the third reset ejected it: the last GET never went there")
            #expect(h.server.usableNodes(cluster: 0) == [false, true, true])
            let stats = h.server.stats(cluster: 0).nodes[0]
            #expect(stats.failures == 3)
            #expect(stats.retriedAway == 2)
            #expect(stats.ejections == 1)
            Self.expectUntouched(seen)
        }
    }

    @Test("reset right at accept, before any request byte is read: GETs go to the replica, 3 resets eject")
    func resetAtAccept() async throws {
        try await withLatch(raw: ["tomcat1"], script: { _, _ in [] }, configure: Self.configure) { h in
            h.raw("tomcat1").setScript(onAccept: { _ in [.reset] }) { _ in [] }
            let (answers, seen) = try await Self.whileAnotherClientWorks(h) {
                try await Self.send(h, times: 4, route: "tomcat1", path: "/page")
            }
            #expect(answers.map(\.status) == [.ok, .ok, .ok, .ok])
            #expect(answers.allSatisfy { $0.latchNode == "tomcat2" })
            #expect(h.raw("tomcat1").accepted == 3, "ejected after the third reset: the fourth went straight to the replica")
            #expect(h.server.usableNodes(cluster: 0) == [false, true, true])
            let stats = h.server.stats(cluster: 0).nodes[0]
            #expect(stats.failures == 3)
            #expect(stats.ejections == 1)
            Self.expectUntouched(seen)
        }
    }

    @Test("hang after accept: 504 after upstream_response, never retried, and slowness does not eject")
    func hangAfterAccept() async throws {
        try await withLatch(raw: ["tomcat1"], script: { _, _ in [.hang] }, configure: Self.configure) { h in
            let clock = ContinuousClock()
            let start = clock.now
            let (answers, seen) = try await Self.whileAnotherClientWorks(h) {
                try await Self.send(h, times: 3, route: "tomcat1", path: "/slow")
            }
            #expect(clock.now - start < .seconds(20), "bounded by upstream_response (300 ms) per request")
            let node = h.raw("tomcat1")
            #expect(answers.map(\.status) == [.gatewayTimeout, .gatewayTimeout, .gatewayTimeout])
            #expect(h.backend("tomcat2").requests.isEmpty, "no retry after a timeout: the node may still be working")
            #expect(node.requests.count == 3)
            #expect(try await node.wait { $0.connections.allSatisfy(\.closed) }, "Latch closed every hung connection")
            #expect(node.accepted == 3, "a timed-out connection is never reused")
            #expect(h.server.usableNodes(cluster: 0) == [true, true, true])
            let stats = h.server.stats(cluster: 0).nodes[0]
            #expect(stats.failures == 3)
            #expect(stats.ejections == 0)
            Self.expectUntouched(seen)
        }
    }

    @Test("close in the middle of the response head: a GET is answered by the replica, a POST gets 502")
    func closeMidHeaders() async throws {
        try await withLatch(
            raw: ["tomcat1"],
            script: { _, _ in [.send("HTTP/1.1 200 OK\r\nContent-Le"), .close] },
            configure: Self.configure
        ) { h in
            let (answers, seen) = try await Self.whileAnotherClientWorks(h) {
                [
                    try await Self.send(h, .POST, route: "tomcat1", path: "/order", body: "item=1"),
                    try await Self.send(h, route: "tomcat1", path: "/page"),
                ]
            }
            #expect(answers[0].status == .badGateway)
            #expect(!answers[0].body.contains("Content-Le"), "nothing of the broken head reaches the client")
            #expect(answers[1].status == .ok)
            #expect(answers[1].latchNode == "tomcat2")
            #expect(Self.posts(h.backend("tomcat2")) == 0)
            #expect(h.raw("tomcat1").requests.map(\.method) == ["POST", "GET"])
            let stats = h.server.stats(cluster: 0).nodes[0]
            #expect(stats.failures == 2)
            #expect(stats.ejections == 0)
            #expect(h.server.usableNodes(cluster: 0) == [true, true, true], "two failures, three needed")
            Self.expectUntouched(seen)
        }
    }

    @Test("close in the middle of the body: the client connection is cut short, nothing is retried")
    func closeMidBody() async throws {
        let partial = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
        try await withLatch(
            raw: ["tomcat1"],
            script: { _, _ in [.send(partial), .wait(.milliseconds(100)), .close] },
            configure: Self.configure
        ) { h in
            let (text, seen) = try await Self.whileAnotherClientWorks(h) {
                try await h.untilClosed("GET /page HTTP/1.1\r\nHost: a\r\nCookie: JSESSIONID=S.tomcat1\r\n\r\n")
            }
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(text.lowercased().contains("content-length: 100"))
            #expect(text.hasSuffix("\r\n\r\n0123456789"), "the ten bytes sent, then the cut: \(text)")
            #expect(h.backend("tomcat2").requests.isEmpty, "the response had begun: no retry")
            let stats = h.server.stats(cluster: 0).nodes[0]
            #expect(stats.failures == 1)
            #expect(h.server.usableNodes(cluster: 0) == [true, true, true])
            Self.expectUntouched(seen)
        }
    }

    @Test("garbage instead of HTTP: GETs are answered by the replica, three of them eject the node")
    func garbage() async throws {
        try await withLatch(raw: ["tomcat1"], script: { _, _ in [.send("SSH-2.0-OpenSSH_9.6\r\n")] }, configure: Self.configure) { h in
            let (answers, seen) = try await Self.whileAnotherClientWorks(h) {
                try await Self.send(h, times: 4, route: "tomcat1", path: "/page")
            }
            let node = h.raw("tomcat1")
            #expect(answers.map(\.status) == [.ok, .ok, .ok, .ok])
            #expect(answers.allSatisfy { $0.latchNode == "tomcat2" })
            #expect(node.requests.count == 3, "ejected after the third: the fourth went straight to the replica")
            #expect(try await node.wait { $0.connections.allSatisfy(\.closed) }, "every connection that spoke garbage was closed")
            #expect(h.server.usableNodes(cluster: 0) == [false, true, true])
            let stats = h.server.stats(cluster: 0).nodes[0]
            #expect(stats.failures == 3)
            #expect(stats.retriedAway == 3)
            #expect(stats.ejections == 1)
            Self.expectUntouched(seen)
        }
    }

    // MARK: - Faults in an answer that otherwise works

    @Test("a response much larger than announced: the client gets exactly the announced bytes, each time on a fresh connection")
    func largerThanAnnounced() async throws {
        let overlong = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + String(repeating: "X", count: 64 * 1024)
        try await withLatch(raw: ["tomcat1"], threads: 1, script: { _, _ in [.send(overlong)] }, configure: Self.configure) { h in
            let (answers, seen) = try await Self.whileAnotherClientWorks(h) {
                try await Self.send(h, times: 3, route: "tomcat1", path: "/page")
            }
            let node = h.raw("tomcat1")
            #expect(answers.map(\.status) == [.ok, .ok, .ok])
            #expect(answers.map(\.body) == ["hello", "hello", "hello"])
            #expect(answers.allSatisfy { $0.latchNode == "tomcat1" })
            #expect(node.accepted == 3, "a connection with bytes after the response is never reused")
            #expect(node.connections.allSatisfy { $0.requests.count == 1 })
            #expect(h.server.usableNodes(cluster: 0) == [true, true, true], "each client got a correct answer")
            Self.expectUntouched(seen)
        }
    }

    @Test(
        "a 503 storm: relayed, not retried; with on_5xx the node is ejected after `failures` and its sessions go to the replica, without it the node stays in",
        arguments: [true, false]
    )
    func serviceUnavailableStorm(on5xx: Bool) async throws {
        try await withLatch(
            raw: ["tomcat1"],
            script: { _, _ in [.send(RawBackend.ok("busy", status: "503 Service Unavailable"))] },
            configure: { config in
                Self.configure(&config)
                config.clusters[0].passive.on5xx = on5xx
            }
        ) { h in
            let (answers, seen) = try await Self.whileAnotherClientWorks(h) {
                try await Self.send(h, times: 6, route: "tomcat1", path: "/page")
            }
            let relayed = on5xx ? 3 : 6
            #expect(answers.map(\.status.code) == Array(repeating: 503, count: relayed) + Array(repeating: 200, count: 6 - relayed))
            #expect(answers.prefix(relayed).allSatisfy { $0.body == "busy" && $0.latchNode == "tomcat1" }, "a 5xx is an answer: relayed as it is")
            #expect(answers.dropFirst(relayed).allSatisfy { $0.latchNode == "tomcat2" })
            #expect(h.raw("tomcat1").requests.count == relayed, "each request reached the node once")
            #expect(h.backend("tomcat2").requests.count == 6 - relayed, "no 503 was retried elsewhere")
            #expect(h.server.usableNodes(cluster: 0) == [!on5xx, true, true])
            let stats = h.server.stats(cluster: 0).nodes[0]
            #expect(stats.ejections == (on5xx ? 1 : 0))
            if !on5xx { #expect(stats.failures == 0, "an answered 503 is not a broken node") }
            Self.expectUntouched(seen)
        }
    }

    @Test("a slow body drip (a byte every 50 ms for 1 s, longer than upstream_response) arrives whole: progress is not a stall")
    func slowDripBody() async throws {
        let body = "slow-but-steady-drip"  // 20 bytes
        try await withLatch(
            raw: ["tomcat1"],
            script: { _, _ in [.send("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n"), .drip(body, every: .milliseconds(50))] },
            configure: Self.configure
        ) { h in
            let clock = ContinuousClock()
            let start = clock.now
            let (answer, seen) = try await Self.whileAnotherClientWorks(h) {
                try await Self.send(h, route: "tomcat1", path: "/drip")
            }
            #expect(clock.now - start > .milliseconds(900), "the drip really took longer than upstream_response")
            #expect(answer.status == .ok)
            #expect(answer.body == body)
            #expect(answer.latchNode == "tomcat1")
            #expect(h.raw("tomcat1").requests.count == 1)
            #expect(h.backend("tomcat2").requests.isEmpty)
            #expect(h.server.stats(cluster: 0).nodes[0].failures == 0)
            #expect(h.server.usableNodes(cluster: 0) == [true, true, true])
            Self.expectUntouched(seen)
        }
    }

    @Test("a slow head drip (a byte every 50 ms, the head taking 2 s) is progress too: no 504")
    func slowDripHead() async throws {
        let response = RawBackend.ok("drip")  // 42 bytes
        try await withLatch(
            raw: ["tomcat1"],
            script: { _, _ in [.drip(response, every: .milliseconds(50))] },
            configure: Self.configure
        ) { h in
            let (answer, seen) = try await Self.whileAnotherClientWorks(h) {
                try await Self.send(h, route: "tomcat1", path: "/drip")
            }
            #expect(answer.status == .ok, "got \(answer.status.code): \(answer.body)")
            #expect(answer.body == "drip")
            #expect(h.server.stats(cluster: 0).nodes[0].failures == 0)
            #expect(h.raw("tomcat1").requests.count == 1, "whatever the answer, the request was sent once")
            #expect(h.backend("tomcat2").requests.isEmpty, "never retried after bytes were written and the node answered")
            #expect(h.server.usableNodes(cluster: 0) == [true, true, true])
            Self.expectUntouched(seen)
        }
    }
}
