import ArgumentParser
import LatchCore

struct RouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Show which cluster and node a request would go to, and why.",
        discussion: """
            Example: latch route --cookie 'JSESSIONID=abc.tomcat1' --path '/cart;jsessionid=abc.tomcat2'
            Health and load are not known here: for a request without a usable route this shows the
            first pick of a fresh balancer.
            """
    )

    @OptionGroup var options: ConfigOption

    @Option(name: .long, help: "A Cookie header value; repeat for several Cookie headers.")
    var cookie: [String] = []

    @Option(name: .long, help: "The request target, e.g. '/cart;jsessionid=ABC.tomcat1?x=1'.")
    var path: String = "/"

    @Option(name: .long, help: "The Host header.")
    var host: String?

    func run() throws {
        let config = try options.load()
        print(RouteExplanation.explain(config: config, host: host, target: path, cookies: cookie))
    }
}

/// The text `latch route` prints; pure so it is tested without a process.
enum RouteExplanation {
    static func explain(config: LatchConfig, host: String?, target: String, cookies: [String]) -> String {
        let table = RoutingTable(config: config)
        let (clusterIndex, lookup) = table.route(host: host?[...], target: target, cookieHeaders: cookies)
        let cluster = config.clusters[clusterIndex]
        var lines: [String] = []
        let matched = cluster.match.host != nil || cluster.match.pathPrefix != nil
        lines.append("cluster: \(cluster.name)\(matched ? "" : " (no match rule: default cluster)")")
        switch lookup {
        case .known(let node, let source):
            lines.append("session: route \"\(cluster.nodes[node].name)\" found in the \(source.rawValue.replacingOccurrences(of: "_", with: " "))")
        case .unknown(let route):
            lines.append("session: route \"\(route)\" names no node of cluster \(cluster.name)")
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
