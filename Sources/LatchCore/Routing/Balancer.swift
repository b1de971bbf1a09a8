/// Chooses a node for a request that has no usable route, by the cluster's algorithm.
///
/// A plain value: it holds only the round-robin state, and is asked with two closures so the caller
/// decides which nodes are eligible (health, drain and maintenance come in later) and how busy each is.
/// Non-escaping closures keep `pick` free of allocations.
public struct Balancer: Sendable {
    public let algorithm: BalanceAlgorithm
    public let weights: [Int]
    /// Smooth weighted round robin's running weights (nginx `ngx_http_upstream_get_peer`).
    private var current: [Int]

    public init(algorithm: BalanceAlgorithm, weights: [Int]) {
        precondition(weights.allSatisfy { $0 > 0 }, "weights are validated to be positive at load time")
        self.algorithm = algorithm
        self.weights = weights
        self.current = Array(repeating: 0, count: weights.count)
    }

    /// A node's whole weight, as a share of it: ``pick(eligible:active:share:using:)`` weighs node `i`
    /// by `weights[i] × share(i)`, so shares are per mille.
    public static var fullShare: Int { 1000 }

    /// - Parameters:
    ///   - eligible: whether node `i` may take a new session.
    ///   - active: requests in flight on node `i` (used by the connection-aware algorithms).
    ///   - share: the part of node `i`'s weight it has now, 1...``fullShare`` per mille (slow start
    ///     gives a node coming back less for a while); every node's whole weight by default.
    /// - Returns: the chosen node index, or `nil` when no node is eligible.
    @_specialize(exported: true, where R == SplitMix64)
    public mutating func pick<R: RandomNumberGenerator>(
        eligible: (Int) -> Bool,
        active: (Int) -> Int,
        share: (Int) -> Int = { _ in Balancer.fullShare },
        using random: inout R
    ) -> Int? {
        let weights = self.weights
        func weight(_ i: Int) -> Int { weights[i] * max(1, share(i)) }
        switch algorithm {
        case .roundRobin:
            return pickSmoothWeighted(eligible: eligible, weight: weight)
        case .leastConnections:
            return pickLeastLoaded(eligible: eligible, active: active, weight: weight)
        case .randomTwo:
            return pickRandomTwo(eligible: eligible, active: active, weight: weight, using: &random)
        }
    }

    /// Every eligible node's running weight grows by its weight; the largest wins and pays back the
    /// total. Over any window of `sum(weights)` picks each node gets exactly its weight, interleaved
    /// (weights 5,1,1 give a a b a c a a, not a a a a a b c). A weight that changes between picks
    /// (slow start) shifts the shares from the next pick on, as nginx's `effective_weight` does.
    private mutating func pickSmoothWeighted(eligible: (Int) -> Bool, weight: (Int) -> Int) -> Int? {
        var best: Int?
        var total = 0
        for i in weights.indices where eligible(i) {
            let w = weight(i)
            current[i] += w
            total += w
            if best == nil || current[i] > current[best!] {
                best = i
            }
        }
        guard let best else { return nil }
        current[best] -= total
        return best
    }

    /// Fewest active requests per unit of weight; among the nodes tied for fewest, smooth weighted
    /// round robin (as nginx's `least_conn`), so idle nodes share by weight and no tie favours a position.
    private mutating func pickLeastLoaded(eligible: (Int) -> Bool, active: (Int) -> Int, weight: (Int) -> Int) -> Int? {
        var best: Int?
        for i in weights.indices where eligible(i) {
            if let b = best {
                if Balancer.isLessLoaded(i, than: b, weight: weight, active: active) { best = i }
            } else {
                best = i
            }
        }
        guard let least = best else { return nil }
        return pickSmoothWeighted(
            eligible: { i in eligible(i) && !Balancer.isLessLoaded(least, than: i, weight: weight, active: active) },
            weight: weight
        )
    }

    /// Two weighted-random eligible candidates; the less loaded (per weight) wins. Keeps the
    /// least-connections benefit without every balancer instance herding onto the same node.
    private func pickRandomTwo<R: RandomNumberGenerator>(
        eligible: (Int) -> Bool,
        active: (Int) -> Int,
        weight: (Int) -> Int,
        using random: inout R
    ) -> Int? {
        var totalWeight = 0
        for i in weights.indices where eligible(i) { totalWeight += weight(i) }
        guard totalWeight > 0 else { return nil }
        let first = weightedSample(totalWeight: totalWeight, excluding: nil, eligible: eligible, weight: weight, using: &random)
        let remaining = totalWeight - weight(first)
        guard remaining > 0 else { return first }
        let second = weightedSample(totalWeight: remaining, excluding: first, eligible: eligible, weight: weight, using: &random)
        return Balancer.isLessLoaded(second, than: first, weight: weight, active: active) ? second : first
    }

    private func weightedSample<R: RandomNumberGenerator>(
        totalWeight: Int,
        excluding excluded: Int?,
        eligible: (Int) -> Bool,
        weight: (Int) -> Int,
        using random: inout R
    ) -> Int {
        var ticket = Int.random(in: 0..<totalWeight, using: &random)
        var last = 0
        for i in weights.indices where eligible(i) && i != excluded {
            last = i
            let w = weight(i)
            if ticket < w { return i }
            ticket -= w
        }
        return last
    }

    /// `active(a) / weight(a) < active(b) / weight(b)`, without division.
    @inline(__always)
    private static func isLessLoaded(_ a: Int, than b: Int, weight: (Int) -> Int, active: (Int) -> Int) -> Bool {
        active(a) * weight(b) < active(b) * weight(a)
    }
}
