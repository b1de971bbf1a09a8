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

    /// - Parameters:
    ///   - eligible: whether node `i` may take a new session.
    ///   - active: requests in flight on node `i` (used by the connection-aware algorithms).
    /// - Returns: the chosen node index, or `nil` when no node is eligible.
    public mutating func pick<R: RandomNumberGenerator>(
        eligible: (Int) -> Bool,
        active: (Int) -> Int,
        using random: inout R
    ) -> Int? {
        switch algorithm {
        case .roundRobin:
            return pickSmoothWeighted(eligible: eligible)
        case .leastConnections:
            return pickLeastLoaded(eligible: eligible, active: active)
        case .randomTwo:
            return pickRandomTwo(eligible: eligible, active: active, using: &random)
        }
    }

    /// Every eligible node's running weight grows by its weight; the largest wins and pays back the
    /// total. Over any window of `sum(weights)` picks each node gets exactly its weight, interleaved
    /// (weights 5,1,1 give a a b a c a a, not a a a a a b c).
    private mutating func pickSmoothWeighted(eligible: (Int) -> Bool) -> Int? {
        var best: Int?
        var total = 0
        for i in weights.indices where eligible(i) {
            current[i] += weights[i]
            total += weights[i]
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
    private mutating func pickLeastLoaded(eligible: (Int) -> Bool, active: (Int) -> Int) -> Int? {
        var best: Int?
        for i in weights.indices where eligible(i) {
            if let b = best {
                if isLessLoaded(i, than: b, active: active) { best = i }
            } else {
                best = i
            }
        }
        guard let least = best else { return nil }
        let weights = self.weights
        return pickSmoothWeighted { i in
            eligible(i) && !Balancer.isLessLoaded(least, than: i, weights: weights, active: active)
        }
    }

    /// Two weighted-random eligible candidates; the less loaded (per weight) wins. Keeps the
    /// least-connections benefit without every balancer instance herding onto the same node.
    private func pickRandomTwo<R: RandomNumberGenerator>(
        eligible: (Int) -> Bool,
        active: (Int) -> Int,
        using random: inout R
    ) -> Int? {
        var totalWeight = 0
        for i in weights.indices where eligible(i) { totalWeight += weights[i] }
        guard totalWeight > 0 else { return nil }
        let first = weightedSample(totalWeight: totalWeight, excluding: nil, eligible: eligible, using: &random)
        let remaining = totalWeight - weights[first]
        guard remaining > 0 else { return first }
        let second = weightedSample(totalWeight: remaining, excluding: first, eligible: eligible, using: &random)
        return isLessLoaded(second, than: first, active: active) ? second : first
    }

    private func weightedSample<R: RandomNumberGenerator>(
        totalWeight: Int,
        excluding excluded: Int?,
        eligible: (Int) -> Bool,
        using random: inout R
    ) -> Int {
        var ticket = Int.random(in: 0..<totalWeight, using: &random)
        var last = 0
        for i in weights.indices where eligible(i) && i != excluded {
            last = i
            if ticket < weights[i] { return i }
            ticket -= weights[i]
        }
        return last
    }

    /// `active(a) / weight(a) < active(b) / weight(b)`, without division.
    @inline(__always)
    private func isLessLoaded(_ a: Int, than b: Int, active: (Int) -> Int) -> Bool {
        Balancer.isLessLoaded(a, than: b, weights: weights, active: active)
    }

    @inline(__always)
    private static func isLessLoaded(_ a: Int, than b: Int, weights: [Int], active: (Int) -> Int) -> Bool {
        active(a) * weights[b] < active(b) * weights[a]
    }
}
