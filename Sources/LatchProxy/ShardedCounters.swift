import Synchronization

/// Counters that every event loop adds to in its own shard and that readers sum: a request costs a
/// relaxed atomic load and store per counter on memory no other thread writes — no lock, and no
/// read-modify-write bouncing a cache line between the cores of every loop (as one shared counter
/// would). Shards are padded to whole 64-byte cache lines so two loops never share one.
///
/// A shard has exactly one writer, the loop whose index it is (``UpstreamPool/shard``); a reader on
/// another thread sees each counter whole, and counters of one shard at most a request apart, as
/// with any Prometheus client.
final class ShardedCounters: @unchecked Sendable {
    let slots: Int
    let shards: Int
    private let stride: Int
    /// `shards × stride` counters.
    private let storage: UnsafeMutablePointer<Atomic<Int>>

    init(slots: Int, shards: Int) {
        self.slots = slots
        self.shards = max(shards, 1)
        stride = (slots + 7) / 8 * 8
        let count = self.shards * stride
        storage = .allocate(capacity: count)
        for i in 0..<count { (storage + i).initialize(to: Atomic(0)) }
    }

    deinit {
        storage.deinitialize(count: shards * stride)
        storage.deallocate()
    }

    /// Adds `delta` to counter `slot` of `shard`; only `shard`'s own event loop may call this.
    @inline(__always)
    func add(_ delta: Int, to slot: Int, shard: Int) {
        let counter = storage + (shard % shards) * stride + slot
        counter.pointee.store(counter.pointee.load(ordering: .relaxed) &+ delta, ordering: .relaxed)
    }

    /// Counter `slot` summed over the shards.
    func sum(_ slot: Int) -> Int {
        var total = 0
        // Wrapping, as the shards' own additions are: a counter that ran past `Int.max` must not trap a scrape.
        for shard in 0..<shards { total &+= storage[shard * stride + slot].load(ordering: .relaxed) }
        return total
    }
}
