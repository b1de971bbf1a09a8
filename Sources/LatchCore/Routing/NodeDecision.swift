/// Why a request went where it went. Logged on every request and counted per node.
public enum DecisionReason: String, Sendable, Equatable, CaseIterable {
    /// The session's route names a node of the cluster, and that node serves it.
    case sticky
    /// `failback: stay`: the session stays on the node that took it over, named by Latch's owner cookie.
    case stayed
    /// `session.routes: ranked`: the session's first route cannot serve; a later route of its id
    /// (one of WildFly's backup owners) names a usable node, which does.
    case failoverRanked = "failover_ranked"
    /// The session's node cannot serve; the first usable node of its `replicas` does.
    case failoverReplica = "failover_replica"
    /// The session's node and its replicas cannot serve; `on_unavailable: any` balanced it.
    case failoverAny = "failover_any"
    /// The session's node and its replicas cannot serve; `on_unavailable: reject` answers 503.
    case rejected
    /// No session id at all: a new session, balanced.
    case newSession = "new"
    /// A session id without a route suffix (or an empty one), balanced.
    case noRoute = "no_route"
    /// A session id whose route names no node of the cluster, balanced.
    case unknownRoute = "unknown_route"
    /// No node could take the request (503).
    case noNode = "no_node"

    /// The position in `allCases`, without building that array: counters per reason index by it on
    /// every request.
    public var index: Int {
        switch self {
        case .sticky: 0
        case .stayed: 1
        case .failoverRanked: 2
        case .failoverReplica: 3
        case .failoverAny: 4
        case .rejected: 5
        case .newSession: 6
        case .noRoute: 7
        case .unknownRoute: 8
        case .noNode: 9
        }
    }

    /// The request belongs to a session that already lives somewhere (it counts for drain).
    public var isExistingSession: Bool {
        switch self {
        case .sticky, .stayed, .failoverRanked, .failoverReplica, .failoverAny: true
        case .rejected, .newSession, .noRoute, .unknownRoute, .noNode: false
        }
    }
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

/// The node-choice rule, as one pure function. For a request whose route names node N:
/// N if usable; else, for a ranked id (`later`), the first of its later routes naming a usable node;
/// else the first usable node in N's ordered `replicas`; else, by `on_unavailable`,
/// a balanced usable node (`any`) or none (`reject`, 503). Requests without a usable route are
/// balanced over the usable nodes. Deterministic for a given health view and balancer state, so
/// several Latch instances fail a session over to the same replica.
///
/// `usable` says whether a node may serve at all (health, passive detection, not in maintenance);
/// `takesNewSessions` whether it may also be balanced onto (not draining). A session whose node or
/// replica is draining still goes there: its state is there.
///
/// With `failback: stay`, `owner` (from Latch's owner cookie, checked against the session id) comes
/// before N while it is usable, and the owner's replicas come before N when it is not.
///
/// `share` is the part of each node's weight it has for balanced requests now (slow start, per
/// mille); sticky requests and failovers ignore it.
///
/// `excluded` names nodes already tried for this request (a retry after a failed connect asks again
/// with the failed node excluded, which walks the same chain).
///
/// Every closure is non-escaping, so the caller's captures stay on its stack: a choice allocates
/// nothing (`Scripts/microbench` checks it). An optional closure parameter would be escaping, and its
/// context boxed on the heap at every call.
public enum NodeChooser {
    /// Pre-specialized for the proxy's generator: it runs for every new session, and the generic
    /// version reaches the generator and the balancer through witness tables from another module.
    @_specialize(exported: true, where R == SplitMix64)
    public static func choose<R: RandomNumberGenerator>(
        _ lookup: RouteLookup,
        owner: Int? = nil,
        usable: (Int) -> Bool = { _ in true },
        takesNewSessions: (Int) -> Bool = { _ in true },
        replicas: (Int) -> [Int] = { _ in [] },
        onUnavailable: UnavailablePolicy = .any,
        excluded: (Int) -> Bool = { _ in false },
        balancer: inout Balancer,
        active: (Int) -> Int,
        share: (Int) -> Int = { _ in Balancer.fullShare },
        using random: inout R
    ) -> NodeDecision {
        func available(_ node: Int) -> Bool { usable(node) && !excluded(node) }
        /// A draining node still serves its own and failed-over sessions, but is never balanced onto.
        func placeable(_ node: Int) -> Bool { available(node) && takesNewSessions(node) }
        let reason: DecisionReason
        switch lookup {
        case .known(let node, _, let later):
            if let owner, owner != node {
                if available(owner) {
                    return NodeDecision(node: owner, reason: .stayed)
                }
                // The session's current state is on its owner and the owner's replicas, not on N.
                if let replica = replicas(owner).first(where: { $0 != node && available($0) }) {
                    return NodeDecision(node: replica, reason: .failoverReplica)
                }
            }
            if available(node) {
                return NodeDecision(node: node, reason: .sticky)
            }
            for ranked in later where available(ranked) {
                return NodeDecision(node: ranked, reason: .failoverRanked)
            }
            if let replica = replicas(node).first(where: available) {
                return NodeDecision(node: replica, reason: .failoverReplica)
            }
            guard onUnavailable == .any else {
                return NodeDecision(node: nil, reason: .rejected)
            }
            reason = .failoverAny
        case .none:
            reason = .newSession
        case .noRoute:
            reason = .noRoute
        case .unknown:
            reason = .unknownRoute
        }
        guard let node = balancer.pick(eligible: placeable, active: active, share: share, using: &random) else {
            return NodeDecision(node: nil, reason: .noNode)
        }
        return NodeDecision(node: node, reason: reason)
    }
}
