import Foundation
import LatchCore
import NIOConcurrencyHelpers
import NIOCore

/// Every node's ``NodeHistory``, by cluster, node name and address, kept across reloads for the nodes
/// a reload keeps (a node given another address is a new node, as the runtime treats it). A sampler
/// on one event loop adds a point per node every `admin.history_interval`; state and health changes
/// are noted where they happen. Nothing here is on the request path: the sampler reads the same
/// per-loop counters a scrape does, and the lock is taken by the sampler, the changes (rare) and the
/// admin API only.
final class NodeHistories: Sendable {
    let interval: Duration
    let capacity: Int
    private let state = NIOLockedValueBox(State())
    private let task = NIOLockedValueBox<RepeatedTask?>(nil)
    /// When this Latch started, for nodes first seen before any change.
    let started: Date

    struct Key: Hashable {
        var cluster: String
        var node: String
        var address: HostPort
    }

    struct State {
        var histories: [Key: NodeHistory] = [:]
        /// The last sequence number given to a point or event: `GET /api/history?after=` counts on it.
        var sequence: UInt64 = 0
    }

    static let boundsMilliseconds = RequestSeries.bucketBounds.map { Double($0.wholeNanoseconds) / 1e6 }

    init(interval: Duration, points: Int, started: Date = Date()) {
        self.interval = interval
        self.capacity = points
        self.started = started
    }

    convenience init(_ admin: AdminConfig?) {
        let admin = admin ?? AdminConfig()
        self.init(interval: admin.historyInterval, points: admin.historyPoints)
    }

    /// Samples now (the baseline) and then every interval, until ``stop()``.
    func start(server: ProxyServer, on loop: any EventLoop) {
        sample(server.runtime.clusters)
        let delay = TimeAmount.nanoseconds(Int64(interval.wholeNanoseconds))
        let repeated = loop.scheduleRepeatedTask(initialDelay: delay, delay: delay) { [self] _ in
            sample(server.runtime.clusters)
        }
        task.withLockedValue { $0 = repeated }
    }

    func stop() {
        task.withLockedValue { task in
            task?.cancel()
            task = nil
        }
    }

    /// Adds a point for every node (the first sample of a node only sets its baseline), and drops the
    /// histories of nodes no cluster has any more (removed by a reload).
    /// - Parameter date: the sample's time; `nil`: now.
    func sample(_ clusters: [ClusterRuntime], at date: Date? = nil) {
        var samples: [(Key, NodeSample)] = []
        for cluster in clusters {
            let effective = cluster.effectiveStates()
            let verdicts = cluster.healthVerdicts()
            let usable = cluster.usableNodes()
            let active = cluster.activeRequests()
            let queued = cluster.queuedRequests()
            let stats = cluster.stats()
            let sessions = cluster.sessionReport()
            for (i, node) in cluster.config.nodes.enumerated() {
                let tally = cluster.requestSeries[i].tally()
                let counters = NodeCounters(
                    statusClasses: tally.statusClassTotals(),
                    buckets: tally.buckets + [tally.total - tally.buckets.reduce(0, +)],
                    failures: stats.nodes[i].failures,
                    ejections: stats.nodes[i].ejections
                )
                samples.append((
                    Key(cluster: cluster.config.name, node: node.name, address: node.address),
                    NodeSample(
                        counters: counters, sessions: sessions[i].count, active: active[i], queued: queued[i],
                        state: effective[i].rawValue, up: verdicts[i], usable: usable[i])
                ))
            }
        }
        state.withLockedValue { state in
            // Taken under the lock, as events' times are, so times follow the order things are stored in.
            let time = Self.milliseconds(date ?? Date())
            for (key, sample) in samples {
                // In place: a copy of the history taken out of the dictionary would copy its rings.
                state.histories[key, default: makeHistory(since: time)].record(sample, at: time, sequence: &state.sequence)
            }
            let present = Set(samples.map(\.0))
            state.histories = state.histories.filter { present.contains($0.key) }
        }
    }

    /// A change to a node, seen where it happened.
    /// - Parameter effective: the node's effective state after the change, when the change moved it.
    func note(
        cluster: String, node: NodeConfig, _ kind: HistoryEvent.Kind, from: String, to: String, effective: String? = nil,
        at date: Date? = nil
    ) {
        state.withLockedValue { state in
            let time = Self.milliseconds(date ?? Date())
            state.sequence += 1
            let event = HistoryEvent(time: time, kind: kind, from: from, to: to, effective: effective, sequence: state.sequence)
            state.histories[Key(cluster: cluster, node: node.name, address: node.address), default: makeHistory(since: time)].note(event)
        }
    }

    /// One node's history, if it has one.
    func history(cluster: String, node: String) -> NodeHistory? {
        state.withLockedValue { state in state.histories.first { $0.key.cluster == cluster && $0.key.node == node }?.value }
    }

    /// Every node's, and the last sequence number given, copied under the lock at once.
    func all() -> (histories: [Key: NodeHistory], sequence: UInt64) {
        state.withLockedValue { ($0.histories, $0.sequence) }
    }

    /// Unix seconds to the millisecond, as the history's times are given.
    static func milliseconds(_ date: Date) -> Double {
        (date.timeIntervalSince1970 * 1000).rounded() / 1000
    }

    private func makeHistory(since time: Double) -> NodeHistory {
        NodeHistory(points: capacity, boundsMilliseconds: Self.boundsMilliseconds, since: time)
    }
}

extension RequestTally {
    /// Finished requests by status class, over every reason: `[0]` none, `[1]`…`[9]` 1xx…9xx.
    func statusClassTotals() -> [Int] {
        var totals = Array(repeating: 0, count: RequestSeries.statusClasses)
        for (i, count) in counts.enumerated() { totals[i % RequestSeries.statusClasses] += count }
        return totals
    }
}
