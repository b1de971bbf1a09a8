import Foundation
import LatchCore

/// What the operator and the health checker tell a cluster (node states, check results, what nodes
/// announce) and what the admin API, the status page and the metrics read back. None of it is on the
/// request path; each read is one copy under the cluster's lock.
extension ClusterRuntime {
    /// Requests waiting for a slot, per node in node order.
    public func queuedRequests() -> [Int] {
        tallies.map(\.queued)
    }

    /// The operator's state of each node, in node order.
    public func nodeStates() -> [NodeState] {
        state.withLockedValue { $0.states }
    }

    /// Sets a node's state; returns the previous one, or `nil` when `expected` was given and the node
    /// was no longer in it (an operator changed it meanwhile: their change wins).
    @discardableResult
    public func setState(node: Int, _ newState: NodeState, ifCurrently expected: NodeState? = nil) -> NodeState? {
        let now = MonotonicInstant.now
        return state.withLockedValue { state in
            let old = state.states[node]
            if let expected, old != expected { return nil }
            state.states[node] = newState
            if newState == .draining, old != .draining { state.drainingSince[node] = now }
            if newState != .draining { state.drainingSince[node] = nil }
            state.observeSlowStart(at: now)
            return old
        }
    }

    /// The counters: those kept under the lock, with each node's finished requests and failures
    /// summed from its ``NodeTally``.
    public func stats() -> ClusterStats {
        var stats = state.withLockedValue { $0.stats }
        for (i, tally) in tallies.enumerated() {
            stats.nodes[i].requests = tally.requests
            stats.nodes[i].failures += tally.failures
        }
        return stats
    }

    /// Requests in flight per node, in node order.
    public func activeRequests() -> [Int] {
        tallies.map(\.active)
    }

    /// Whether each node may take requests now, in node order.
    public func usableNodes() -> [Bool] {
        let now = MonotonicInstant.now
        let count = config.nodes.count
        return state.withLockedValue { state in (0..<count).map { state.isUsable($0, at: now) } }
    }

    /// What one active check changed, for the log.
    struct CheckOutcome {
        var transition: HealthHysteresis.Transition?
        /// The node's announced state changed: from, to.
        var announced: (from: NodeState, to: NodeState)?
        /// The node announced something unrecognised, not logged before.
        var unrecognised: String?
    }

    /// Records an active check's result and, when the check got a response and the node has a
    /// `state_header`, what the node announced in it.
    func recordCheck(node: Int, passed: Bool, detail: String, announcement: StateAnnouncement? = nil) -> CheckOutcome {
        let now = MonotonicInstant.now
        return state.withLockedValue { state in
            var outcome = CheckOutcome()
            state.lastCheck[node] = detail
            if passed { state.passive[node].activeCheckPassed(at: now) }
            outcome.transition = state.health[node]?.record(passed: passed)
            if outcome.transition != nil { state.stats.nodes[node].healthTransitions += 1 }
            switch announcement {
            case .state(let announced)?:
                state.unrecognised[node] = nil
                if state.announced[node] != announced {
                    outcome.announced = (state.announced[node], announced)
                    state.announced[node] = announced
                }
            case .unrecognised(let text)?:
                if state.unrecognised[node] != text {
                    state.unrecognised[node] = text
                    outcome.unrecognised = text
                }
            case nil:
                break
            }
            state.observeSlowStart(at: now)
            return outcome
        }
    }

    /// What each node last announced through `health.state_header`; `nil` for a node without one.
    public func announcedStates() -> [NodeState?] {
        let headers = config.nodes.map { $0.health?.type == .http && $0.health?.stateHeader != nil }
        return state.withLockedValue { state in state.announced.indices.map { headers[$0] ? state.announced[$0] : nil } }
    }

    /// The state each node is treated by: the operator's or its own announcement, whichever holds it
    /// back more.
    public func effectiveStates() -> [NodeState] {
        state.withLockedValue { state in state.states.indices.map { state.effectiveState($0) } }
    }

    /// Per node: the share of its weight slow start gives it now (per mille), or `nil` when it is
    /// not ramping up.
    public func slowStartShares() -> [Int?] {
        let now = MonotonicInstant.now
        return state.withLockedValue { state in
            state.observeSlowStart(at: now)
            return state.slowStart.map { $0.isRamping(at: now) ? $0.share(at: now) : nil }
        }
    }

    /// Per node: distinct sessions seen within `drain.session_idle`, and the time of the last request
    /// of an existing session.
    public func sessionReport() -> [(count: Int?, lastSeen: Date?)] {
        let now = MonotonicInstant.now
        return sessions.map { ($0.distinctSessions(at: now), $0.lastSeen) }
    }

    /// The active-check verdict per node: `nil` for a node without active checks.
    public func healthVerdicts() -> [Bool?] {
        state.withLockedValue { $0.health.map { $0?.isUp } }
    }

    /// The last active check's result per node (`nil` before the first, or without checks).
    public func lastCheckResults() -> [String?] {
        state.withLockedValue { $0.lastCheck }
    }
}
