import NIOConcurrencyHelpers

/// The in-memory session table of one demo node, bounded so a demo left running cannot grow without limit.
///
/// Plain value type with no locking: `SessionStore` owns the single copy and serialises access to it.
struct SessionTable {
    /// Most sessions kept at once; past this the oldest (first created) session is forgotten,
    /// just as a real node would expire it.
    let capacity: Int
    private var hits: [String: Int] = [:]
    /// Session ids in creation order; only `order[head...]` are still live. Ids are never reused
    /// and sessions are only removed by eviction or by `removeAll()`, so this stays in step with `hits`.
    private var order: [String] = []
    private var head = 0

    init(capacity: Int) {
        precondition(capacity > 0, "a session table needs room for at least one session")
        self.capacity = capacity
    }

    var count: Int { hits.count }

    func contains(_ id: String) -> Bool { hits[id] != nil }

    /// Counts one more hit on an existing session; nil if this node does not know the id.
    mutating func hit(_ id: String) -> Int? {
        guard let current = hits[id] else { return nil }
        let next = current + 1
        hits[id] = next
        return next
    }

    /// Adds a new session with one hit, evicting the oldest one when full.
    mutating func insert(_ id: String) {
        precondition(hits[id] == nil, "session ids are never reused")
        insert(id, hits: 1)
    }

    /// Takes a copy replicated from another node: a new session is added, a known one raised to `count`.
    /// Counts only ever rise, so keeping the larger one makes copies that arrive out of order harmless.
    mutating func storeCopy(_ id: String, hits count: Int, addIfMissing: Bool) {
        if let current = hits[id] {
            hits[id] = max(current, count)
        } else if addIfMissing {
            insert(id, hits: count)
        }
    }

    /// Forgets every session, as a node restarting without session persistence does.
    mutating func removeAll() {
        hits.removeAll()
        order.removeAll()
        head = 0
    }

    private mutating func insert(_ id: String, hits count: Int) {
        while hits.count >= capacity { evictOldest() }
        hits[id] = count
        order.append(id)
    }

    private mutating func evictOldest() {
        let oldest = order[head]
        head += 1
        hits[oldest] = nil
        // Drop the dead prefix now and then instead of on every eviction, so eviction stays O(1) amortised.
        if head >= 1024 && head * 2 >= order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}

/// What one request did to the session table.
struct SessionVisit: Equatable, Sendable {
    var id: String
    var hits: Int
    /// True when the request started a new session, so the response must carry `Set-Cookie`.
    var isNew: Bool
    /// True when the request presented a session id this node did not know (e.g. after it restarted
    /// empty), so the page can say why the count starts again at 1.
    var previousNotFound = false
}

/// Thread-safe owner of one node's `SessionTable`: every connection of the node runs on some event loop
/// of the group and they all share this one table, like the sessions of one Tomcat JVM. It also holds
/// the copies other nodes replicate to it, and goes down (empty, refusing copies) while its node is crashed.
final class SessionStore: Sendable {
    /// The jvmRoute-style suffix this node writes after the random part of every id it issues.
    let node: String
    private let state: NIOLockedValueBox<(table: SessionTable, isUp: Bool)>

    init(node: String, capacity: Int) {
        self.node = node
        self.state = NIOLockedValueBox((SessionTable(capacity: capacity), true))
    }

    var count: Int { state.withLockedValue { $0.table.count } }

    /// Continues the first candidate id that is still in the table, or starts a new session. Look-up and
    /// creation happen under one lock so two requests can never race on one id.
    ///
    /// Any candidate counts, not only ids with this node's suffix: after a failover, the ids this node
    /// knows under another node's name are the copies it holds as that node's replica.
    func visit(candidates: [String]) -> SessionVisit {
        state.withLockedValue { state in
            for id in candidates {
                if let hits = state.table.hit(id) {
                    return SessionVisit(id: id, hits: hits, isNew: false)
                }
            }
            var id = Self.newSessionID(node: node)
            // 128 random bits make a clash practically impossible; the loop only keeps `insert`'s promise.
            while state.table.contains(id) { id = Self.newSessionID(node: node) }
            state.table.insert(id)
            return SessionVisit(id: id, hits: 1, isNew: true, previousNotFound: !candidates.isEmpty)
        }
    }

    /// Takes a session copy from another node. Dropped while this node is down: a crashed JVM receives
    /// nothing. See `DemoSessionReplication` for why only new sessions are added.
    func receiveCopy(id: String, hits: Int, isNew: Bool) {
        state.withLockedValue { state in
            guard state.isUp else { return }
            state.table.storeCopy(id, hits: hits, addIfMissing: isNew)
        }
    }

    /// The node crashed: every session is lost and copies are refused until `comeBack()`.
    func goDown() {
        state.withLockedValue { state in
            state.isUp = false
            state.table.removeAll()
        }
    }

    /// The node restarted: it serves and takes copies again, starting empty (no session persistence).
    func comeBack() {
        state.withLockedValue { state in
            // Emptied again in case a request on a connection that was still closing slipped one in.
            state.table.removeAll()
            state.isUp = true
        }
    }

    /// 32 uppercase hex digits (128 bits) from the system CSPRNG, then `.` and the node name, as Tomcat
    /// does with `jvmRoute`. Session ids are bearer secrets, so a predictable generator would be wrong
    /// even in a demo that someone may copy.
    static func newSessionID(node: String) -> String {
        var rng = SystemRandomNumberGenerator()
        let digits = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32 + 1 + node.utf8.count)
        for _ in 0..<2 {
            var word = rng.next() as UInt64
            for _ in 0..<16 {
                bytes.append(digits[Int(word >> 60)])
                word <<= 4
            }
        }
        bytes.append(UInt8(ascii: "."))
        bytes.append(contentsOf: node.utf8)
        return String(decoding: bytes, as: UTF8.self)
    }
}
