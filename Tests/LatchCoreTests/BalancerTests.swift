import Testing
@testable import LatchCore

struct BalancerTests {
    /// `count` picks with fixed eligibility and load.
    private static func picks(
        _ balancer: inout Balancer,
        _ count: Int,
        eligible: (Int) -> Bool = { _ in true },
        active: (Int) -> Int = { _ in 0 },
        seed: UInt64 = 42
    ) -> [Int?] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in balancer.pick(eligible: eligible, active: active, using: &random) }
    }

    private static func counts(_ picks: [Int?], nodes: Int) -> [Int] {
        var counts = Array(repeating: 0, count: nodes)
        for pick in picks {
            if let pick { counts[pick] += 1 }
        }
        return counts
    }

    @Test func splitMix64IsDeterministic() {
        var a = SplitMix64(seed: 7)
        var b = SplitMix64(seed: 7)
        var c = SplitMix64(seed: 8)
        let first = (0..<5).map { _ in a.next() }
        #expect(first == (0..<5).map { _ in b.next() })
        #expect(first != (0..<5).map { _ in c.next() })
        // Reference value of SplitMix64 seeded with 0.
        var zero = SplitMix64(seed: 0)
        #expect(zero.next() == 0xE220_A839_7B1D_CDAF)
    }

    // MARK: - round_robin (smooth weighted)

    @Test func smoothWeightedFiveOneOneIsTheNginxInterleaving() {
        var balancer = Balancer(algorithm: .roundRobin, weights: [5, 1, 1])
        let sequence = Self.picks(&balancer, 70)
        // a a b a c a a, as in nginx's ngx_http_upstream_get_peer comment, not a a a a a b c.
        let period: [Int?] = [0, 0, 1, 0, 2, 0, 0]
        #expect(Array(sequence.prefix(7)) == period)
        // The state returns to zero after sum(weights) picks, so the period repeats exactly.
        #expect(sequence == Array(repeatElement(period, count: 10).joined()))
        // Every window of 7 consecutive picks (not only aligned ones) holds exactly 5, 1, 1.
        for start in 0...(sequence.count - 7) {
            #expect(Self.counts(Array(sequence[start..<start + 7]), nodes: 3) == [5, 1, 1], "window at \(start)")
        }
        // Interleaved: the light nodes never come twice in a row, and the heavy node's longest run is
        // 4 (a a | a a across the period boundary), never the 5 of a plain weighted rotation.
        var run = 0
        var longest: [Int] = [0, 0, 0]
        for (i, pick) in sequence.enumerated() {
            run = (i > 0 && sequence[i - 1] == pick) ? run + 1 : 1
            longest[pick!] = max(longest[pick!], run)
        }
        #expect(longest == [4, 1, 1])
    }

    @Test func equalWeightsRotate() {
        var balancer = Balancer(algorithm: .roundRobin, weights: [1, 1, 1])
        #expect(Self.picks(&balancer, 9) == [0, 1, 2, 0, 1, 2, 0, 1, 2])
        var heavy = Balancer(algorithm: .roundRobin, weights: [3, 3])
        #expect(Self.picks(&heavy, 6) == [0, 1, 0, 1, 0, 1])
    }

    @Test(arguments: [[1], [1, 1, 1, 1], [5, 3, 2], [7, 2, 1], [999, 1], [3, 1], [40, 10], [1, 2, 3, 4, 5, 5], [1000]])
    func roundRobinIsExactlyProportional(weights: [Int]) {
        var balancer = Balancer(algorithm: .roundRobin, weights: weights)
        let total = weights.reduce(0, +)
        #expect(10_000 % total == 0, "test weights must divide 10 000")
        let counts = Self.counts(Self.picks(&balancer, 10_000), nodes: weights.count)
        #expect(counts == weights.map { $0 * 10_000 / total })
    }

    @Test func roundRobinSkipsIneligibleNodes() {
        var balancer = Balancer(algorithm: .roundRobin, weights: [1, 1, 1])
        let sequence = Self.picks(&balancer, 30, eligible: { $0 != 1 })
        #expect(!sequence.contains(1))
        #expect(Self.counts(sequence, nodes: 3) == [15, 0, 15])

        // Weights of the eligible nodes still apply: with the heavy node out, b and c alternate.
        var weighted = Balancer(algorithm: .roundRobin, weights: [5, 1, 1])
        #expect(Self.picks(&weighted, 6, eligible: { $0 != 0 }) == [1, 2, 1, 2, 1, 2])
        // And with c out, a and b share 5:1 exactly.
        var pair = Balancer(algorithm: .roundRobin, weights: [5, 1, 1])
        #expect(Self.counts(Self.picks(&pair, 600, eligible: { $0 != 2 }), nodes: 3) == [500, 100, 0])
    }

    // MARK: - Every algorithm

    @Test(arguments: BalanceAlgorithm.allCases)
    func noEligibleNodeGivesNil(algorithm: BalanceAlgorithm) {
        var balancer = Balancer(algorithm: algorithm, weights: [1, 2, 3])
        #expect(Self.picks(&balancer, 5, eligible: { _ in false }) == [nil, nil, nil, nil, nil])
        // Asking with nothing eligible must not spoil later picks.
        #expect(Self.picks(&balancer, 1, eligible: { $0 == 2 }) == [2])
    }

    @Test(arguments: BalanceAlgorithm.allCases)
    func noNodesGivesNil(algorithm: BalanceAlgorithm) {
        var balancer = Balancer(algorithm: algorithm, weights: [])
        #expect(Self.picks(&balancer, 3) == [nil, nil, nil])
    }

    @Test(arguments: BalanceAlgorithm.allCases)
    func ineligibleNodeIsNeverPicked(algorithm: BalanceAlgorithm) {
        // The ineligible node is the most tempting one: heaviest and idle.
        var balancer = Balancer(algorithm: algorithm, weights: [1, 5, 1, 1])
        let sequence = Self.picks(&balancer, 3_000, eligible: { $0 != 1 }, active: { $0 == 1 ? 0 : 3 })
        #expect(!sequence.contains(1))
        #expect(!sequence.contains(nil))
        #expect(Set(sequence.compactMap { $0 }) == [0, 2, 3])
    }

    @Test(arguments: BalanceAlgorithm.allCases)
    func singleEligibleNodeIsAlwaysPicked(algorithm: BalanceAlgorithm) {
        var balancer = Balancer(algorithm: algorithm, weights: [3, 1, 2])
        #expect(Self.picks(&balancer, 10, eligible: { $0 == 1 }, active: { $0 == 1 ? 100 : 0 })
            == Array(repeating: 1, count: 10))
    }

    @Test(arguments: BalanceAlgorithm.allCases)
    func keepsAlgorithmAndWeights(algorithm: BalanceAlgorithm) {
        let balancer = Balancer(algorithm: algorithm, weights: [4, 2])
        #expect(balancer.algorithm == algorithm)
        #expect(balancer.weights == [4, 2])
    }

    // MARK: - least_connections

    @Test func leastConnectionsPicksTheLeastActive() {
        var balancer = Balancer(algorithm: .leastConnections, weights: [1, 1, 1])
        let active = [3, 1, 2]
        #expect(Self.picks(&balancer, 6, active: { active[$0] }) == Array(repeating: 1, count: 6))
    }

    struct PerWeightCase: Sendable, CustomTestStringConvertible {
        var weights: [Int]
        var active: [Int]
        var expected: Int
        var testDescription: String { "weights \(weights) active \(active) → \(expected)" }
    }

    @Test(arguments: [
        PerWeightCase(weights: [4, 1], active: [3, 1], expected: 0),  // 0.75 < 1
        PerWeightCase(weights: [4, 1], active: [5, 1], expected: 1),  // 1.25 > 1
        PerWeightCase(weights: [1, 4], active: [1, 3], expected: 1),
        PerWeightCase(weights: [10, 1, 1], active: [9, 1, 1], expected: 0),  // 0.9 < 1
        PerWeightCase(weights: [2, 3], active: [1, 2], expected: 0),  // 0.5 < 0.67
        PerWeightCase(weights: [2, 3], active: [2, 2], expected: 1),  // 1 > 0.67
        PerWeightCase(weights: [1000, 1], active: [999, 1], expected: 0),
    ])
    func leastConnectionsComparesPerWeight(_ row: PerWeightCase) {
        var balancer = Balancer(algorithm: .leastConnections, weights: row.weights)
        // Several picks so that every rotation of the scan start is covered.
        let sequence = Self.picks(&balancer, 2 * row.weights.count, active: { row.active[$0] })
        #expect(sequence == Array(repeating: row.expected, count: sequence.count))
    }

    @Test func leastConnectionsRotatesAmongTies() {
        var balancer = Balancer(algorithm: .leastConnections, weights: [1, 1, 1])
        #expect(Self.picks(&balancer, 6) == [0, 1, 2, 0, 1, 2])
        // Equal load per weight is a tie too (4/4 == 1/1), and tied nodes share by weight, as nginx's least_conn.
        var weighted = Balancer(algorithm: .leastConnections, weights: [4, 1])
        let sequence = Self.picks(&weighted, 10, active: { [4, 1][$0] })
        #expect(Self.counts(sequence, nodes: 2) == [8, 2])
    }

    @Test func leastConnectionsSpreadsGrowingLoadByWeight() {
        // Requests that never finish: the load per weight stays level, so counts follow weights.
        var balancer = Balancer(algorithm: .leastConnections, weights: [2, 1, 3])
        var active = [0, 0, 0]
        var random = SplitMix64(seed: 1)
        for _ in 0..<600 {
            let node = balancer.pick(eligible: { _ in true }, active: { active[$0] }, using: &random)!
            active[node] += 1
        }
        #expect(abs(active[0] - 200) <= 1)
        #expect(abs(active[1] - 100) <= 1)
        #expect(abs(active[2] - 300) <= 1)
    }

    /// The scan start advances over *all* nodes, not over the tied ones, so the tied node that
    /// follows a non-tied (busier or ineligible) node in the ring is scanned first twice as often.
    struct TieFairnessCase: Sendable, CustomTestStringConvertible {
        var label: String
        var active: [Int]
        var eligible: [Bool]
        var expected: [Int]
        var testDescription: String { label }
    }

    @Test(arguments: [
        TieFairnessCase(label: "one node busier", active: [0, 0, 5], eligible: [true, true, true], expected: [300, 300, 0]),
        TieFairnessCase(label: "one node ineligible", active: [0, 0, 0], eligible: [true, false, true], expected: [300, 0, 300]),
    ])
    func leastConnectionsSharesTiesEvenly(_ row: TieFairnessCase) {
        var balancer = Balancer(algorithm: .leastConnections, weights: [1, 1, 1])
        let counts = Self.counts(
            Self.picks(&balancer, 600, eligible: { row.eligible[$0] }, active: { row.active[$0] }), nodes: 3)
        #expect(counts.reduce(0, +) == 600)
        #expect(counts == row.expected)
    }

    // MARK: - random_two

    @Test(arguments: [[5, 3, 2], [1, 1, 1], [10, 1], [1, 2, 3, 4]])
    func randomTwoRespectsWeightsWhenIdle(weights: [Int]) {
        var balancer = Balancer(algorithm: .randomTwo, weights: weights)
        let n = 30_000
        let counts = Self.counts(Self.picks(&balancer, n, seed: 0x5EED), nodes: weights.count)
        let total = weights.reduce(0, +)
        for (i, weight) in weights.enumerated() {
            let expected = Double(n * weight) / Double(total)
            #expect(abs(Double(counts[i]) - expected) <= 0.05 * expected, "node \(i): \(counts[i]) vs \(expected)")
        }
    }

    @Test func randomTwoIsReproducibleWithTheSameSeed() {
        var a = Balancer(algorithm: .randomTwo, weights: [5, 3, 2])
        var b = Balancer(algorithm: .randomTwo, weights: [5, 3, 2])
        let first = Self.picks(&a, 200, seed: 99)
        #expect(first == Self.picks(&b, 200, seed: 99))
        var c = Balancer(algorithm: .randomTwo, weights: [5, 3, 2])
        #expect(first != Self.picks(&c, 200, seed: 100))
    }

    @Test func randomTwoPrefersTheLessLoadedNode() {
        // Two nodes: both are always the candidates, so the idle one always wins.
        var two = Balancer(algorithm: .randomTwo, weights: [1, 1])
        #expect(Self.picks(&two, 1_000, active: { [10, 0][$0] }) == Array(repeating: 1, count: 1_000))

        // Load is per weight: 10 active on weight 10 is lighter than 2 active on weight 1.
        var perWeight = Balancer(algorithm: .randomTwo, weights: [10, 1])
        #expect(Self.picks(&perWeight, 1_000, active: { [10, 2][$0] }) == Array(repeating: 0, count: 1_000))

        // Three nodes, loads 0 < 5 < 10: the busiest never wins, the idle one wins whenever it is a
        // candidate (2 of 3 unordered pairs), the middle one only against the busiest (1 of 3).
        var three = Balancer(algorithm: .randomTwo, weights: [1, 1, 1])
        let n = 30_000
        let counts = Self.counts(Self.picks(&three, n, active: { [0, 5, 10][$0] }, seed: 3), nodes: 3)
        #expect(counts[2] == 0)
        #expect(abs(Double(counts[0]) - Double(n) * 2 / 3) <= 0.05 * Double(n) * 2 / 3)
        #expect(abs(Double(counts[1]) - Double(n) / 3) <= 0.05 * Double(n) / 3)
    }

    @Test func randomTwoSpreadsGrowingLoadByWeight() {
        var balancer = Balancer(algorithm: .randomTwo, weights: [2, 1])
        var active = [0, 0]
        var random = SplitMix64(seed: 11)
        for _ in 0..<3_000 {
            let node = balancer.pick(eligible: { _ in true }, active: { active[$0] }, using: &random)!
            active[node] += 1
        }
        // With two nodes the less loaded per weight always wins, so the split stays at 2:1.
        #expect(abs(active[0] - 2_000) <= 2)
        #expect(abs(active[1] - 1_000) <= 2)
    }
}
