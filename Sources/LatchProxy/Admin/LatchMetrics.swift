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
/// - gauges, refreshed at each scrape: `latch_active_requests`, `latch_queued_requests`, `latch_sessions`, `latch_node_usable`,
///   `latch_node_state{state}` (1 for the node's current state) and, for a node with `replicas`,
///   `latch_node_replicas_usable`;
/// - TLS: `latch_tls_handshake_failures_total{listener}` (client connections that ended without a
///   completed handshake: a refused version or cipher, a client not speaking TLS, a timeout) and
///   `latch_tls_certificate_expiry_timestamp_seconds{listener,certificate}` (each certificate in force:
///   its notAfter as a Unix time, to alert on `- time() < 14 * 86400`);
/// - PROXY protocol: `latch_proxy_protocol_refusals_total{listener,reason}` (connections closed for
///   their header: `malformed` — none, or not one —, `timeout`, `closed` mid-header).
///
/// - reloads: `latch_reloads_total{result}` (`success`, `failure`), `latch_config_last_reload_successful`
///   and `latch_config_last_reload_success_timestamp_seconds` (named as Prometheus names its own);
/// - the standard process metrics (``ProcessMetrics``).
///
/// Every family has `# HELP` and `# TYPE`, and every series Latch can know of in advance is there at 0
/// from the start (per node, per refusal reason, per TLS or PROXY protocol listener), so `rate()` and
/// alerts see it before the first event.
///
/// The two per-request metrics are ``RequestSeries``: counted per event loop without a lock, summed at
/// each scrape. The rest are swift-prometheus counters in Latch's own registry, each made once per label set.
final class LatchMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let counters = NIOLockedValueBox<[[String]: Prometheus.Counter]>([:])
    /// Reload outcomes since start, and when the configuration in force was loaded (start or reload).
    private let reloads = NIOLockedValueBox<(success: Int, failure: Int, lastSucceeded: Bool, loadedAt: Date)>((0, 0, true, Date()))

    /// `latch_requests_refused_total`'s reasons, all present from the start.
    static let refusalReasons = ["head_too_large", "uri_too_long", "body_too_large", "malformed", "not_implemented", "queue_full", "queue_timeout"]
    /// `latch_proxy_protocol_refusals_total`'s reasons.
    static let proxyProtocolReasons = ["malformed", "timeout", "closed"]

    private static let help = [
        "latch_upstream_connect_errors_total": "Connections to the node that failed (refused, timed out, reset, TLS)",
        "latch_client_connections_refused_total": "Client connections answered 503 at limits.max_client_connections",
        "latch_requests_refused_total": "Requests refused before any node saw them, by reason",
        "latch_tls_handshake_failures_total": "Client connections that ended without a completed TLS handshake",
        "latch_proxy_protocol_refusals_total": "Connections closed for their PROXY protocol header, by reason",
        "latch_health_transitions_total": "Times the node's health changed (up to down or back) by active checks",
        "latch_ejections_total": "Times passive detection took the node out",
        "latch_queue_full_total": "Requests refused because the node's queue (max_queue) was full",
        "latch_queue_timeouts_total": "Requests that waited queue_timeout for a slot on the node and were refused",
    ]
    /// Every request series made so far, by (cluster, node) and in the order made: kept across
    /// reloads, so counts carry on for a node that stays.
    private let series = NIOLockedValueBox<(byKey: [[String]: RequestSeries], ordered: [RequestSeries])>(([:], []))

    init() {}

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
    /// - Parameter listeners: the listeners in force, for the per-listener series present at 0.
    func exposition(
        clusters: [ClusterRuntime], listeners: [ListenerConfig] = [], certificates: [(listener: String, name: String, notAfter: Date)] = []
    ) -> String {
        makeKnownSeries(clusters: clusters, listeners: listeners)
        // What is read from the runtime at each scrape goes into a registry made for the scrape: a
        // node or certificate a reload removed is gone from it, as Prometheus expects.
        let scrape = PrometheusCollectorRegistry()
        scrape.makeGauge(
            descriptor: Self.descriptor("latch_build_info", help: "Always 1; the running Latch's version is its label"),
            labels: [("version", LatchVersion.current)]
        ).set(to: 1)
        for certificate in certificates {
            scrape.makeGauge(
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
                scrape.makeGauge(descriptor: Self.descriptor("latch_active_requests", help: "Requests in flight on the node"), labels: labels)
                    .set(to: Double(active[i]))
                scrape.makeGauge(descriptor: Self.descriptor("latch_queued_requests", help: "Requests waiting for a slot under max_connections"), labels: labels)
                    .set(to: Double(queued[i]))
                scrape.makeGauge(descriptor: Self.descriptor("latch_sessions", help: "Distinct sessions seen within drain.session_idle"), labels: labels)
                    .set(to: Double(sessions[i].count ?? 0))
                scrape.makeGauge(descriptor: Self.descriptor("latch_node_usable", help: "1 when the node may serve (health, ejection, state)"), labels: labels)
                    .set(to: usable[i] ? 1 : 0)
                for state in NodeState.allCases {
                    scrape.makeGauge(
                        descriptor: Self.descriptor("latch_node_state", help: "1 for the state the node is treated by (the operator's or its own announcement, the more restrictive)"),
                        labels: labels + [("state", state.rawValue)]
                    ).set(to: states[i] == state ? 1 : 0)
                }
                // What failover has left for this node's sessions (nodes with `replicas` only): an
                // alert on 0 beside a node that is down means those sessions have nowhere to go.
                let replicas = node.replicas.compactMap { name in cluster.config.nodes.firstIndex { $0.name == name } }
                if !replicas.isEmpty {
                    scrape.makeGauge(
                        descriptor: Self.descriptor("latch_node_replicas_usable", help: "How many of the node's replicas may serve now"), labels: labels
                    ).set(to: Double(replicas.filter { usable[$0] }.count))
                }
                scrape.makeGauge(descriptor: Self.descriptor("latch_node_weight_share", help: "Share of its weight the node has for new sessions (below 1 during slow start)"), labels: labels)
                    .set(to: Double(shares[i] ?? Balancer.fullShare) / Double(Balancer.fullShare))
                stat(scrape, "latch_health_transitions_total", labels, to: stats.nodes[i].healthTransitions)
                stat(scrape, "latch_ejections_total", labels, to: stats.nodes[i].ejections)
                stat(scrape, "latch_queue_full_total", labels, to: stats.nodes[i].queueFull)
                stat(scrape, "latch_queue_timeouts_total", labels, to: stats.nodes[i].queueTimeouts)
            }
        }
        return registry.emitToString() + scrape.emitToString() + RequestSeries.exposition(series.withLockedValue { $0.ordered }) + reloadExposition()
            + ProcessMetrics.exposition()
    }

    /// A full metric name as one descriptor component (an empty unit adds no `_` suffix).
    private static func descriptor(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The counter of `name` with these labels (`flat`: name, value, name, value…), made at 0 the
    /// first time it is asked for.
    @discardableResult
    private func counter(_ name: String, _ flat: [String]) -> Prometheus.Counter {
        counters.withLockedValue { counters in
            let key = [name] + flat
            if let counter = counters[key] { return counter }
            var labels: [(String, String)] = []
            var i = 0
            while i + 1 < flat.count {
                labels.append((flat[i], flat[i + 1]))
                i += 2
            }
            let counter = registry.makeCounter(descriptor: Self.descriptor(name, help: Self.help[name] ?? name), labels: labels)
            counters[key] = counter
            return counter
        }
    }

    /// After a reload: the series of nodes and listeners it removed are gone (the event counters and
    /// the request series; what is read at each scrape follows by itself).
    func retain(clusters: [ClusterConfig], listeners: [ListenerConfig]) {
        let nodes = Set(clusters.flatMap { cluster in cluster.nodes.map { [cluster.name, $0.name] } + [[cluster.name, "-"]] })
        let addresses = Set(listeners.map(\.address.description))
        counters.withLockedValue { counters in
            for (key, counter) in counters {
                let labels = Dictionary(uniqueKeysWithValues: stride(from: 1, to: key.count - 1, by: 2).map { (key[$0], key[$0 + 1]) })
                let goneNode = labels["cluster"].map { !nodes.contains([$0, labels["node"] ?? "-"]) } ?? false
                let goneListener = labels["listener"].map { !addresses.contains($0) } ?? false
                if goneNode || goneListener {
                    registry.unregisterCounter(counter)
                    counters[key] = nil
                }
            }
        }
        series.withLockedValue { series in
            series.ordered.removeAll { !nodes.contains([$0.cluster, $0.node]) }
            series.byKey = series.byKey.filter { nodes.contains($0.key) }
        }
    }

    /// A reload was applied (`true`) or rejected.
    func reloaded(_ succeeded: Bool) {
        reloads.withLockedValue { reloads in
            if succeeded {
                reloads.success += 1
                reloads.loadedAt = Date()
            } else {
                reloads.failure += 1
            }
            reloads.lastSucceeded = succeeded
        }
    }

    /// The series known before any event: per node, per reason, per listener that can count one.
    private func makeKnownSeries(clusters: [ClusterRuntime], listeners: [ListenerConfig]) {
        counter("latch_client_connections_refused_total", [])
        for reason in Self.refusalReasons { counter("latch_requests_refused_total", ["reason", reason]) }
        for cluster in clusters {
            for node in cluster.config.nodes {
                counter("latch_upstream_connect_errors_total", ["cluster", cluster.config.name, "node", node.name])
            }
        }
        for listener in listeners {
            let address = listener.address.description
            if listener.tls != nil { counter("latch_tls_handshake_failures_total", ["listener", address]) }
            if listener.proxyProtocol != nil {
                for reason in Self.proxyProtocolReasons { counter("latch_proxy_protocol_refusals_total", ["listener", address, "reason", reason]) }
            }
        }
    }

    private func reloadExposition() -> String {
        let reloads = reloads.withLockedValue { $0 }
        return """
            # HELP latch_reloads_total Configuration reloads (SIGHUP, latch reload, POST /api/reload) by result
            # TYPE latch_reloads_total counter
            latch_reloads_total{result="success"} \(reloads.success)
            latch_reloads_total{result="failure"} \(reloads.failure)
            # HELP latch_config_last_reload_successful 1 when the last reload was applied (or none was tried), 0 when it was rejected
            # TYPE latch_config_last_reload_successful gauge
            latch_config_last_reload_successful \(reloads.lastSucceeded ? 1 : 0)
            # HELP latch_config_last_reload_success_timestamp_seconds When the configuration in force was loaded (start or last applied reload), Unix time
            # TYPE latch_config_last_reload_success_timestamp_seconds gauge
            latch_config_last_reload_success_timestamp_seconds \(reloads.loadedAt.timeIntervalSince1970)

            """
    }

    /// A counter fed from ``ClusterStats``, cumulative for as long as the node is kept (across
    /// reloads too); a node removed and added again starts from 0, which `rate()` reads as a reset.
    private func stat(_ scrape: PrometheusCollectorRegistry, _ name: String, _ labels: [(String, String)], to value: Int) {
        scrape.makeCounter(descriptor: Self.descriptor(name, help: Self.help[name] ?? name), labels: labels).increment(by: Int64(value))
    }
}

