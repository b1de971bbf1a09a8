import NIOConcurrencyHelpers

/// In-process session replication between demo nodes, as a Tomcat cluster does it over the network:
/// every node's sessions are copied to its replica, so when the node dies the replica can go on
/// serving them (the hit count continues), under the same id.
///
/// Nodes are arranged in a ring: each one's replica is the next name, the last one's is the first
/// (`["tomcat1", "tomcat2", "tomcat3"]`: tomcat1→tomcat2, tomcat2→tomcat3, tomcat3→tomcat1), the same
/// ring `latch demo` gives the balancer as each node's `replicas`. Share one instance between the
/// `DemoAppServer`s of one cluster.
///
/// Each hit writes the session's new count to the owner named in its id and to that owner's replica.
/// A copy that a store no longer holds is not brought back by a later hit: a node that restarted
/// empty stays without the sessions it lost, exactly what makes `failback: stay` worth having (with
/// `immediate`, the session returns to a node that does not know it). Only a new session is added
/// to its replica.
public final class DemoSessionReplication: Sendable {
    /// The node names, in ring order.
    public let ring: [String]
    private let replicaOf: [String: String]
    /// The live store of every node that joined, by node name.
    private let stores = NIOLockedValueBox<[String: SessionStore]>([:])

    /// - Parameter ring: node names in ring order; a name listed twice keeps its first place, and a
    ///   single node has no replica.
    public init(ring: [String]) {
        self.ring = ring
        var replicaOf: [String: String] = [:]
        for (index, name) in ring.enumerated() where replicaOf[name] == nil {
            let next = ring[(index + 1) % ring.count]
            if next != name { replicaOf[name] = next }
        }
        self.replicaOf = replicaOf
    }

    /// The node that holds copies of `node`'s sessions; nil for a node outside the ring.
    public func replica(of node: String) -> String? {
        replicaOf[node]
    }

    /// Adds a node's store; false when a running node of that name already joined.
    func join(_ store: SessionStore) -> Bool {
        stores.withLockedValue { stores in
            guard stores[store.node] == nil else { return false }
            stores[store.node] = store
            return true
        }
    }

    /// Removes a node's store when its server closes for good, so the name can join again.
    func leave(_ store: SessionStore) {
        stores.withLockedValue { stores in
            if stores[store.node] === store { stores[store.node] = nil }
        }
    }

    /// Copies what `visit` did on node `servedBy` to the session's owner (the node named in its id)
    /// and the owner's replica, leaving out the node that served it, whose own store already has it.
    func replicate(_ visit: SessionVisit, servedBy: String) {
        guard let owner = Self.owner(of: visit.id) else { return }
        var targets = [owner]
        if let replica = replicaOf[owner] { targets.append(replica) }
        let receivers = stores.withLockedValue { stores in
            targets.filter { $0 != servedBy }.compactMap { stores[$0] }
        }
        // Written outside the ring's lock: each store takes its own.
        for store in receivers {
            store.receiveCopy(id: visit.id, hits: visit.hits, isNew: visit.isNew)
        }
    }

    /// The route after the first `.` (Tomcat's jvmRoute separator); nil when there is none.
    static func owner(of id: String) -> String? {
        guard let dot = id.firstIndex(of: ".") else { return nil }
        let route = id[id.index(after: dot)...]
        return route.isEmpty ? nil : String(route)
    }
}
