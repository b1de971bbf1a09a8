import Testing

@testable import LatchCore

/// The failover rule over every combination of node state × replica chain × policy, for a session
/// whose route names node A of three nodes A, B, C.
struct FailoverDecisionTests {
    static let chains: [[Int]] = [[], [1], [1, 2], [2, 1], [2]]
    static let states: [[Bool]] = (0..<8).map { bits in (0..<3).map { bits & (1 << $0) != 0 } }

    struct Row: Sendable, CustomTestStringConvertible {
        var up: [Bool]
        var chain: [Int]
        var policy: UnavailablePolicy
        var testDescription: String {
            "up=\(up.map { $0 ? "1" : "0" }.joined()) chain=\(chain) \(policy.rawValue)"
        }
    }

    static let rows: [Row] = states.flatMap { up in
        chains.flatMap { chain in UnavailablePolicy.allCases.map { Row(up: up, chain: chain, policy: $0) } }
    }

    private static func decide(_ row: Row, lookup: RouteLookup = .known(node: 0, source: .cookie), excluded: Set<Int> = []) -> NodeDecision {
        var balancer = Balancer(algorithm: .roundRobin, weights: [1, 1, 1])
        var random = SplitMix64(seed: 1)
        return NodeChooser.choose(
            lookup,
            usable: { row.up[$0] },
            replicas: { $0 == 0 ? row.chain : [] },
            onUnavailable: row.policy,
            excluded: { excluded.contains($0) },
            balancer: &balancer,
            active: { _ in 0 },
            using: &random
        )
    }

    @Test(arguments: rows)
    func everyCombination(row: Row) {
        let decision = Self.decide(row)
        let firstUsableReplica = row.chain.first { row.up[$0] }
        if row.up[0] {
            #expect(decision == NodeDecision(node: 0, reason: .sticky))
        } else if let replica = firstUsableReplica {
            #expect(decision == NodeDecision(node: replica, reason: .failoverReplica))
        } else if row.policy == .reject {
            #expect(decision == NodeDecision(node: nil, reason: .rejected))
        } else if row.up.contains(true) {
            #expect(decision.reason == .failoverAny)
            #expect(decision.node.map { row.up[$0] } == true, "balanced onto a usable node")
        } else {
            #expect(decision == NodeDecision(node: nil, reason: .noNode))
        }
    }

    @Test(arguments: rows)
    func deterministicForOneHealthView(row: Row) {
        #expect(Self.decide(row) == Self.decide(row))
    }

    @Test func handPickedRows() {
        // A down, chain [C, B], both up: C (the chain's order, not the node order).
        #expect(Self.decide(Row(up: [false, true, true], chain: [2, 1], policy: .any)) == NodeDecision(node: 2, reason: .failoverReplica))
        // A down, chain [B, C], B down too: C.
        #expect(Self.decide(Row(up: [false, false, true], chain: [1, 2], policy: .reject)) == NodeDecision(node: 2, reason: .failoverReplica))
        // A down, chain [B] down, C up: reject says 503, any balances to C.
        #expect(Self.decide(Row(up: [false, false, true], chain: [1], policy: .reject)) == NodeDecision(node: nil, reason: .rejected))
        #expect(Self.decide(Row(up: [false, false, true], chain: [1], policy: .any)) == NodeDecision(node: 2, reason: .failoverAny))
    }

    @Test func retryExcludesWhatWasTried() {
        // A is up but its connect just failed: the retry walks A's chain.
        let row = Row(up: [true, true, true], chain: [2, 1], policy: .any)
        #expect(Self.decide(row, excluded: [0]) == NodeDecision(node: 2, reason: .failoverReplica))
        #expect(Self.decide(row, excluded: [0, 2]) == NodeDecision(node: 1, reason: .failoverReplica))
        #expect(Self.decide(row, excluded: [0, 1, 2]) == NodeDecision(node: nil, reason: .noNode))
    }

    @Test func newSessionsAvoidUnusableNodes() {
        let row = Row(up: [false, true, false], chain: [], policy: .reject)
        for _ in 0..<5 {
            #expect(Self.decide(row, lookup: .none) == NodeDecision(node: 1, reason: .newSession))
        }
        #expect(Self.decide(Row(up: [false, false, false], chain: [], policy: .any), lookup: .none) == NodeDecision(node: nil, reason: .noNode))
    }

    @Test func drainingNodesKeepTheirSessionsButTakeNoNewOnes() {
        var balancer = Balancer(algorithm: .roundRobin, weights: [1, 1, 1])
        var random = SplitMix64(seed: 5)
        let draining: Set<Int> = [0]
        func decide(_ lookup: RouteLookup, up: [Bool] = [true, true, true], chain: [Int] = []) -> NodeDecision {
            NodeChooser.choose(
                lookup, usable: { up[$0] }, takesNewSessions: { !draining.contains($0) }, replicas: { _ in chain },
                balancer: &balancer, active: { _ in 0 }, using: &random
            )
        }
        #expect(decide(.known(node: 0, source: .cookie)) == NodeDecision(node: 0, reason: .sticky))
        for _ in 0..<6 {
            #expect(decide(.none).node != 0, "never balanced onto a draining node")
        }
        // A draining replica still takes the sessions it holds copies of.
        #expect(decide(.known(node: 1, source: .cookie), up: [true, false, true], chain: [0]) == NodeDecision(node: 0, reason: .failoverReplica))
        // But failover_any does not place a session on it.
        for _ in 0..<4 {
            #expect(decide(.known(node: 1, source: .cookie), up: [true, false, true], chain: []) == NodeDecision(node: 2, reason: .failoverAny))
        }
    }
}
