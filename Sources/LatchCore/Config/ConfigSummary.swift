/// One-screen human summary for `latch check`: listeners, timeouts, the admin listener, state file,
/// shutdown grace and access log, and per cluster: name, match, session settings, balance, health
/// checks, passive detection, failover, drain, nodes with address, weight and replicas, the state of a
/// node that is not active, and the health checks of a node whose checks differ from its cluster's.
///
/// It shows the configuration *after* defaults are applied, so an operator sees what Latch will
/// actually do, not just what the file says. Durations use the file's own notation. No trailing
/// newline, so `print(ConfigSummary.render(config))` ends cleanly.
public enum ConfigSummary {
    public static func render(_ config: LatchConfig) -> String {
        var lines: [String] = []
        lines.append("Listeners:  " + config.listeners.map(describe).joined(separator: ", "))
        let timeouts = config.timeouts
        lines.append("Timeouts:   connect \(format(timeouts.connect)), request head \(format(timeouts.requestHead)), "
            + "idle \(format(timeouts.idle)), upstream response \(format(timeouts.upstreamResponse)), "
            + "tunnel \(format(timeouts.tunnel))")
        lines.append("Pool:       up to \(config.pool.maxIdlePerNode) idle connections per node and thread, "
            + "closed after \(format(config.pool.idleTimeout)) idle")
        let limits = config.limits
        lines.append("Limits:     head \(ByteSizeParser.format(limits.maxRequestHead)) in up to \(limits.maxHeaders) fields, "
            + "target \(ByteSizeParser.format(limits.maxURILength)), body \(ByteSizeParser.format(limits.maxBody)), "
            + "\(limits.maxClientConnections) client connections")
        lines.append("Forwarding: X-Forwarded-For \(config.forwarding.xForwardedFor.rawValue), "
            + "Via: 1.1 \(config.forwarding.via)")
        lines.append("Threads:    " + (config.threads.map(String.init) ?? "one per core"))
        lines.append("Admin:      " + (config.admin.map(describe) ?? "off"))
        lines.append("State file: " + (config.stateFile ?? "none (runtime state changes are lost on restart)"))
        lines.append("Shutdown:   in-flight exchanges get up to \(format(config.shutdownGrace)) to finish")
        lines.append("Access log: \(config.accessLog.format.rawValue) to "
            + (config.accessLog.path ?? "standard output"))
        for cluster in config.clusters {
            lines.append("")
            lines.append(contentsOf: render(cluster))
        }
        return lines.joined(separator: "\n")
    }

    /// `0.0.0.0:8443 (TLS: TLSv1.2, TLSv1.3, 2 certificates, files checked every 10s)`.
    private static func describe(_ listener: ListenerConfig) -> String {
        switch listener.proxyProtocol {
        case nil: return describeProtocol(listener)
        case .everyone: return describeProtocol(listener) + ", PROXY protocol header from every peer"
        case .from(let blocks): return describeProtocol(listener) + ", PROXY protocol header from \(blocks.map(\.description).joined(separator: ", "))"
        }
    }

    private static func describeProtocol(_ listener: ListenerConfig) -> String {
        if let tls = listener.tls {
            let count = tls.certificates.count == 1 ? "1 certificate" : "\(tls.certificates.count) certificates by SNI"
            let watch = tls.watchInterval.map { "files checked every \(format($0))" } ?? "files read on reload only"
            let http = tls.http2 ? "HTTP/2 and HTTP/1.1" : "HTTP/1.1 only"
            return "\(listener.address) (TLS: \(tls.protocols.map(\.rawValue).joined(separator: ", ")), \(http), \(count), \(watch))"
        }
        if let port = listener.redirectToHTTPS {
            return "\(listener.address) (redirects to https port \(port))"
        }
        return listener.address.description
    }

