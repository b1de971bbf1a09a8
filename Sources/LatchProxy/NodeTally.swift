import LatchCore
import Synchronization

/// What one node's traffic adds up to that every event loop touches per request: the requests in
/// flight, and the finished ones by decision reason and failure. Kept apart from the cluster's locked
/// state so that the end of an exchange takes no lock in the common case (a node without
/// `max_connections`, no one queued); the balancer reads the in-flight count under its own lock.
///
/// One object per node for as long as the node stays the same (name and address) across reloads: the
/// cluster a reload builds takes over the previous one's tallies, so exchanges still running in the
/// old configuration count in the same place, and their end brings the in-flight count down where the
/// new configuration reads it.
final class NodeTally: Sendable {
    /// Requests in flight on the node. Raised only under the cluster's lock (admission); lowered without
    /// it, by whichever thread ends the exchange.
    let inFlight = Atomic<Int>(0)
    /// Requests waiting in a cluster's queue for this node. A release that lowers ``inFlight`` then
    /// sees a waiter here takes the cluster's lock to hand the slot over; an admission that queues
    /// checks ``inFlight`` again after raising this. Both sequentially consistent, so of a release and
    /// a queueing that race, at least one sees the other.
    let waiting = Atomic<Int>(0)
    /// Finished requests by reason (``DecisionReason`` order), then failures; per event loop.
    private let finished: ShardedCounters
    private static let reasons = DecisionReason.allCases
    private static let failureSlot = reasons.count

    init(shards: Int) {
        finished = ShardedCounters(slots: Self.reasons.count + 1, shards: shards)
    }

    var active: Int { inFlight.load(ordering: .relaxed) }

    /// An exchange on this node ended; `shard` is the calling event loop's.
    func countFinished(reason: DecisionReason, nodeFailed: Bool, shard: Int) {
        finished.add(1, to: Self.reasons.firstIndex(of: reason)!, shard: shard)
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
