import Foundation
import LatchCore
import NIOConcurrencyHelpers

/// The sessions seen on one node, for drain and the status views: a ``SessionCounter`` per event loop,
/// each behind its own lock, merged when read. A request's sighting takes only its own loop's lock,
/// which no other loop's requests ever take (readers — the admin API, metrics, the drain watcher — and
/// the rare forgetting of a deleted session do, briefly), so event loops never wait for each other here.
///
/// Shared, like ``NodeTally``, by the cluster a reload builds when the node stays the same and
/// `drain.session_idle` does not change.
final class NodeSessions: Sendable {
    typealias Counter = SessionCounter<MonotonicInstant>

    private struct Shard {
        var counter: Counter
        /// The last request of an existing session, for the admin API: monotonic, made a wall-clock
        /// time only when read, so a request reads one clock, not two.
        var lastSeen: MonotonicInstant?
    }

    private let shards: [NIOLockedValueBox<Shard>]
    let window: Duration
    let granularity: Duration

    init(window: Duration, shards: Int) {
        let counter = Counter(window: window)
        self.window = window
        self.granularity = counter.granularity
        self.shards = (0..<max(shards, 1)).map { _ in NIOLockedValueBox(Shard(counter: counter)) }
    }

    /// A request of an existing session went well on the node (`sessionHash`: the ``SessionHash`` of
    /// the id it carried, when known). `shard` is the calling event loop's.
    func sighted(sessionHash: UInt64?, at now: MonotonicInstant, shard: Int) {
        shards[shard % shards.count].withLockedValue { shard in
            shard.lastSeen = now
            if let sessionHash { shard.counter.record(sessionHash: sessionHash, at: now) }
        }
    }

    /// The node issued the session `sessionID` (a `Set-Cookie`): it counts from now.
    func issued(sessionID: Substring, at now: MonotonicInstant, shard: Int) {
        shards[shard % shards.count].withLockedValue { $0.counter.record(sessionID: sessionID, at: now) }
    }

    /// The application ended the session: forgotten on every loop's counter.
    func forget(sessionID: some StringProtocol) {
        for shard in shards { shard.withLockedValue { $0.counter.forget(sessionID: sessionID) } }
    }

    /// Distinct sessions within the window, over every loop's counter.
    func distinctSessions(at now: MonotonicInstant) -> Int {
        Counter.distinctSessions(across: shards.map { $0.withLockedValue(\.counter) }, at: now)
    }

    /// The last request of an existing session, on any loop.
    var lastSeen: Date? {
        guard let last = shards.compactMap({ $0.withLockedValue(\.lastSeen) }).max() else { return nil }
        return Date(timeIntervalSinceNow: -Double(MonotonicInstant.now.nanoseconds - last.nanoseconds) / 1e9)
    }
}