    private static func render(_ cluster: ClusterConfig) -> [String] {
        var lines = ["Cluster \"\(cluster.name)\""]
        lines.append("  match:    " + describe(cluster.match))
        let session = cluster.session
        let urlRouting = session.pathParameter.map { "path parameter ;\($0)= and query \($0)=" } ?? "no URL routing"
        let route = session.routes == .ranked
            ? "ranked routes after the first \"\(session.separator)\", split by it"
            : "route after the first \"\(session.separator)\""
        lines.append("  session:  cookie \(session.cookie), \(urlRouting), " + route)
        lines.append("  balance:  \(cluster.balance.rawValue)")
        let noChecks = cluster.passive.failures > 0 ? "none (passive only)" : "none"
        lines.append("  health:   " + (cluster.health.map(describe) ?? noChecks))
        lines.append("  passive:  " + describe(cluster.passive))
        lines.append("  failover: " + describe(cluster.failover))
        lines.append("  drain:    " + describe(cluster.drain))
        lines.append("  limits:   " + describe(cluster.limits))
        if let slowStart = cluster.slowStart {
            lines.append("  slow start: \(format(slowStart)) from 10% of a returning node's weight")
        }
        if let tls = cluster.tls { lines.append("  tls:      " + describe(tls)) }
        lines.append("  nodes:")
        let nameWidth = cluster.nodes.map(\.name.count).max() ?? 0
        let addressWidth = cluster.nodes.map(\.address.description.count).max() ?? 0
        for node in cluster.nodes {
            let replicas = node.replicas.isEmpty ? "no replicas" : "replicas " + node.replicas.joined(separator: ", ")
            lines.append("    " + pad(node.name, nameWidth) + "  " + pad(node.address.description, addressWidth)
                + "  weight \(node.weight)  " + replicas + stateNote(node.state)
                + (node.maxConnections != cluster.limits.maxConnections ? ", max_connections \(node.maxConnections)" : "")
                + (node.slowStart != cluster.slowStart ? ", slow start " + (node.slowStart.map(format) ?? "off") : "")
                + healthDifference(node.health, from: cluster.health))
        }
        return lines
    }

    /// `to the nodes, verified against ca.pem, SNI app.internal, client certificate client.pem`.
    private static func describe(_ tls: UpstreamTLSConfig) -> String {
        var parts = ["to the nodes"]
        if tls.insecure {
            parts.append("NOT verified (insecure)")
        } else {
            parts.append("verified against " + (tls.caFile ?? "the system's trust store"))
        }
        parts.append("SNI " + (tls.serverName ?? "each node's host name"))
        if let client = tls.clientCertificate { parts.append("client certificate \(client.certificate)") }
        return parts.joined(separator: ", ")
    }

    /// `200 requests in flight per node, up to 100 more wait 5s` or `no limit on requests in flight`.
    private static func describe(_ limits: NodeLimitsConfig) -> String {
        guard limits.maxConnections > 0 else { return "no limit on requests in flight per node" }
        let queue = limits.maxQueue > 0
            ? "up to \(limits.maxQueue) more wait \(format(limits.queueTimeout))" : "no queue"
        return "\(limits.maxConnections) requests in flight per node, " + queue
    }

    /// `http GET /health every 2s ±10% (timeout 1s, rise 2, fall 3, expect 200-399, initial down)`.
    private static func describe(_ health: HealthCheckConfig) -> String {
        let every = "every \(format(health.interval))"
            + (health.jitter > 0 ? " ±" + FailoverDecoder.percentText(health.jitter * 100) : "")
        var details = ["timeout \(format(health.timeout))", "rise \(health.rise)", "fall \(health.fall)"]
        switch health.type {
        case .http:
            details.append("expect \(describe(health.expectStatus))")
            details.append("initial \(health.initial.rawValue)")
            if let host = health.host { details.append("Host \(host)") }
            if let header = health.stateHeader { details.append("state announced in \(header)") }
            return "http \(health.method) \(health.path) \(every) (\(details.joined(separator: ", ")))"
        case .tcp:
            details.append("initial \(health.initial.rawValue)")
            return "tcp connect \(every) (\(details.joined(separator: ", ")))"
        }
    }

    private static func describe(_ codes: ClosedRange<Int>) -> String {
        codes.count == 1 ? "\(codes.lowerBound)" : "\(codes.lowerBound)-\(codes.upperBound)"
    }

    private static func describe(_ passive: PassiveHealthConfig) -> String {
        guard passive.failures > 0 else { return "off" }
        let failures = passive.failures == 1 ? "1 failure" : "\(passive.failures) failures"
        return "\(failures) within \(format(passive.window)) eject a node for \(format(passive.ejectFor)), "
            + "5xx answers " + (passive.on5xx ? "counted" : "not counted")
    }

