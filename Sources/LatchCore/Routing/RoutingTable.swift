/// Everything needed to route a request, built once per loaded config and shared read-only by all
/// event loops: cluster selection and one route extractor per cluster.
public struct RoutingTable: Sendable {
    public let config: LatchConfig
    public let selector: ClusterSelector
    public let extractors: [RouteExtractor]

    public init(config: LatchConfig) {
        self.config = config
        self.selector = ClusterSelector(clusters: config.clusters)
        self.extractors = config.clusters.map { cluster in
            RouteExtractor(session: cluster.session, nodeNames: cluster.nodes.map(\.name))
        }
    }

    /// Which cluster a request belongs to, and what its session ids say.
    public func route<Cookies: Sequence>(
        host: Substring?,
        target: String,
        cookieHeaders: Cookies
    ) -> (cluster: Int, lookup: RouteLookup) where Cookies.Element == String {
        let cluster = selector.select(host: host, path: RequestTarget.path(of: target))
        return (cluster, extractors[cluster].lookup(target: target, cookieHeaders: cookieHeaders))
    }
}

/// Small helpers over the request-target forms of RFC 9112 §3.2.
public enum RequestTarget {
    /// The path of an origin-form (`/a/b?q`) or absolute-form (`http://h/a/b?q`) target, without
    /// query or fragment; `"/"` for an absolute-form target with an empty path.
    public static func path(of target: String) -> Substring {
        var rest = target[...]
        if !rest.hasPrefix("/"), let scheme = rest.range(of: "://") {
            rest = rest[scheme.upperBound...]
            guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) else { return "/" }
            rest = rest[slash...]
            if !rest.hasPrefix("/") { return "/" }
        }
        if let end = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            return rest[..<end]
        }
        return rest
    }
}
