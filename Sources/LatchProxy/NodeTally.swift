import LatchCore
import NIOConcurrencyHelpers
import Synchronization

/// Wakes a queued request when a slot is handed to it; called on whichever thread freed the slot, with
/// the node's index in the cluster the request was placed by.
struct QueueWaiter: Sendable {
    let node: Int
    let grant: @Sendable (_ node: Int, _ ticket: UInt64) -> Void
}

/// A slot handed to a queued request, to run once no lock is held.
struct QueueGrant {
    var ticket: UInt64
    var waiter: QueueWaiter

    func run() { waiter.grant(waiter.node, ticket) }
}

/// What one node's traffic adds up to that every event loop touches per request: the requests in
/// flight, the queue for its `max_connections`, and the finished requests by decision reason and
/// failure. Kept apart from the cluster's lock so that the end of an exchange takes no lock another
/// loop's requests take in the common case (nobody queued).
///
/// One object per node for as long as the node stays the same (name and address) across reloads: the
/// cluster a reload builds takes over the previous one's tallies, so exchanges still running in the
/// old configuration count in the same place, their end brings the in-flight count down where the new
/// configuration reads it, and requests queued under either configuration wait in the same line.
final class NodeTally: Sendable {
    /// Requests in flight on the node: raised at admission — below a limit only by a compare-and-exchange
    /// that keeps it at most the limit (``takeSlot(below:)``) — and lowered without a lock by whichever
    /// thread ends the exchange.
    let inFlight = Synchronization.Atomic<Int>(0)
    /// Requests in ``queue``. A release that lowers ``inFlight`` then sees a waiter here takes the
    /// queue's lock to hand the slot over; an admission that queues looks at ``inFlight`` again after
    /// raising this. Both sequentially consistent, so of a release and a queueing that race, at least
    /// one sees the other: no request waits while a slot is free.
    let waiting = Synchronization.Atomic<Int>(0)
    /// `max_connections` (0: none), as the latest configuration says.
    private let limit: Synchronization.Atomic<Int>
    private let queue: NIOLockedValueBox<NodeQueue<QueueWaiter>>
    /// Finished requests by reason (``DecisionReason`` order), then failures; per event loop.
    private let finished: ShardedCounters
    private static let reasons = DecisionReason.allCases
    private static let failureSlot = reasons.count

    init(limit: Int, maxQueue: Int, shards: Int) {
        self.limit = Synchronization.Atomic(limit)
        queue = NIOLockedValueBox(NodeQueue(limit: limit, maxQueue: maxQueue))
        finished = ShardedCounters(slots: Self.reasons.count + 1, shards: shards)
    }

    /// In flight now, for the balancer (under the cluster's lock) and the status views.
    var active: Int { inFlight.load(ordering: .sequentiallyConsistent) }
    /// Requests waiting for a slot.
    var queued: Int { waiting.load(ordering: .relaxed) }

    /// Whether a new request would have to wait (or be refused).
    var isFull: Bool {
        let limit = limit.load(ordering: .relaxed)
        return limit > 0 && (active >= limit || waiting.load(ordering: .sequentiallyConsistent) > 0)
    }

    /// A reload gave the node new limits. Returns the waiters a raised or removed limit lets in.
    func reconfigure(limit: Int, maxQueue: Int) -> [QueueGrant] {
        self.limit.store(limit, ordering: .relaxed)
        return queue.withLockedValue { queue in
            queue.limit = limit
            queue.maxQueue = maxQueue
            return handOver(&queue)
        }
    }

