/// Admission to a node that has a `max_connections` limit, and the FIFO of requests waiting for it
/// (HAProxy's server `maxconn` / `maxqueue`). Pure: the proxy keeps one per node under its cluster
/// lock and runs what it decides.
///
/// A freed slot is handed straight to the oldest waiter instead of being released, so a request
/// arriving just then cannot overtake the queue: the in-flight count never dips below the limit
/// while someone waits, and admission is strictly first come, first served.
///
/// `@inlinable`, so the proxy's `NodeQueue<QueueWaiter>` is specialised where it is used: called
/// through the unspecialised generic code, each decision looked up its tuple's type metadata at run
/// time (three look-ups per request, in callgrind's profile).
public struct NodeQueue<Waiter>: Sendable where Waiter: Sendable {
    public enum Admission: Equatable, Sendable {
        /// Under the limit with no one waiting: go ahead (the caller counts the request in flight).
        case admitted
        /// At the limit: wait with this ticket until a slot is handed over or the wait times out.
        case queued(ticket: UInt64)
        /// At the limit and `maxQueue` requests already wait: refuse (503).
        case full
    }

    /// Requests in flight to the node at once; 0: no limit.
    public var limit: Int
    public var maxQueue: Int
    @usableFromInline var waiting: [(ticket: UInt64, waiter: Waiter)] = []
    /// The oldest entry of `waiting` still in line (earlier ones left): amortised O(1) dequeue.
    @usableFromInline var head = 0
    @usableFromInline var nextTicket: UInt64 = 1

    public init(limit: Int, maxQueue: Int) {
        self.limit = limit
        self.maxQueue = maxQueue
    }

    /// Requests waiting now.
    @inlinable public var count: Int { waiting.count - head }

    /// Whether a new request would have to wait (or be refused) with `active` requests in flight.
    @inlinable public func isFull(active: Int) -> Bool {
        limit > 0 && (active >= limit || count > 0)
    }

    /// Admits, queues or refuses a request, given the requests in flight to the node.
    @inlinable public mutating func admit(active: Int, waiter: @autoclosure () -> Waiter) -> Admission {
        guard isFull(active: active) else { return .admitted }
        guard count < maxQueue else { return .full }
        let ticket = nextTicket
        nextTicket += 1
        waiting.append((ticket, waiter()))
        return .queued(ticket: ticket)
    }

    /// A request in flight finished. Returns the waiter its slot goes to (still counted in flight),
    /// or `nil` when no one waits (the caller counts one request fewer). With `active` below the
    /// limit after a reload raised it, a slot is still handed over one release at a time.
    @inlinable public mutating func release() -> (ticket: UInt64, waiter: Waiter)? {
        guard head < waiting.count else { return nil }
        let next = waiting[head]
        head += 1
        compactIfDrained()
        return next
    }

    /// Takes a waiter out of line (its wait timed out, or its client left). False when it is no
    /// longer waiting: its slot was already handed over, and the caller must release it.
    @inlinable public mutating func cancel(ticket: UInt64) -> Bool {
        guard let index = waiting[head...].firstIndex(where: { $0.ticket == ticket }) else { return false }
        waiting.remove(at: index)
        compactIfDrained()
        return true
    }

    @inlinable mutating func compactIfDrained() {
        if head == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 64, head * 2 > waiting.count {
            waiting.removeFirst(head)
            head = 0
        }
    }
}
