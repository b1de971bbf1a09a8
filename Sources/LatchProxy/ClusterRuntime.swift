import Foundation
import LatchCore
import NIOConcurrencyHelpers

/// The live, shared state of one cluster: the balancer, the in-flight count of every node, and what
/// active checks and real traffic say about each node's health.
///
/// All event loops choose nodes through the same instance, so weights, least-connections and health
/// see the whole process's traffic. The decision itself is ``NodeChooser``'s pure function; this class
/// only holds its inputs under a lock for the few nanoseconds a choice takes.
/// What happened to one node's traffic since start: the counters the admin API and metrics expose.
public struct NodeStats: Sendable, Equatable {
    /// Requests this node served (or was serving when they failed), by the decision that sent them.
    public var requests: [DecisionReason: Int] = [:]
    /// Requests that failed because of the node (connect failures, broken or invalid responses, timeouts).
    public var failures = 0
    /// Requests that were sent on to another node after this one failed them.
    public var retriedAway = 0
    /// Up/down changes decided by active checks.
    public var healthTransitions = 0
    /// Times passive detection took the node out.
    public var ejections = 0
    /// Requests refused because the node was at `max_connections` with its queue full.
    public var queueFull = 0
    /// Requests that waited `queue_timeout` for the node without getting a slot.
    public var queueTimeouts = 0

    public init() {}
}

/// A cluster's counters: per node, and the requests no node took (`rejected`, `no_node`).
public struct ClusterStats: Sendable, Equatable {
    public var nodes: [NodeStats]
    public var unserved: [DecisionReason: Int]
}

/// Where a request was placed (``ClusterRuntime/place(_:owner:excluding:grant:)``).
enum Placement {
    /// No node may take it; the decision's reason says why (503).
    case unserved(NodeDecision)
    /// Counted in flight on the decision's node: go ahead.
    case admitted(NodeDecision)
    /// The node is at `max_connections`: wait for the grant with this ticket, or until `queue_timeout`.
    case queued(NodeDecision, ticket: UInt64)
    /// The node is at `max_connections` and `max_queue` requests already wait (503).
    case queueFull(NodeDecision)
}

public final class ClusterRuntime: Sendable {
    public let index: Int
    public let config: ClusterConfig
    /// Each node's `replicas` as node indices, in order.
    let replicaIndices: [[Int]]
    /// TLS to this cluster's nodes (for requests and health checks); `nil`: plain HTTP.
    let tls: UpstreamTLS?
    /// Per node: the series its finished requests are counted in.
    let requestSeries: [RequestSeries]
    /// The requests of this cluster no node took (answered by Latch: refused, nothing usable…).
    let unplacedSeries: RequestSeries
    /// Reads the route of the session ids nodes issue in `Set-Cookie`.
    let extractor: RouteExtractor
    /// Per node: in-flight count and finished requests, outside the lock (see ``NodeTally``).
    let tallies: [NodeTally]
    /// Per node: the sessions seen on it, per event loop (see ``NodeSessions``).
    let sessions: [NodeSessions]

    struct State {
        var balancer: Balancer
        /// `nil` for a node without active checks.
        var health: [HealthHysteresis?]
        var lastCheck: [String?]
        var passive: [PassiveEjection<MonotonicInstant>]
        var states: [NodeState]
        /// When each draining node began draining.
        var drainingSince: [MonotonicInstant?]
        /// When each node's session counter began counting: an empty count means "no session left"
        /// only once it has watched for a whole `session_idle` (after a start or a reload it has not).
        var countingSince: [MonotonicInstant]
        var stats: ClusterStats
        /// The cluster that replaced this one at a reload, and where each node of this one went.
        /// What exchanges still running here report under the lock (retries, ejections, sessions the
        /// node issued) goes to it; their in-flight counts, finished requests and sightings need no
        /// forwarding, as kept nodes share their ``NodeTally`` and ``NodeSessions``.
        var successor: (cluster: ClusterRuntime, nodes: [Int?])?
        var random = SplitMix64()
        /// What each node last announced through `health.state_header` (`active` until it says more).
        var announced: [NodeState]
        /// The last unrecognised announcement logged per node, so each is logged once.
        var unrecognised: [String?]
        /// Per node: how far its slow start is (``SlowStart``).
        var slowStart: [SlowStart<MonotonicInstant>]

