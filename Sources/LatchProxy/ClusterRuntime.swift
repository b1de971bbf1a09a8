import LatchCore
import NIOConcurrencyHelpers

/// The live, shared state of one cluster: the balancer and the in-flight count of every node.
///
/// All event loops choose nodes through the same instance, so weights and least-connections see the
/// whole process's traffic. The decision itself is ``NodeChooser/choose(_:balancer:active:using:)``;
/// this class only holds its state under a lock for the few nanoseconds a choice takes.
public final class ClusterRuntime: Sendable {
    public let index: Int
    public let config: ClusterConfig

    private struct State {
        var balancer: Balancer
        var active: [Int]
        var random = SystemRandomNumberGenerator()
    }

    private let state: NIOLockedValueBox<State>

    init(index: Int, config: ClusterConfig) {
        self.index = index
        self.config = config
        self.state = NIOLockedValueBox(
            State(
                balancer: Balancer(algorithm: config.balance, weights: config.nodes.map(\.weight)),
                active: Array(repeating: 0, count: config.nodes.count)
            )
        )
    }

    /// Chooses a node and counts the request as in flight on it until ``finished(node:)``.
    func decide(_ lookup: RouteLookup) -> NodeDecision {
        state.withLockedValue { state in
            let active = state.active
            let decision = NodeChooser.choose(
                lookup,
                balancer: &state.balancer,
                active: { active[$0] },
                using: &state.random
            )
            if let node = decision.node { state.active[node] += 1 }
            return decision
        }
    }

    func finished(node: Int) {
        state.withLockedValue { $0.active[node] -= 1 }
    }

    /// Requests in flight per node, in node order.
    public func activeRequests() -> [Int] {
        state.withLockedValue { $0.active }
    }
}
