/// How the text after a session id's first separator names nodes (`session.routes`).
public enum RouteMode: String, Sendable, Equatable, CaseIterable {
    /// One route: all of the text after the first separator (Tomcat's `jvmRoute`, Jetty's worker name).
    case single
    /// Several routes split by the same separator, best first: WildFly's `distributable-web` ranked
    /// affinity writes the session's primary owner, then its backup owners (`ABC123.node2.node3`).
    case ranked
}

/// The later routes of a ranked session id (WildFly `affinity=ranked`) that name nodes of the cluster,
/// in the order the id gives them, as node indices. The first route naming a node is the lookup's
/// `node`; these are tried after it (``NodeChooser``).
///
/// Held inline, in the value itself: reading a ranked route allocates nothing, which
/// `Scripts/microbench` checks like every other routing step. Routes past ``capacity`` are not kept
/// (WildFly writes at most `max-routes`, 3 by default: the primary owner and two backups).
public struct RankedRoutes: Sendable, Equatable, Sequence {
    /// The most later routes one session id can carry here; more are ignored.
    public static var capacity: Int { 7 }

    /// Node indices; only the first `count` slots mean anything, the rest stay zero so that equal
    /// lists compare equal.
    private var slots: SIMD8<UInt16> = .zero
    public private(set) var count = 0

    public init() {}

    public init<Nodes: Sequence<Int>>(_ nodes: Nodes) {
        for node in nodes { _ = append(node) }
    }

    public var isEmpty: Bool { count == 0 }

    /// Adds `node` at the end unless it is already listed (a route named twice is tried once) or the
    /// list is full; returns whether it was added.
    @discardableResult
    public mutating func append(_ node: Int) -> Bool {
        guard count < Self.capacity, node >= 0, node <= Int(UInt16.max), !contains(node) else { return false }
        slots[count] = UInt16(node)
        count += 1
        return true
    }

    public subscript(position: Int) -> Int {
        precondition(position >= 0 && position < count, "RankedRoutes: index out of range")
        return Int(slots[position])
    }

    public func contains(_ node: Int) -> Bool {
        for i in 0..<count where Int(slots[i]) == node { return true }
        return false
    }

    public func makeIterator() -> Iterator { Iterator(routes: self) }

    public struct Iterator: IteratorProtocol {
        let routes: RankedRoutes
        var position = 0

        public mutating func next() -> Int? {
            guard position < routes.count else { return nil }
            defer { position += 1 }
            return routes[position]
        }
    }
}