        /// The state a node is treated by: the more restrictive of the operator's and the node's own.
        func effectiveState(_ node: Int) -> NodeState {
            NodeState.mostRestrictive(states[node], announced[node])
        }

        func isUsable(_ node: Int, at now: MonotonicInstant) -> Bool {
            effectiveState(node) != .maintenance && (health[node]?.isUp ?? true) && !passive[node].isEjected(at: now)
        }

        /// Tells every node's slow start whether the node is usable now; a node whose checks have not
        /// decided yet is left out (its first verdict is not a return).
        mutating func observeSlowStart(at now: MonotonicInstant) {
            for node in slowStart.indices where slowStart[node].duration != nil && health[node]?.isUndecided != true {
                slowStart[node].observe(usable: isUsable(node, at: now), at: now)
            }
        }
    }

    let state: NIOLockedValueBox<State>
    /// Some node has `slow_start`: only then does a decision look at every node's usability.
    private let hasSlowStart: Bool

    /// - Parameter previous: the cluster of the same name before a reload. Every node kept with the same
    ///   name and address keeps its health verdict, passive ejection, runtime state, session count and
    ///   counters; new or moved nodes start fresh.
    init(
        index: Int,
        config: ClusterConfig,
        metrics: LatchMetrics,
        shards: Int,
        tls: UpstreamTLS? = nil,
        carryingOver previous: ClusterRuntime? = nil
    ) {
        self.index = index
        self.config = config
        self.tls = tls
        self.requestSeries = config.nodes.map { metrics.series(cluster: config.name, node: $0.name, shards: shards) }
        self.unplacedSeries = metrics.series(cluster: config.name, node: "-", shards: shards)
        // A node kept with the same name and address keeps its tally: see ``NodeTally``.
        self.tallies = config.nodes.map { node in
            let kept = previous.flatMap { previous in
                previous.config.nodes.firstIndex { $0.name == node.name && $0.address == node.address }.map { previous.tallies[$0] }
            }
            return kept ?? NodeTally(limit: node.maxConnections, maxQueue: config.limits.maxQueue, shards: shards)
        }
        self.sessions = config.nodes.map { node in
            let kept = previous.flatMap { previous -> NodeSessions? in
                guard previous.config.drain.sessionIdle == config.drain.sessionIdle else { return nil }
                return previous.config.nodes.firstIndex { $0.name == node.name && $0.address == node.address }.map { previous.sessions[$0] }
            }
            return kept ?? NodeSessions(window: config.drain.sessionIdle, shards: shards)
        }
        let names = config.nodes.map(\.name)
        self.extractor = RouteExtractor(session: config.session, nodeNames: names)
        self.replicaIndices = config.nodes.map { node in node.replicas.compactMap { names.firstIndex(of: $0) } }
        self.state = NIOLockedValueBox(
            State(
                balancer: Balancer(algorithm: config.balance, weights: config.nodes.map(\.weight)),
                health: config.nodes.map { $0.health.map(HealthHysteresis.init) },
                lastCheck: Array(repeating: nil, count: config.nodes.count),
                passive: config.nodes.map { PassiveEjection(config: config.passive, activelyChecked: $0.health != nil) },
                states: config.nodes.map(\.state),
                drainingSince: config.nodes.map { $0.state == .draining ? MonotonicInstant.now : nil },
                countingSince: Array(repeating: MonotonicInstant.now, count: config.nodes.count),
                stats: ClusterStats(nodes: Array(repeating: NodeStats(), count: config.nodes.count), unserved: [:]),
                successor: nil,
                announced: Array(repeating: .active, count: config.nodes.count),
                unrecognised: Array(repeating: nil, count: config.nodes.count),
                slowStart: config.nodes.map { SlowStart(duration: $0.slowStart, fromStart: true) }
            )
        )
        self.hasSlowStart = config.nodes.contains { $0.slowStart != nil }
        if let previous { carryOver(from: previous) }
        // A kept node's tally (and queue) takes this configuration's limits.
        for (node, tally) in zip(config.nodes, tallies) {
            for grant in tally.reconfigure(limit: node.maxConnections, maxQueue: config.limits.maxQueue) { grant.run() }
        }
    }