    /// `on_unavailable any, failback immediate, retries 2 within 10s, retry bodies up to 64KiB`.
    private static func describe(_ failover: FailoverConfig) -> String {
        var parts = ["on_unavailable \(failover.onUnavailable.rawValue)"]
        switch failover.failback {
        case .immediate: parts.append("failback immediate")
        case .stay: parts.append("failback stay (cookie \(failover.ownerCookie))")
        }
        if failover.retries > 0 {
            parts.append("retries \(failover.retries) within \(format(failover.retryTimeout))")
            parts.append("retry bodies up to \(ByteSizeParser.format(failover.retryBodyLimit))")
        } else {
            parts.append("no retries")
        }
        if let header = failover.nodeHeader { parts.append("node header \(header)") }
        return parts.joined(separator: ", ")
    }

    /// `127.0.0.1:9090 (token from /etc/latch/admin.token)`.
    private static func describe(_ admin: AdminConfig) -> String {
        "\(admin.address) (" + (admin.tokenFile.map { "token from \($0)" } ?? "no token")
            + (admin.hosts.isEmpty ? "" : ", also reached as \(admin.hosts.joined(separator: ", "))")
            + ", history \(format(admin.historySpan)) every \(format(admin.historyInterval)))"
    }

    /// `session idle 30m, maintenance when empty, no deadline`.
    private static func describe(_ drain: DrainConfig) -> String {
        "session idle \(format(drain.sessionIdle)), "
            + (drain.maintenanceWhenEmpty ? "maintenance when empty" : "stays draining when empty") + ", "
            + (drain.deadline.map { "deadline \(format($0))" } ?? "no deadline")
    }

    /// `""` for an active node, else `  state draining` or `  state maintenance`. Only a note, never a
    /// warning: a cluster whose every node is in maintenance is how a whole cluster is taken out.
    private static func stateNote(_ state: NodeState) -> String {
        state == .active ? "" : "  state \(state.rawValue)"
    }

    /// `""` for a node checked as its cluster says; otherwise `  health: off`, the keys it overrides
    /// (`  health: path /ready, timeout 500ms`), or its whole checks when the cluster has none.
    private static func healthDifference(_ node: HealthCheckConfig?, from cluster: HealthCheckConfig?) -> String {
        guard node != cluster else { return "" }
        guard let node else { return "  health: off" }
        guard let cluster else { return "  health: " + describe(node) }
        var changes: [String] = []
        if node.type != cluster.type { changes.append("type \(node.type.rawValue)") }
        if node.path != cluster.path { changes.append("path \(node.path)") }
        if node.method != cluster.method { changes.append("method \(node.method)") }
        if node.interval != cluster.interval { changes.append("interval \(format(node.interval))") }
        if node.timeout != cluster.timeout { changes.append("timeout \(format(node.timeout))") }
        if node.rise != cluster.rise { changes.append("rise \(node.rise)") }
        if node.fall != cluster.fall { changes.append("fall \(node.fall)") }
        if node.expectStatus != cluster.expectStatus { changes.append("expect \(describe(node.expectStatus))") }
        if node.jitter != cluster.jitter { changes.append("jitter " + FailoverDecoder.percentText(node.jitter * 100)) }
        if node.initial != cluster.initial { changes.append("initial \(node.initial.rawValue)") }
        if node.host != cluster.host { changes.append("Host " + (node.host ?? "(node address)")) }
        if node.stateHeader != cluster.stateHeader { changes.append("state header " + (node.stateHeader ?? "none")) }
        return "  health: " + changes.joined(separator: ", ")
    }

    private static func describe(_ match: ClusterMatch) -> String {
        switch (match.host, match.pathPrefix) {
        case (nil, nil): return "every request"
        case (let host?, nil): return "host \(host)"
        case (nil, let prefix?): return "path prefix \(prefix)"
        case (let host?, let prefix?): return "host \(host), path prefix \(prefix)"
        }
    }

    private static func format(_ duration: Duration) -> String {
        DurationParser.format(duration)
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }
}
