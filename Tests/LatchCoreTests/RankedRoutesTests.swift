import Testing

@testable import LatchCore

/// `session.routes: ranked` (WildFly's `distributable-web` ranked affinity, `ABC123.node2.node3`):
/// reading the ranked list, choosing among it, explaining it and configuring it.
struct RankedRoutesTests {
    static let nodes = ["node1", "node2", "node3", "node4"]
    static let ranked = SessionConfig(routes: .ranked)

    struct Row: Sendable, CustomTestStringConvertible {
        var label: String
        var cookie: String
        var session: SessionConfig = RankedRoutesTests.ranked
        var expected: RouteLookup
        var testDescription: String { label }
    }

    static func known(_ node: Int, _ later: [Int] = []) -> RouteLookup {
        .known(node: node, source: .cookie, later: RankedRoutes(later))
    }

    static let rows: [Row] = [
        Row(label: "one route", cookie: "JSESSIONID=ABC.node2", expected: known(1)),
        Row(label: "primary then backup", cookie: "JSESSIONID=ABC.node2.node3", expected: known(1, [2])),
        Row(label: "three routes", cookie: "JSESSIONID=ABC.node3.node1.node4", expected: known(2, [0, 3])),
        Row(label: "unknown primary is skipped", cookie: "JSESSIONID=ABC.gone.node3", expected: known(2)),
        Row(label: "unknown in the middle is skipped", cookie: "JSESSIONID=ABC.node1.gone.node4", expected: known(0, [3])),
        Row(label: "a route named twice is tried once", cookie: "JSESSIONID=ABC.node1.node1.node2", expected: known(0, [1])),
        Row(label: "empty routes are skipped", cookie: "JSESSIONID=ABC..node2..node4.", expected: known(1, [3])),
        Row(label: "quoted", cookie: "JSESSIONID=\"ABC.node2.node3\"", expected: known(1, [2])),
        Row(label: "no route names a node", cookie: "JSESSIONID=ABC.x.y", expected: .unknown(route: "x.y")),
        Row(label: "nothing after the separator", cookie: "JSESSIONID=ABC.", expected: .noRoute),
        Row(label: "no separator", cookie: "JSESSIONID=ABC", expected: .noRoute),
        Row(
            label: "routes past the capacity are dropped",
            cookie: "JSESSIONID=A" + String(repeating: ".node1.node2.node3.node4", count: 3),
            expected: known(0, [1, 2, 3])
        ),
        Row(
            label: "single mode reads the whole suffix as one route",
            cookie: "JSESSIONID=ABC.node2.node3",
            session: SessionConfig(),
            expected: .unknown(route: "node2.node3")
        ),
        Row(
            label: "another separator",
            cookie: "JSESSIONID=ABC!node4!node1",
            session: SessionConfig(separator: "!", routes: .ranked),
            expected: known(3, [0])
        ),
        Row(
            label: "a separator of several bytes",
            cookie: "JSESSIONID=ABC::node4::node1",
            session: SessionConfig(separator: "::", routes: .ranked),
            expected: known(3, [0])
        ),
    ]

    @Test(arguments: rows)
    func readsRankedRoutes(row: Row) {
        let extractor = RouteExtractor(session: row.session, nodeNames: Self.nodes)
        let found = extractor.lookupWithSessionID(target: "/", cookieHeaders: [row.cookie])
        #expect(found.lookup == row.expected)
        if case .known = row.expected {
            #expect(found.sessionID.map { row.cookie.hasSuffix($0) || row.cookie.hasSuffix($0 + "\"") } == true)
        }
    }

    @Test func pathParameterIsRankedToo() {
        let extractor = RouteExtractor(session: Self.ranked, nodeNames: Self.nodes)
        let found = extractor.lookup(target: "/cart;jsessionid=ABC.node4.node2?x=1", cookieHeaders: [String]())
        #expect(found == .known(node: 3, source: .pathParameter, later: RankedRoutes([1])))
    }

    @Test func nodeOfAnIssuedSessionID() {
        let ranked = RouteExtractor(session: Self.ranked, nodeNames: Self.nodes)
        #expect(ranked.node(ofSessionID: "ABC.gone.node3.node1") == 2)
        #expect(ranked.node(ofSessionID: "\"ABC.node4\"") == 3)
        #expect(ranked.node(ofSessionID: "ABC") == nil)
        let single = RouteExtractor(session: SessionConfig(), nodeNames: Self.nodes)
        #expect(single.node(ofSessionID: "ABC.node2") == 1)
        #expect(single.node(ofSessionID: "ABC.node2.node3") == nil)
        #expect(single.node(ofSessionID: "") == nil)
    }

    // MARK: - Choice

    struct ChoiceRow: Sendable, CustomTestStringConvertible {
        var up: [Bool]
        var replicas: [Int] = []
        var policy: UnavailablePolicy = .reject
        var expected: NodeDecision
        var testDescription: String { "up=\(up.map { $0 ? "1" : "0" }.joined()) replicas=\(replicas) \(policy.rawValue)" }
    }

