import Testing
@testable import LatchCore

struct NodeChooserTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var lookup: RouteLookup
        var expected: NodeDecision
        var testDescription: String { "\(lookup) → \(expected.reason.rawValue) \(expected.node.map(String.init) ?? "nil")" }
    }

    /// With a fresh round-robin balancer over [1, 1, 1] the balanced pick is node 0.
    static let decisionTable: [Case] = [
        Case(lookup: .known(node: 2, source: .cookie), expected: NodeDecision(node: 2, reason: .sticky)),
        Case(lookup: .known(node: 1, source: .pathParameter), expected: NodeDecision(node: 1, reason: .sticky)),
        Case(lookup: .known(node: 0, source: .queryParameter), expected: NodeDecision(node: 0, reason: .sticky)),
        Case(lookup: .none, expected: NodeDecision(node: 0, reason: .newSession)),
        Case(lookup: .noRoute, expected: NodeDecision(node: 0, reason: .noRoute)),
        Case(lookup: .unknown(route: "tomcat9"), expected: NodeDecision(node: 0, reason: .unknownRoute)),
        Case(lookup: .unknown(route: ""), expected: NodeDecision(node: 0, reason: .unknownRoute)),
    ]

    @Test(arguments: decisionTable)
    func decision(_ row: Case) {
        var balancer = Balancer(algorithm: .roundRobin, weights: [1, 1, 1])
        var random = SplitMix64(seed: 1)
        let decision = NodeChooser.choose(row.lookup, balancer: &balancer, active: { _ in 0 }, using: &random)
        #expect(decision == row.expected)
    }

    static let balancedLookups: [RouteLookup] = [.none, .noRoute, .unknown(route: "x")]
    static let allLookups: [RouteLookup] = [.known(node: 1, source: .cookie)] + balancedLookups

    /// A sticky decision must not consume a balanced pick: the pick after it is the one a balancer
    /// that never saw the sticky request would make, for every algorithm.
    @Test(arguments: BalanceAlgorithm.allCases)
    func stickyLeavesBalancerUntouched(algorithm: BalanceAlgorithm) {
        var touched = Balancer(algorithm: algorithm, weights: [5, 1, 1])
        var fresh = Balancer(algorithm: algorithm, weights: [5, 1, 1])
        var randomA = SplitMix64(seed: 9)
        var randomB = SplitMix64(seed: 9)
        let active: (Int) -> Int = { _ in 0 }

        var afterSticky: [NodeDecision] = []
        var untouched: [NodeDecision] = []
        for round in 0..<14 {
            // Sticky requests for every node in between, and several in a row.
            for node in 0..<3 where round % 2 == 0 {
                let sticky = NodeChooser.choose(
                    .known(node: node, source: .cookie), balancer: &touched, active: active, using: &randomA)
                #expect(sticky == NodeDecision(node: node, reason: .sticky))
            }
            afterSticky.append(NodeChooser.choose(.none, balancer: &touched, active: active, using: &randomA))
            untouched.append(NodeChooser.choose(.none, balancer: &fresh, active: active, using: &randomB))
        }
        #expect(afterSticky == untouched)
    }

    @Test func stickyThenBalancedIsTheFirstRoundRobinPick() {
        var balancer = Balancer(algorithm: .roundRobin, weights: [5, 1, 1])
        var random = SplitMix64(seed: 3)
        for _ in 0..<10 {
            _ = NodeChooser.choose(.known(node: 2, source: .cookie), balancer: &balancer, active: { _ in 0 }, using: &random)
        }
        let next = (0..<7).map { _ in
            NodeChooser.choose(.noRoute, balancer: &balancer, active: { _ in 0 }, using: &random).node
        }
        #expect(next == [0, 0, 1, 0, 2, 0, 0])
    }

    @Test(arguments: balancedLookups)
    func balancedDecisionsAdvanceTheBalancer(lookup: RouteLookup) {
        var balancer = Balancer(algorithm: .roundRobin, weights: [1, 1, 1])
        var random = SplitMix64(seed: 5)
        let nodes = (0..<6).map { _ in
            NodeChooser.choose(lookup, balancer: &balancer, active: { _ in 0 }, using: &random).node
        }
        #expect(nodes == [0, 1, 2, 0, 1, 2])
    }

    @Test func mixedBalancedReasonsShareOneRotation() {
        var balancer = Balancer(algorithm: .roundRobin, weights: [1, 1, 1])
        var random = SplitMix64(seed: 5)
        var decisions: [NodeDecision] = []
        for lookup in [RouteLookup.none, .known(node: 2, source: .cookie), .noRoute, .unknown(route: "q"), .none] {
            decisions.append(NodeChooser.choose(lookup, balancer: &balancer, active: { _ in 0 }, using: &random))
        }
        #expect(decisions == [
            NodeDecision(node: 0, reason: .newSession),
            NodeDecision(node: 2, reason: .sticky),
            NodeDecision(node: 1, reason: .noRoute),
            NodeDecision(node: 2, reason: .unknownRoute),
            NodeDecision(node: 0, reason: .newSession),
        ])
    }

    @Test(arguments: balancedLookups)
    func balancedDecisionsUseTheLoad(lookup: RouteLookup) {
        var least = Balancer(algorithm: .leastConnections, weights: [1, 1, 1])
        var random = SplitMix64(seed: 7)
        let load = [5, 0, 5]
        for _ in 0..<5 {
            #expect(NodeChooser.choose(lookup, balancer: &least, active: { load[$0] }, using: &random).node == 1)
        }
        var two = Balancer(algorithm: .randomTwo, weights: [1, 1])
        for _ in 0..<50 {
            #expect(NodeChooser.choose(lookup, balancer: &two, active: { [9, 0][$0] }, using: &random).node == 1)
        }
    }

    /// The load closure belongs to balancing only; a sticky decision ignores it.
    @Test func stickyIgnoresLoad() {
        var balancer = Balancer(algorithm: .leastConnections, weights: [1, 1])
        var random = SplitMix64(seed: 7)
        let decision = NodeChooser.choose(
            .known(node: 0, source: .cookie), balancer: &balancer, active: { $0 == 0 ? 1_000 : 0 }, using: &random)
        #expect(decision == NodeDecision(node: 0, reason: .sticky))
    }

    @Test(arguments: BalanceAlgorithm.allCases)
    func noNodeWhenTheBalancerHasNothing(algorithm: BalanceAlgorithm) {
        var balancer = Balancer(algorithm: algorithm, weights: [])
        var random = SplitMix64(seed: 1)
        for lookup in Self.balancedLookups {
            let decision = NodeChooser.choose(lookup, balancer: &balancer, active: { _ in 0 }, using: &random)
            #expect(decision == NodeDecision(node: nil, reason: .noNode))
        }
        // A known route is sticky even then: the chooser does not second-guess the extractor.
        let sticky = NodeChooser.choose(.known(node: 0, source: .cookie), balancer: &balancer, active: { _ in 0 }, using: &random)
        #expect(sticky == NodeDecision(node: 0, reason: .sticky))
    }

    @Test(arguments: [
        (DecisionReason.sticky, "sticky"),
        (.newSession, "new"),
        (.noRoute, "no_route"),
        (.unknownRoute, "unknown_route"),
        (.noNode, "no_node"),
    ])
    func reasonRawValues(reason: DecisionReason, raw: String) {
        #expect(reason.rawValue == raw)
        #expect(DecisionReason(rawValue: raw) == reason)
    }

    @Test func reasonsAreExactlyThese() {
        #expect(
            DecisionReason.allCases.map(\.rawValue)
                == ["sticky", "stayed", "failover_ranked", "failover_replica", "failover_any", "rejected", "new", "no_route", "unknown_route", "no_node"]
        )
    }

    @Test func decisionEquality() {
        #expect(NodeDecision(node: 1, reason: .sticky) == NodeDecision(node: 1, reason: .sticky))
        #expect(NodeDecision(node: 1, reason: .sticky) != NodeDecision(node: 1, reason: .newSession))
        #expect(NodeDecision(node: 1, reason: .sticky) != NodeDecision(node: 2, reason: .sticky))
        #expect(NodeDecision(node: nil, reason: .noNode) != NodeDecision(node: 0, reason: .noNode))
    }
}

@Test func decisionReasonIndexIsItsPositionInAllCases() {
    for (position, reason) in DecisionReason.allCases.enumerated() {
        #expect(reason.index == position, "\(reason)")
    }
}
