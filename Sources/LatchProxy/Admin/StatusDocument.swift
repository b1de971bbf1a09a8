import Foundation
import LatchCore

/// The JSON of `GET /api/status`: every cluster and node with state, health, load and counters.
struct StatusDocument: Encodable {
    /// The running Latch's (``LatchVersion``).
    var version = LatchVersion.current
    /// When this Latch started (RFC 3339), and how long ago in seconds.
    var started: String?
    var uptimeSeconds: Int?
    var clusters: [Cluster]

    struct Cluster: Encodable {
        var name: String
        var nodes: [Node]
        /// Requests no node took, by reason (`rejected`, `no_node`).
        var unserved: [String: Int]
        /// The nodes' figures added up.
        var totals: Totals?
    }

    struct Totals: Encodable, Equatable {
        var requests = 0
        var failures = 0
        var activeRequests = 0
        var sessions = 0
        /// Over the latest history interval; `nil` before the first one.
        var requestsPerSecond: Double?
        var serverErrorsPerSecond: Double?
    }

    /// A node's latest history point, as rates.
    struct Recent: Encodable, Equatable {
        var intervalSeconds: Double
        var requestsPerSecond: Double
        /// 5xx answers per second.
        var serverErrorsPerSecond: Double
        /// Requests per second that failed because of the node (connect errors, resets, timeouts).
        var failuresPerSecond: Double
        var p50Ms: Double?
        var p99Ms: Double?

        init(_ point: HistoryPoint) {
            intervalSeconds = point.seconds
            let per = { (count: Int) in (Double(count) / point.seconds * 100).rounded() / 100 }
            requestsPerSecond = per(point.requests)
            serverErrorsPerSecond = per(point.serverErrors)
            failuresPerSecond = per(point.failures)
            p50Ms = point.p50Ms.map { ($0 * 10).rounded() / 10 }
            p99Ms = point.p99Ms.map { ($0 * 10).rounded() / 10 }
        }
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
        /// When its state (the operator's or the announced one) last changed, or when Latch first saw
        /// it; when active checks last turned it up or down.
        var stateSince: String?
        var healthSince: String?
        var recent: Recent?
        /// While draining: when its sessions are expected to reach 0 (``DrainEstimate``).
        var drainEndEstimate: String?
    }

    struct Health: Encodable {
        var up: Bool
        var lastCheck: String?
    }

    static func make(_ clusters: [ClusterRuntime], histories: NodeHistories? = nil, now: Date = Date()) -> StatusDocument {
        let kept = histories?.all().histories ?? [:]
        let date = { (seconds: Double) in timestamp(Date(timeIntervalSince1970: seconds)) }
        var document = StatusDocument(
            started: histories.map { timestamp($0.started) },
            uptimeSeconds: histories.map { max(0, Int(now.timeIntervalSince($0.started))) },
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
                        let history = kept[NodeHistories.Key(cluster: cluster.config.name, node: node.name, address: node.address)]
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
                            lastStickyRequest: sessions[i].lastSeen.map(StatusDocument.timestamp),
                            stateSince: history.map { date($0.stateSince) },
                            healthSince: history?.healthSince.map(date),
                            recent: history?.points.last.map(Recent.init),
                            drainEndEstimate: history?.drainEndEstimate.map(date)
                        )
                    },
                    unserved: Dictionary(uniqueKeysWithValues: stats.unserved.map { ($0.key.rawValue, $0.value) })
                )
            }
        )
        for i in document.clusters.indices { document.clusters[i].totals = Totals(document.clusters[i].nodes) }
        return document
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

extension StatusDocument.Totals {
    init(_ nodes: [StatusDocument.Node]) {
        for node in nodes {
            requests += node.requests.values.reduce(0, +)
            failures += node.failures
            activeRequests += node.activeRequests
            sessions += node.sessions ?? 0
            if let recent = node.recent {
                requestsPerSecond = (requestsPerSecond ?? 0) + recent.requestsPerSecond
                serverErrorsPerSecond = (serverErrorsPerSecond ?? 0) + recent.serverErrorsPerSecond
            }
        }
        // Sums of rounded rates, rounded again so JSON shows 0.3, not 0.30000000000000004.
        requestsPerSecond = requestsPerSecond.map { ($0 * 100).rounded() / 100 }
        serverErrorsPerSecond = serverErrorsPerSecond.map { ($0 * 100).rounded() / 100 }
    }
}