    /// Admits, queues or refuses a request (`waiter` is built only when it must wait); the grants are
    /// to run once the caller holds no lock.
    ///
    /// The common case — nobody waits and a slot is free — takes no lock: the slot is taken with a
    /// compare-and-exchange on ``inFlight``. Only a node at its limit (or with a line) takes the
    /// queue's lock.
    func admit(waiter: @autoclosure () -> QueueWaiter) -> (NodeQueue<QueueWaiter>.Admission, [QueueGrant]) {
        let limit = limit.load(ordering: .relaxed)
        guard limit > 0 else {
            inFlight.add(1, ordering: .sequentiallyConsistent)
            return (.admitted, [])
        }
        if waiting.load(ordering: .sequentiallyConsistent) == 0, takeSlot(below: limit) { return (.admitted, []) }
        return queue.withLockedValue { queue in
            var admission = queue.admit(active: active, waiter: waiter())
            if admission == .admitted {
                if queue.limit == 0 {
                    inFlight.add(1, ordering: .sequentiallyConsistent)
                    return (admission, [])
                }
                if takeSlot(below: queue.limit) { return (admission, []) }
                // The free slot went to a request on the lock-free path meanwhile: wait in line.
                admission = queue.admit(active: queue.limit, waiter: waiter())
            }
            switch admission {
            case .admitted:
                return (admission, [])
            case .queued:
                waiting.add(1, ordering: .sequentiallyConsistent)
                // A release may have lowered the count after `admit` read it, too early to see this
                // waiter: look again.
                return (admission, handOver(&queue))
            case .full:
                return (admission, [])
            }
        }
    }

    /// A request admitted to the node is over: one fewer in flight, and its slot to the oldest waiter,
    /// if any (the grants are to run once the caller holds no lock).
    func release() -> [QueueGrant] {
        inFlight.subtract(1, ordering: .sequentiallyConsistent)
        guard waiting.load(ordering: .sequentiallyConsistent) > 0 else { return [] }
        return queue.withLockedValue { handOver(&$0) }
    }

    /// Takes a waiter out of line; false when its slot was already handed over.
    func cancel(ticket: UInt64) -> Bool {
        queue.withLockedValue { queue in
            let cancelled = queue.cancel(ticket: ticket)
            if cancelled { waiting.subtract(1, ordering: .sequentiallyConsistent) }
            return cancelled
        }
    }

    /// Free slots to the oldest waiters, each counted in flight as it is handed over. A slot is handed
    /// over rather than released while someone waits, so a request arriving meanwhile cannot overtake
    /// the line (``NodeQueue``).
    private func handOver(_ queue: inout NodeQueue<QueueWaiter>) -> [QueueGrant] {
        var grants: [QueueGrant] = []
        while queue.count > 0 {
            if queue.limit == 0 {
                inFlight.add(1, ordering: .sequentiallyConsistent)
            } else if !takeSlot(below: queue.limit) {
                break
            }
            guard let next = queue.release() else { break }
            waiting.subtract(1, ordering: .sequentiallyConsistent)
            grants.append(QueueGrant(ticket: next.ticket, waiter: next.waiter))
        }
        return grants
    }

    /// Counts one more request in flight if that keeps the count below `limit`: the only way the
    /// count rises toward a limit, so concurrent admissions (lock-free or not) never pass it.
    private func takeSlot(below limit: Int) -> Bool {
        var current = inFlight.load(ordering: .sequentiallyConsistent)
        while current < limit {
            let (exchanged, original) = inFlight.compareExchange(
                expected: current, desired: current + 1, ordering: .sequentiallyConsistent)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// An exchange on this node ended; `shard` is the calling event loop's.
    func countFinished(reason: DecisionReason, nodeFailed: Bool, shard: Int) {
        finished.add(1, to: reason.index, shard: shard)
        if nodeFailed { finished.add(1, to: Self.failureSlot, shard: shard) }
    }

    /// Finished requests by reason, summed over the event loops (reasons with none left out).
    var requests: [DecisionReason: Int] {
        var requests: [DecisionReason: Int] = [:]
        for (i, reason) in Self.reasons.enumerated() {
            let count = finished.sum(i)
            if count > 0 { requests[reason] = count }
        }
        return requests
    }

    var failures: Int { finished.sum(Self.failureSlot) }
}
