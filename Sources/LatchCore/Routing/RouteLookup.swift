/// Where a session id was found in a request.
public enum RouteSource: String, Sendable, Equatable {
    /// `/path;jsessionid=ID.node` — Tomcat's URL rewriting.
    case pathParameter = "path_parameter"
    /// `/path?jsessionid=ID.node`
    case queryParameter = "query_parameter"
    /// `Cookie: JSESSIONID=ID.node`
    case cookie
}

/// What the session ids of one request say about its node.
public enum RouteLookup: Sendable, Equatable {
    /// A session id whose route names a node of the cluster (index into the cluster's nodes). With
    /// `session.routes: ranked`, `node` is the first route naming a node and `later` the routes after
    /// it that name nodes, in order.
    case known(node: Int, source: RouteSource, later: RankedRoutes = RankedRoutes())
    /// Session ids were present, and at least one carried a route, but none names a node of the
    /// cluster. `route` is the first such route, cut to ``RouteLookup/maxReportedRouteLength``
    /// bytes, for diagnostics only: it is client input and must be escaped wherever shown.
    case unknown(route: String)
    /// Session ids were present, but without a separator or with nothing after it.
    case noRoute
    /// The request carries no session id at all: a new session.
    case none

    /// Routes longer than this many bytes are cut in diagnostics, so a hostile cookie cannot bloat a log line.
    public static let maxReportedRouteLength = 64
}

extension RouteLookup {
    /// The node a `.known` route names, for logs.
    /// The node a known route names.
    public var node: Int? {
        if case .known(let node, _, _) = self { return node }
        return nil
    }

    public func nodeName(in cluster: ClusterConfig) -> String? {
        if case .known(let node, _, _) = self { return cluster.nodes[node].name }
        return nil
    }
}
