/// Why a request went where it went. Logged on every request and counted per node.
public enum DecisionReason: String, Sendable, Equatable, CaseIterable {
    /// The session's route names a node of the cluster.
    case sticky
    /// No session id at all: a new session, balanced.
    case newSession = "new"
    /// A session id without a route suffix (or an empty one), balanced.
    case noRoute = "no_route"
    /// A session id whose route names no node of the cluster, balanced.
    case unknownRoute = "unknown_route"
    /// No node could take the request (503).
    case noNode = "no_node"
}

public struct NodeDecision: Sendable, Equatable {
    /// Index into the cluster's nodes; `nil` only with ``DecisionReason/noNode``.
    public var node: Int?
    public var reason: DecisionReason

    public init(node: Int?, reason: DecisionReason) {
        self.node = node
        self.reason = reason
    }
}

/// The node-choice rule, as one pure function: a known route goes to its node; anything else is
/// balanced over the eligible nodes with the reason kept, so later rules (health, replicas, drain)
/// slot in here and stay table-tested.
public enum NodeChooser {
    public static func choose<R: RandomNumberGenerator>(
        _ lookup: RouteLookup,
        balancer: inout Balancer,
        active: (Int) -> Int,
        using random: inout R
    ) -> NodeDecision {
        let reason: DecisionReason
        switch lookup {
        case .known(let node, _):
            return NodeDecision(node: node, reason: .sticky)
        case .none:
            reason = .newSession
        case .noRoute:
            reason = .noRoute
        case .unknown:
            reason = .unknownRoute
        }
        guard let node = balancer.pick(eligible: { _ in true }, active: active, using: &random) else {
            return NodeDecision(node: nil, reason: .noNode)
        }
        return NodeDecision(node: node, reason: reason)
    }
}
