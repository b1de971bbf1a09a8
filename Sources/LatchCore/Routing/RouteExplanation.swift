/// The text `latch route` prints; pure so it is tested without a process.
public enum RouteExplanation {
    public static func explain(config: LatchConfig, host: String?, target: String, cookies: [String]) -> String {
        let table = RoutingTable(config: config)
        let (clusterIndex, lookup) = table.route(host: host?[...], target: target, cookieHeaders: cookies)
        let cluster = config.clusters[clusterIndex]
        var lines: [String] = []
        let host = RequestTarget.splitAbsoluteForm(target).map(\.authority) ?? host
        let matched = table.selector.matches(clusterIndex, host: host?[...], path: RequestTarget.path(of: target))
        lines.append("cluster: \(cluster.name)\(matched ? "" : " (no cluster's match fits: the first cluster takes it)")")
        switch lookup {
        case .known(let node, let source):
            lines.append("session: route \"\(cluster.nodes[node].name)\" found in the \(source.rawValue.split(separator: "_").joined(separator: " "))")
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
        return lines.joined(separator: "\n")
    }
}