    /// The session `ABC.node2.node3.node1`: node 1 first, then 2, then 0; node 1's replicas as given.
    static let choiceRows: [ChoiceRow] = [
        ChoiceRow(up: [true, true, true, true], expected: NodeDecision(node: 1, reason: .sticky)),
        ChoiceRow(up: [true, false, true, true], expected: NodeDecision(node: 2, reason: .failoverRanked)),
        ChoiceRow(up: [true, false, false, true], expected: NodeDecision(node: 0, reason: .failoverRanked)),
        ChoiceRow(up: [false, false, false, true], replicas: [3], expected: NodeDecision(node: 3, reason: .failoverReplica)),
        ChoiceRow(up: [false, false, false, true], replicas: [], expected: NodeDecision(node: nil, reason: .rejected)),
        ChoiceRow(up: [false, false, false, true], policy: .any, expected: NodeDecision(node: 3, reason: .failoverAny)),
        ChoiceRow(up: [false, false, false, false], policy: .any, expected: NodeDecision(node: nil, reason: .noNode)),
        // A ranked route comes before the replicas, even when a replica is listed first.
        ChoiceRow(up: [true, false, true, true], replicas: [3, 2], expected: NodeDecision(node: 2, reason: .failoverRanked)),
    ]

    @Test(arguments: choiceRows)
    func choosesTheFirstUsableRoute(row: ChoiceRow) {
        var balancer = Balancer(algorithm: .roundRobin, weights: [1, 1, 1, 1])
        var random = SplitMix64(seed: 1)
        let decision = NodeChooser.choose(
            .known(node: 1, source: .cookie, later: RankedRoutes([2, 0])),
            usable: { row.up[$0] },
            replicas: { $0 == 1 ? row.replicas : [] },
            onUnavailable: row.policy,
            balancer: &balancer,
            active: { _ in 0 },
            using: &random
        )
        #expect(decision == row.expected)
    }

    @Test func aRetryWalksOnDownTheRanking() {
        var balancer = Balancer(algorithm: .roundRobin, weights: [1, 1, 1, 1])
        var random = SplitMix64(seed: 1)
        let decision = NodeChooser.choose(
            .known(node: 1, source: .cookie, later: RankedRoutes([2, 0])),
            excluded: { $0 == 1 || $0 == 2 },
            balancer: &balancer,
            active: { _ in 0 },
            using: &random
        )
        #expect(decision == NodeDecision(node: 0, reason: .failoverRanked))
    }

    @Test func rankedRoutesHoldTheirCapacityInline() {
        var routes = RankedRoutes()
        for node in 0..<20 { routes.append(node) }
        #expect(routes.count == RankedRoutes.capacity)
        #expect(Array(routes) == Array(0..<RankedRoutes.capacity))
        #expect(routes.append(3) == false, "already listed")
        #expect(RankedRoutes([1, 2]) == RankedRoutes([1, 2]))
        #expect(RankedRoutes([1, 2]) != RankedRoutes([2, 1]))
    }

    // MARK: - Explanation and configuration

    @Test func routeExplainsTheRanking() {
        let config = LatchConfig(
            listeners: [ListenerConfig(address: HostPort(host: "127.0.0.1", port: 8080))],
            clusters: [
                ClusterConfig(
                    name: "app",
                    session: Self.ranked,
                    nodes: Self.nodes.map { NodeConfig(name: $0, address: HostPort(host: "10.0.0.1", port: 8080), replicas: $0 == "node2" ? ["node4"] : []) },
                    failover: FailoverConfig(onUnavailable: .reject)
                )
            ]
        )
        let text = RouteExplanation.explain(config: config, host: nil, target: "/", cookies: ["JSESSIONID=ABC.node2.gone.node3"])
        #expect(
            text == """
                cluster: app
                session: ranked routes "node2", "node3" found in the cookie (routes naming no node are skipped)
                node:    node2 10.0.0.1:8080
                reason:  sticky
                if node2 cannot serve: node3 (failover_ranked), then node4 (failover_replica), then 503 (rejected)
                """
        )
    }

    static func load(routes: String, node: String) throws(ConfigError) -> LatchConfig {
        try ConfigLoader.parse(
            yaml: """
                listen: [{ address: "127.0.0.1:8080" }]
                clusters:
                  - name: app
                    session: { routes: \(routes) }
                    nodes: [{ name: \(node), address: "127.0.0.1:9001" }]
                """,
            file: "lb.yaml"
        )
    }

    @Test func configReadsRoutesAndRefusesNodeNamesThatWouldSplit() throws {
        #expect(try Self.load(routes: "ranked", node: "node1").clusters[0].session.routes == .ranked)
        #expect(try Self.load(routes: "single", node: "node.dc1").clusters[0].session.routes == .single)
        #expect(throws: ConfigError.self) { try Self.load(routes: "ranked", node: "node.dc1") }
        do {
            _ = try Self.load(routes: "rankd", node: "node1")
            Issue.record("a misspelt mode must be refused")
        } catch {
            #expect(error.description == "lb.yaml:4:24: clusters[0].session.routes: unknown routes mode \"rankd\"; did you mean \"ranked\"? (allowed: single, ranked)")
        }
    }
}
