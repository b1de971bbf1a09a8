import Foundation
import LatchCore

/// The JSON of `GET /api/status`: every cluster and node with state, health, load and counters.
struct StatusDocument: Encodable {
    /// The running Latch's (``LatchVersion``).
    var version = LatchVersion.current
    var clusters: [Cluster]

    struct Cluster: Encodable {
        var name: String
        var nodes: [Node]
        /// Requests no node took, by reason (`rejected`, `no_node`).
        var unserved: [String: Int]
    }

    struct Node: Encodable {
        var name: String
        var address: String
        var replicas: [String]
        /// The operator's state (lb.yaml, the admin API, the state file).
        var state: String
        /// What the node announces through `health.state_header`; absent without one.
        var announcedState: String?
        /// The state the node is treated by: the more restrictive of the two.
        var effectiveState: String
        /// While slow start ramps the node up: the percentage of its weight it has for new sessions.
        var slowStartWeightPercent: Int?
        /// Whether it may serve now: health, passive detection and state together.
        var usable: Bool
        var health: Health?
        var activeRequests: Int
        /// Requests waiting for a slot under `max_connections` (0 without a limit).
        var queuedRequests: Int = 0
        var maxConnections: Int = 0
        var requests: [String: Int]
        var failures: Int
        var retriedAway: Int
        var healthTransitions: Int
        var ejections: Int
        var queueFull: Int = 0
        var queueTimeouts: Int = 0
        var sessions: Int?
        var lastStickyRequest: String?
    }

    struct Health: Encodable {
        var up: Bool
        var lastCheck: String?
    }

    static func make(_ clusters: [ClusterRuntime]) -> StatusDocument {
        StatusDocument(
            clusters: clusters.map { cluster in
                let states = cluster.nodeStates()
                let announced = cluster.announcedStates()
                let effective = cluster.effectiveStates()
                let shares = cluster.slowStartShares()
                let usable = cluster.usableNodes()
                let verdicts = cluster.healthVerdicts()
                let checks = cluster.lastCheckResults()
                let active = cluster.activeRequests()
                let queued = cluster.queuedRequests()
                let stats = cluster.stats()
                let sessions = cluster.sessionReport()
                return Cluster(
                    name: cluster.config.name,
                    nodes: cluster.config.nodes.indices.map { i in
                        let node = cluster.config.nodes[i]
                        return Node(
                            name: node.name,
                            address: node.address.description,
                            replicas: node.replicas,
                            state: states[i].rawValue,
                            announcedState: announced[i]?.rawValue,
                            effectiveState: effective[i].rawValue,
                            slowStartWeightPercent: shares[i].map { $0 * 100 / Balancer.fullShare },
                            usable: usable[i],
                            health: verdicts[i].map { Health(up: $0, lastCheck: checks[i]) },
                            activeRequests: active[i],
                            queuedRequests: queued[i],
                            maxConnections: node.maxConnections,
                            requests: Dictionary(uniqueKeysWithValues: stats.nodes[i].requests.map { ($0.key.rawValue, $0.value) }),
                            failures: stats.nodes[i].failures,
                            retriedAway: stats.nodes[i].retriedAway,
                            healthTransitions: stats.nodes[i].healthTransitions,
                            ejections: stats.nodes[i].ejections,
                            queueFull: stats.nodes[i].queueFull,
                            queueTimeouts: stats.nodes[i].queueTimeouts,
                            sessions: sessions[i].count,
                            lastStickyRequest: sessions[i].lastSeen.map(StatusDocument.timestamp)
                        )
                    },
                    unserved: Dictionary(uniqueKeysWithValues: stats.unserved.map { ($0.key.rawValue, $0.value) })
                )
            }
        )
    }

    func json() -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return (try? encoder.encode(self)) ?? Data("{}".utf8)
    }

    /// RFC 3339 in UTC.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
