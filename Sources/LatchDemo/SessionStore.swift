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
    /// and sessions are only removed by eviction, so this stays in step with `hits`.
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
        while hits.count >= capacity { evictOldest() }
        hits[id] = 1
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
}

/// Thread-safe owner of one node's `SessionTable`: every connection of the node runs on some event loop
/// of the group and they all share this one table, like the sessions of one Tomcat JVM.
final class SessionStore: Sendable {
    /// The jvmRoute-style suffix this node writes after the random part of every id it issues.
    let node: String
    private let table: NIOLockedValueBox<SessionTable>

    init(node: String, capacity: Int) {
        self.node = node
        self.table = NIOLockedValueBox(SessionTable(capacity: capacity))
    }

    var count: Int { table.withLockedValue { $0.count } }

    /// Continues the first candidate id that belongs to this node and is still in the table, or starts a
    /// new session. Look-up and creation happen under one lock so two requests can never race on one id.
    func visit(candidates: [String]) -> SessionVisit {
        let suffix = "." + node
        let ours = candidates.filter { $0.count > suffix.count && $0.hasSuffix(suffix) }
        return table.withLockedValue { table in
            for id in ours {
                if let hits = table.hit(id) {
                    return SessionVisit(id: id, hits: hits, isNew: false)
                }
            }
            var id = Self.newSessionID(node: node)
            // 128 random bits make a clash practically impossible; the loop only keeps `insert`'s promise.
            while table.contains(id) { id = Self.newSessionID(node: node) }
            table.insert(id)
            return SessionVisit(id: id, hits: 1, isNew: true)
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
