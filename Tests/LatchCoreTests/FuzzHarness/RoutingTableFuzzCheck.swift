import LatchCore

/// `RoutingTable.routeWithSessionID` on the fuzz input, under one of four cluster layouts: the chosen
/// cluster is a real one, the first whose `match` accepts the request (else the first), and its
/// answer is that cluster's extractor's answer.
enum RoutingTableFuzzCheck {
    static func violations(_ input: RouteFuzzInput) -> [String] {
        let table = RoutingTable(config: config(for: input))
        let host = input.host.map { $0[...] }
        let routed = table.routeWithSessionID(host: host, target: input.target, cookieHeaders: input.cookieHeaders)
        let plain = table.route(host: host, target: input.target, cookieHeaders: input.cookieHeaders)
        guard table.config.clusters.indices.contains(routed.cluster) else {
            return ["cluster index \(routed.cluster) out of range"]
        }
        var problems: [String] = []
        if plain.cluster != routed.cluster || plain.lookup != routed.lookup {
            problems.append("route \(plain) but routeWithSessionID \(routed)")
        }
        let effectiveHost = RequestTarget.splitAbsoluteForm(input.target).map { $0.authority[...] } ?? host
        let path = RequestTarget.path(of: input.target)
        let accepting = table.config.clusters.indices.filter {
            table.selector.matches($0, host: effectiveHost, path: path)
        }
        if routed.cluster != (accepting.first ?? 0) {
            problems.append("chose cluster \(routed.cluster), but the clusters accepting are \(accepting)")
        }
        let cluster = table.config.clusters[routed.cluster]
        let expected = ReferenceRouteReader(session: cluster.session, nodeNames: cluster.nodes.map(\.name))
            .read(target: input.target, cookieHeaders: input.cookieHeaders)
        if routed.lookup != expected.lookup || !RouteFuzzHarness.sameBytes(routed.sessionID, expected.sessionID) {
            problems.append("table says \(RouteFuzzHarness.describe((routed.lookup, routed.sessionID))), "
                + "reference says \(RouteFuzzHarness.describe(expected))")
        }
        return problems
    }

    /// The fuzzed session and nodes go to the first cluster; the others differ so a wrong pick shows.
    static func config(for input: RouteFuzzInput) -> LatchConfig {
        func cluster(_ name: String, _ match: ClusterMatch, _ session: SessionConfig, _ nodes: [String]) -> ClusterConfig {
            ClusterConfig(name: name, match: match, session: session,
                          nodes: nodes.enumerated().map { NodeConfig(name: $1, address: HostPort(host: "10.0.0.\($0 + 1)", port: 8080)) })
        }
        let fuzzed = (session: input.session, nodes: input.nodeNames)
        let clusters: [ClusterConfig]
        switch input.layout {
        case 1:
            clusters = [
                cluster("shop", ClusterMatch(host: "shop.example.com"), fuzzed.session, fuzzed.nodes),
                cluster("rest", ClusterMatch(), SessionConfig(), ["other1", "tomcat2"]),
            ]
        case 2:
            clusters = [
                cluster("apps", ClusterMatch(host: "*.example.com", pathPrefix: "/app"), fuzzed.session, fuzzed.nodes),
                cluster("root", ClusterMatch(pathPrefix: "/"), SessionConfig(separator: "!"), ["tomcat1"]),
                cluster("rest", ClusterMatch(host: "[::1]"), SessionConfig(), ["n"]),
            ]
        case 3:
            clusters = [
                cluster("a", ClusterMatch(pathPrefix: "/a"), fuzzed.session, fuzzed.nodes),
                cluster("b", ClusterMatch(pathPrefix: "/b"), SessionConfig(cookie: "SID", pathParameter: nil, separator: "~~"), fuzzed.nodes),
                cluster("c", ClusterMatch(host: "c.example.com"), SessionConfig(), ["c1", "c2"]),
            ]
        default:
            clusters = [cluster("only", ClusterMatch(), fuzzed.session, fuzzed.nodes)]
        }
        return LatchConfig(listeners: [ListenerConfig(address: HostPort(host: "127.0.0.1", port: 8080))], clusters: clusters)
    }
}