    private func carryOver(from previous: ClusterRuntime) {
        let mapping = previous.config.nodes.map { node in
            config.nodes.firstIndex { $0.name == node.name && $0.address == node.address }
        }
        // The copy and the hand-over are one step under the old lock: every update the old cluster
        // made before is in the copy, every one after goes to this cluster.
        let old = previous.state.withLockedValue { state in
            state.successor = (self, mapping)
            return state
        }
        state.withLockedValue { state in
            for (i, node) in config.nodes.enumerated() {
                guard let j = previous.config.nodes.firstIndex(where: { $0.name == node.name && $0.address == node.address })
                else {
                    // A node the reload added comes in cold: it ramps up once it is usable.
                    state.slowStart[i] = SlowStart(duration: node.slowStart, fromStart: false)
                    continue
                }
                // What the node announced stands while it still has a state header to announce it in.
                if node.health?.stateHeader != nil, node.health?.type == .http {
                    state.announced[i] = old.announced[j]
                    state.unrecognised[i] = old.unrecognised[j]
                }
                state.slowStart[i] = old.slowStart[j]
                state.slowStart[i].duration = node.slowStart
                if let health = node.health, let oldHealth = old.health[j] {
                    state.health[i] = HealthHysteresis(health, keeping: oldHealth)
                }
                state.lastCheck[i] = old.lastCheck[j]
                if previous.config.passive == config.passive, (previous.config.nodes[j].health != nil) == (node.health != nil) {
                    state.passive[i] = old.passive[j]
                }
                // A runtime state change outlives the reload; otherwise lb.yaml's (possibly new) state applies.
                if old.states[j] != previous.config.nodes[j].state {
                    state.states[i] = old.states[j]
                }
                state.drainingSince[i] = state.states[i] == .draining ? (old.drainingSince[j] ?? .now) : nil
                // The node's ``NodeSessions`` came over with it (same `session_idle`): so does how long it
                // has been counting.
                if previous.config.drain.sessionIdle == config.drain.sessionIdle {
                    state.countingSince[i] = old.countingSince[j]
                }
                state.stats.nodes[i] = old.stats.nodes[j]
            }
            if previous.config.name == config.name { state.stats.unserved = old.stats.unserved }
        }
    }


