/// One-screen human summary for `latch check`: listeners, timeouts, and per cluster: name, match,
/// session settings, balance, nodes with address, weight and replicas.
///
/// It shows the configuration *after* defaults are applied, so an operator sees what Latch will
/// actually do, not just what the file says. Durations use the file's own notation. No trailing
/// newline, so `print(ConfigSummary.render(config))` ends cleanly.
public enum ConfigSummary {
    public static func render(_ config: LatchConfig) -> String {
        var lines: [String] = []
        lines.append("Listeners:  " + config.listeners.map(\.address.description).joined(separator: ", "))
        let timeouts = config.timeouts
        lines.append("Timeouts:   connect \(format(timeouts.connect)), request head \(format(timeouts.requestHead)), "
            + "idle \(format(timeouts.idle)), upstream response \(format(timeouts.upstreamResponse))")
        lines.append("Pool:       up to \(config.pool.maxIdlePerNode) idle connections per node and thread, "
            + "closed after \(format(config.pool.idleTimeout)) idle")
        lines.append("Forwarding: X-Forwarded-For \(config.forwarding.xForwardedFor.rawValue), "
            + "Via: 1.1 \(config.forwarding.via)")
        lines.append("Threads:    " + (config.threads.map(String.init) ?? "one per core"))
        for cluster in config.clusters {
            lines.append("")
            lines.append(contentsOf: render(cluster))
        }
        return lines.joined(separator: "\n")
    }

    private static func render(_ cluster: ClusterConfig) -> [String] {
        var lines = ["Cluster \"\(cluster.name)\""]
        lines.append("  match:    " + describe(cluster.match))
        let session = cluster.session
        let urlRouting = session.pathParameter.map { "path parameter ;\($0)= and query \($0)=" } ?? "no URL routing"
        lines.append("  session:  cookie \(session.cookie), \(urlRouting), "
            + "route after the first \"\(session.separator)\"")
        lines.append("  balance:  \(cluster.balance.rawValue)")
        lines.append("  nodes:")
        let nameWidth = cluster.nodes.map(\.name.count).max() ?? 0
        let addressWidth = cluster.nodes.map(\.address.description.count).max() ?? 0
        for node in cluster.nodes {
            let replicas = node.replicas.isEmpty ? "no replicas" : "replicas " + node.replicas.joined(separator: ", ")
            lines.append("    " + pad(node.name, nameWidth) + "  " + pad(node.address.description, addressWidth)
                + "  weight \(node.weight)  " + replicas)
        }
        return lines
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
