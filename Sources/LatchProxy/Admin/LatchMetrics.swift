import CoreMetrics
import Foundation
import LatchCore
import NIOConcurrencyHelpers
import Prometheus

/// Prometheus metrics, recorded through swift-metrics into Latch's own registry and served by the admin
/// listener at `GET /metrics`. Names follow Prometheus conventions (`_total`, `_seconds`):
///
/// - `latch_build_info{version}`: always 1, labelled with the running version (``LatchVersion``);
/// - `latch_requests_total{cluster,node,reason,status_class}`: finished requests by decision reason and
///   status class (`2xx`…, or `none` when the client got no status);
/// - `latch_request_duration_seconds{cluster,node}`: histogram from request head to end of exchange;
/// - `latch_upstream_connect_errors_total{cluster,node}`: failed connects to a node;
/// - `latch_health_transitions_total{cluster,node}`, `latch_ejections_total{cluster,node}`;
/// - `latch_queue_full_total{cluster,node}`, `latch_queue_timeouts_total{cluster,node}`,
///   `latch_requests_refused_total{reason}`, `latch_client_connections_refused_total`;
/// - gauges, refreshed at each scrape: `latch_active_requests`, `latch_queued_requests`, `latch_sessions`, `latch_node_usable`
///   and `latch_node_state{state}` (1 for the node's current state);
/// - TLS: `latch_tls_handshake_failures_total{listener}` (client connections that ended without a
///   completed handshake: a refused version or cipher, a client not speaking TLS, a timeout) and
///   `latch_tls_certificate_expiry_timestamp_seconds{listener,certificate}` (each certificate in force:
///   its notAfter as a Unix time, to alert on `- time() < 14 * 86400`);
/// - PROXY protocol: `latch_proxy_protocol_refusals_total{listener,reason}` (connections closed for
///   their header: `malformed` — none, or not one —, `timeout`, `closed` mid-header).
///
/// The two per-request metrics are ``RequestSeries``: counted per event loop without a lock, summed at
/// each scrape. The rest go through swift-metrics, their handlers cached per label set.
final class LatchMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let counters = NIOLockedValueBox<[[String]: CoreMetrics.Counter]>([:])
    /// Every request series made so far, by (cluster, node) and in the order made: kept across
    /// reloads, so counts carry on for a node that stays.
    private let series = NIOLockedValueBox<(byKey: [[String]: RequestSeries], ordered: [RequestSeries])>(([:], []))
    /// Counters fed from ``ClusterStats`` at scrape time: the last value emitted, per label set.
    private let emitted = NIOLockedValueBox<[[String]: Int]>([:])

    init() {
        self.factory = PrometheusMetricsFactory(registry: registry)
    }

    /// The series of a cluster's node (`node` `-`: the cluster's requests no node took), made once
    /// per process with one shard per event loop. Called when a configuration is loaded, not per request.
    func series(cluster: String, node: String, shards: Int) -> RequestSeries {
        series.withLockedValue { series in
            let key = [cluster, node]
            if let existing = series.byKey[key] { return existing }
            let made = RequestSeries(cluster: cluster, node: node, shards: shards)
            series.byKey[key] = made
            series.ordered.append(made)
            return made
        }
    }

    func connectError(cluster: String, node: String) {
        counter("latch_upstream_connect_errors_total", ["cluster", cluster, "node", node]).increment()
    }

    /// A client connection answered 503 at `limits.max_client_connections`.
    func clientConnectionRefused() {
        counter("latch_client_connections_refused_total", []).increment()
    }

    /// A request refused before any node saw it, by why: `head_too_large`, `uri_too_long`,
    /// `body_too_large`, `malformed`, `queue_full`, `queue_timeout`.
    func requestRefused(_ why: String) {
        counter("latch_requests_refused_total", ["reason", why]).increment()
    }

    /// A client's TLS handshake failed or did not complete within `request_head`.
    func tlsHandshakeFailed(listener: String) {
        counter("latch_tls_handshake_failures_total", ["listener", listener]).increment()
    }

    /// A connection on a `proxy_protocol` listener closed for its header: `malformed`, `timeout`, `closed`.
    func proxyProtocolRefused(listener: String, reason: String) {
        counter("latch_proxy_protocol_refusals_total", ["listener", listener, "reason", reason]).increment()
    }

    /// The Prometheus text exposition, with the gauges and stats-fed counters brought up to date.
    /// - Parameter certificates: the certificates in force, by listener address and first DNS name.
    func exposition(clusters: [ClusterRuntime], certificates: [(listener: String, name: String, notAfter: Date)] = []) -> String {
        registry.makeGauge(
            descriptor: Self.descriptor("latch_build_info", help: "Always 1; the running Latch's version is its label"),
            labels: [("version", LatchVersion.current)]
        ).set(to: 1)
        for certificate in certificates {
            registry.makeGauge(
                descriptor: Self.descriptor("latch_tls_certificate_expiry_timestamp_seconds", help: "When the certificate expires (notAfter, Unix time)"),
                labels: [("listener", certificate.listener), ("certificate", certificate.name)]
            ).set(to: certificate.notAfter.timeIntervalSince1970)
        }
        for cluster in clusters {
            let name = cluster.config.name
            let active = cluster.activeRequests()
            let queued = cluster.queuedRequests()
            let sessions = cluster.sessionReport()
            let usable = cluster.usableNodes()
            let states = cluster.effectiveStates()
            let shares = cluster.slowStartShares()
            let stats = cluster.stats()
            for (i, node) in cluster.config.nodes.enumerated() {
                let labels = [("cluster", name), ("node", node.name)]
                registry.makeGauge(descriptor: Self.descriptor("latch_active_requests", help: "Requests in flight on the node"), labels: labels)
                    .set(to: Double(active[i]))
                registry.makeGauge(descriptor: Self.descriptor("latch_queued_requests", help: "Requests waiting for a slot under max_connections"), labels: labels)
                    .set(to: Double(queued[i]))
                registry.makeGauge(descriptor: Self.descriptor("latch_sessions", help: "Distinct sessions seen within drain.session_idle"), labels: labels)
                    .set(to: Double(sessions[i].count ?? 0))
                registry.makeGauge(descriptor: Self.descriptor("latch_node_usable", help: "1 when the node may serve (health, ejection, state)"), labels: labels)
                    .set(to: usable[i] ? 1 : 0)
                for state in NodeState.allCases {
                    registry.makeGauge(
                        descriptor: Self.descriptor("latch_node_state", help: "1 for the state the node is treated by (the operator's or its own announcement, the more restrictive)"),
                        labels: labels + [("state", state.rawValue)]
                    ).set(to: states[i] == state ? 1 : 0)
                }
                registry.makeGauge(descriptor: Self.descriptor("latch_node_weight_share", help: "Share of its weight the node has for new sessions (below 1 during slow start)"), labels: labels)
                    .set(to: Double(shares[i] ?? Balancer.fullShare) / Double(Balancer.fullShare))
                catchUp("latch_health_transitions_total", labels, to: stats.nodes[i].healthTransitions)
                catchUp("latch_ejections_total", labels, to: stats.nodes[i].ejections)
                catchUp("latch_queue_full_total", labels, to: stats.nodes[i].queueFull)
                catchUp("latch_queue_timeouts_total", labels, to: stats.nodes[i].queueTimeouts)
            }
        }
        return registry.emitToString() + RequestSeries.exposition(series.withLockedValue { $0.ordered })
    }

    /// A full metric name as one descriptor component (an empty unit adds no `_` suffix).
    private static func descriptor(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    private func counter(_ label: String, _ flat: [String]) -> CoreMetrics.Counter {
        counters.withLockedValue { counters in
            let key = [label] + flat
            if let counter = counters[key] { return counter }
            var dimensions: [(String, String)] = []
            var i = 0
            while i + 1 < flat.count {
                dimensions.append((flat[i], flat[i + 1]))
                i += 2
            }
            let counter = CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory)
            counters[key] = counter
            return counter
        }
    }

    /// Advances a registry counter to `value` (the stats are cumulative; Prometheus counters only grow).
    private func catchUp(_ name: String, _ labels: [(String, String)], to value: Int) {
        let key = [name] + labels.flatMap { [$0.0, $0.1] }
        let delta = emitted.withLockedValue { emitted -> Int in
            let last = emitted[key] ?? 0
            emitted[key] = max(last, value)
            return max(0, value - last)
        }
        let counter = registry.makeCounter(
            descriptor: Self.descriptor(name, help: "Cumulative \(name.replacingOccurrences(of: "_", with: " "))"),
            labels: labels
        )
        if delta > 0 { counter.increment(by: Int64(delta)) }
    }
}