    /// Chooses a node and admits the request to it: counted in flight until ``finished(node:)``, or
    /// queued when the node is at `max_connections` (then `grant` runs with the ticket once a slot is
    /// handed over, unless ``cancelQueued(node:ticket:timedOut:)`` took it out of line first; it is
    /// built only then).
    ///
    /// New sessions are balanced over the nodes with a free slot, so a busy node is not given more;
    /// only when every node is full does one of them queue the request. A session's own node is
    /// never swapped for a replica just because it is busy: the request waits for it.
    ///
    /// This lock is the one a request takes on the way: the balancer and admission are the state every
    /// event loop must agree on.
    /// - Parameter excluded: nodes already tried for this request.
    func place(
        _ lookup: RouteLookup,
        owner: Int? = nil,
        excluding excluded: [Int] = [],
        grant: @autoclosure () -> @Sendable (_ node: Int, _ ticket: UInt64) -> Void
    ) -> Placement {
        let now = MonotonicInstant.now
        let replicas = replicaIndices
        let tallies = self.tallies
        let policy = config.failover.onUnavailable
        let hasSlowStart = self.hasSlowStart
        let (placement, grants) = state.withLockedValue { state -> (Placement, [QueueGrant]) in
            if hasSlowStart { state.observeSlowStart(at: now) }
            // The balancer is moved out while the chooser reads the rest of the state, rather than
            // the state copied: a copy would retain every array in it and make the balancer's own
            // arrays copy on write at each decision.
            var balancer = Balancer(algorithm: .roundRobin, weights: [])
            swap(&balancer, &state.balancer)
            var random = state.random
            var decision: NodeDecision
            do {
                // A read-only view, released at the end of this block, before the state is written.
                let read = state
                func choose(skippingFull: Bool) -> NodeDecision {
                    NodeChooser.choose(
                        lookup,
                        owner: owner,
                        usable: { read.isUsable($0, at: now) },
                        takesNewSessions: {
                            read.effectiveState($0) == .active
                                && !(skippingFull && tallies[$0].isFull)
                        },
                        replicas: { replicas[$0] },
                        onUnavailable: policy,
                        excluded: { excluded.contains($0) },
                        balancer: &balancer,
                        active: { tallies[$0].active },
                        // Without slow start anywhere every share is full: no look at the node's ramp.
                        share: { hasSlowStart ? read.slowStart[$0].share(at: now) : Balancer.fullShare },
                        using: &random
                    )
                }
                decision = choose(skippingFull: true)
                if decision.node == nil, decision.reason == .noNode {
                    decision = choose(skippingFull: false)
                }
            }
            swap(&balancer, &state.balancer)
            state.random = random
            guard let node = decision.node else { return (.unserved(decision), []) }
            // The waiter (a closure) is only built when the request must wait: no allocation otherwise.
            let (admission, grants) = tallies[node].admit(waiter: QueueWaiter(node: node, grant: grant()))
            switch admission {
            case .admitted:
                return (.admitted(decision), grants)
            case .queued(let ticket):
                return (.queued(decision, ticket: ticket), grants)
            case .full:
                state.stats.nodes[node].queueFull += 1
                return (.queueFull(decision), grants)
            }
        }
        for grant in grants { grant.run() }
        return placement
    }

    /// A request admitted to `node` is over: one fewer in flight, without a lock unless someone waits
    /// for the slot (then the oldest waiter gets it, in whichever configuration it was queued).
    func finished(node: Int) {
        for grant in tallies[node].release() { grant.run() }
    }

    /// An exchange on `node` ended: counted by the calling event loop (`shard`), its session sighted
    /// for drain, and its slot given back. No shared lock: after a reload the counts land in the
    /// tallies the new configuration reads (see ``NodeTally`` and ``NodeSessions``).
    /// - Parameters:
    ///   - releasingSlot: the exchange was admitted to `node` and holds its slot.
    ///   - sighting: the request belongs to an existing session and its node served it; `sessionHash`
    ///     is the ``SessionHash`` of the id it carried, when known.
    func exchangeEnded(
        node: Int, releasingSlot: Bool, reason: DecisionReason, nodeFailed: Bool, sighting: Bool, sessionHash: UInt64?,
        shard: Int
    ) {
        tallies[node].countFinished(reason: reason, nodeFailed: nodeFailed, shard: shard)
        if sighting { sessions[node].sighted(sessionHash: sessionHash, at: .now, shard: shard) }
        if releasingSlot { finished(node: node) }
    }

    /// Runs `update` on `node`'s state here, or — when a reload replaced this cluster — on the state of
    /// the node it became in the successor (nothing, for a node the reload removed). One lock either way.
    @discardableResult
    private func withNodeState<T>(_ node: Int, _ update: (inout State, Int) -> T) -> T? {
        // (the value, when updated here; where to go, when forwarded; neither, for a removed node)
        let (value, forward) = state.withLockedValue { state -> (T?, (cluster: ClusterRuntime, node: Int)?) in
            guard let successor = state.successor else { return (update(&state, node), nil) }
            return (nil, successor.nodes[node].map { (successor.cluster, $0) })
        }
        if let forward { return forward.cluster.withNodeState(forward.node, update) }
        return value
    }

