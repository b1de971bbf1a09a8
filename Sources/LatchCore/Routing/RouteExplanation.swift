/// The text `latch route` prints; pure so it is tested without a process.
public enum RouteExplanation {
    public static func explain(config: LatchConfig, host: String?, target: String, cookies: [String]) -> String {
        let table = RoutingTable(config: config)
        let (clusterIndex, lookup) = table.route(host: host?[...], target: target, cookieHeaders: cookies)
        let cluster = config.clusters[clusterIndex]
        var lines: [String] = []
        var fallback: String?
        let host = RequestTarget.splitAbsoluteForm(target).map(\.authority) ?? host
        let matched = table.selector.matches(clusterIndex, host: host?[...], path: RequestTarget.path(of: target))
        lines.append("cluster: \(cluster.name)\(matched ? "" : " (no cluster's match fits: the first cluster takes it)")")
        switch lookup {
        case .known(let node, let source, let later):
            let place = source.rawValue.split(separator: "_").joined(separator: " ")
            if cluster.session.routes == .ranked {
                let names = ([node] + later).map { "\"\(cluster.nodes[$0].name)\"" }.joined(separator: ", ")
                lines.append("session: ranked routes \(names) found in the \(place) (routes naming no node are skipped)")
            } else {
                lines.append("session: route \"\(cluster.nodes[node].name)\" found in the \(place)")
            }
            fallback = fallbacks(cluster: cluster, node: node, later: later)
        case .unknown(let route):
            lines.append("session: route \(route.debugDescription) names no node of cluster \(cluster.name)")
        case .noRoute:
            lines.append("session: session id has no route after \"\(cluster.session.separator)\"")
        case .none:
            lines.append("session: no session id (cookie \(cluster.session.cookie)\(cluster.session.pathParameter.map { ", parameter \($0)" } ?? ""))")
        }
        var balancer = Balancer(algorithm: cluster.balance, weights: cluster.nodes.map(\.weight))
        var random = SystemRandomNumberGenerator()
        let decision = NodeChooser.choose(lookup, balancer: &balancer, active: { _ in 0 }, using: &random)
        if let node = decision.node {
            let chosen = cluster.nodes[node]
            let how = decision.reason == .sticky ? "" : " (balanced by \(cluster.balance.rawValue); a running balancer may pick another)"
            lines.append("node:    \(chosen.name) \(chosen.address)\(how)")
        } else {
            lines.append("node:    none (503)")
        }
        lines.append("reason:  \(decision.reason.rawValue)")
        if let fallback { lines.append(fallback) }
        return lines.joined(separator: "\n")
    }

    /// Where the session goes when its node cannot serve, in the order ``NodeChooser`` tries them.
    private static func fallbacks(cluster: ClusterConfig, node: Int, later: RankedRoutes) -> String {
        var steps = later.map { "\(cluster.nodes[$0].name) (failover_ranked)" }
        let replicas = cluster.nodes[node].replicas.filter { name in !later.contains { cluster.nodes[$0].name == name } }
        steps += replicas.map { "\($0) (failover_replica)" }
        switch cluster.failover.onUnavailable {
        case .any: steps.append("any usable node (failover_any)")
        case .reject: steps.append("503 (rejected)")
        }
        return "if \(cluster.nodes[node].name) cannot serve: " + steps.joined(separator: ", then ")
    }
}