    /// Takes a queued request out of line; false when its slot was already handed over (the grant is
    /// on its way, and whoever receives it must call ``finished(node:)``).
    func cancelQueued(node: Int, ticket: UInt64, timedOut: Bool) -> Bool {
        let cancelled = tallies[node].cancel(ticket: ticket)
        if cancelled, timedOut { withNodeState(node) { state, node in state.stats.nodes[node].queueTimeouts += 1 } }
        return cancelled
    }

    /// Counts a failed attempt that was sent on to another node.
    func countRetriedAway(node: Int) {
        withNodeState(node) { state, node in
            state.stats.nodes[node].retriedAway += 1
            state.stats.nodes[node].failures += 1
        }
    }

    /// Counts a request no node took.
    func countUnserved(_ reason: DecisionReason) {
        state.withLockedValue { $0.stats.unserved[reason, default: 0] += 1 }
    }

    /// Records a failure seen on real traffic; returns true when it ejected the node.
    func recordTrafficFailure(node: Int, _ failure: PassiveEjection<MonotonicInstant>.Failure) -> Bool {
        let now = MonotonicInstant.now
        return withNodeState(node) { state, node in
            let ejected = state.passive[node].record(failure, at: now)
            if ejected {
                state.stats.nodes[node].ejections += 1
                state.observeSlowStart(at: now)
            }
            return ejected
        } ?? false
    }

    /// Session cookies a node set in a response it served (`servedBy`), for drain: an issued id counts
    /// for the node its route names (a new session, or a changed id, lives there from this response
    /// on); a deleted one is forgotten, and so is the id the request carried, which the deletion ends.
    /// Runs after ``exchangeEnded(node:releasingSlot:reason:nodeFailed:sighting:sessionHash:shard:)`` for the same exchange.
    func noteIssuedSessions(_ issued: [IssuedSession], servedBy: Int?, requestSessionID: Substring?, shard: Int) {
        if let successor = state.withLockedValue({ $0.successor }) {
            successor.cluster.noteIssuedSessions(
                issued, servedBy: servedBy.flatMap { successor.nodes[$0] }, requestSessionID: requestSessionID, shard: shard)
            return
        }
        let now = MonotonicInstant.now
        for session in issued {
            let owner = session.id.isEmpty ? nil : extractor.node(ofSessionID: session.id)
            if session.deleted {
                if let requestSessionID, let servedBy { sessions[servedBy].forget(sessionID: requestSessionID) }
                if let owner { sessions[owner].forget(sessionID: session.id) }
            } else if let owner {
                sessions[owner].issued(sessionID: session.id, at: now, shard: shard)
            }
        }
    }

    /// The session cookies among a response's `Set-Cookie` field values.
    func issuedSessions(in setCookies: [String]) -> [IssuedSession] {
        let name = config.session.cookie
        let now = Int64(Date().timeIntervalSince1970)
        return setCookies.compactMap { IssuedSession.parse($0, cookie: name, now: now) }
    }

    /// Draining nodes that `drain:` says are done: no session left (with `maintenance_when_empty`),
    /// or past the `deadline`. Pure over the state; the caller moves them to maintenance.
    func finishedDraining(at now: MonotonicInstant = .now) -> [(node: Int, why: String)] {
        let drain = config.drain
        let sessions = self.sessions
        let draining = state.withLockedValue { state in
            state.states.indices.filter { state.states[$0] == .draining }
                .map { (node: $0, countingSince: state.countingSince[$0], since: state.drainingSince[$0]) }
        }
        return draining.compactMap { node, countingSince, since -> (Int, String)? in
            let watchedLongEnough = countingSince.duration(to: now) >= sessions[node].window + sessions[node].granularity
            if drain.maintenanceWhenEmpty, watchedLongEnough, sessions[node].distinctSessions(at: now) == 0 {
                return (node, "no session left")
            }
            if let deadline = drain.deadline, let since, since.duration(to: now) >= deadline {
                return (node, "drain deadline reached")
            }
            return nil
        }
    }
}
