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

    /// Which cluster a request belongs to, and what its session ids say. For an absolute-form target
    /// the authority in the target is the host (RFC 9112 §3.2.2), as it is for the Host Latch forwards.
    public func route<Cookies: Sequence>(
        host: Substring?,
        target: String,
        cookieHeaders: Cookies
    ) -> (cluster: Int, lookup: RouteLookup) where Cookies.Element == String {
        let host = RequestTarget.splitAbsoluteForm(target).map { $0.authority[...] } ?? host
        let cluster = selector.select(host: host, path: RequestTarget.path(of: target))
        return (cluster, extractors[cluster].lookup(target: target, cookieHeaders: cookieHeaders))
    }

    /// ``route(host:target:cookieHeaders:)`` plus the session id behind a known route (counted per node
    /// for drain, and bound into `failback: stay`'s owner cookie).
    public func routeWithSessionID<Cookies: Sequence>(
        host: Substring?,
        target: String,
        cookieHeaders: Cookies
    ) -> (cluster: Int, lookup: RouteLookup, sessionID: String?) where Cookies.Element == String {
        let host = RequestTarget.splitAbsoluteForm(target).map { $0.authority[...] } ?? host
        let cluster = selector.select(host: host, path: RequestTarget.path(of: target))
        let found = extractors[cluster].lookupWithSessionID(target: target, cookieHeaders: cookieHeaders)
        return (cluster, found.lookup, found.sessionID)
    }

}

/// Small helpers over the request-target forms of RFC 9112 §3.2.
///
/// They cut at bytes, not `Character`s: a combining mark after `/` or `?` makes one grapheme of the
/// two, and a `Character` search would miss the delimiter the node and the route extractor see.
public enum RequestTarget {
    /// The path of an origin-form (`/a/b?q`) or absolute-form (`http://h/a/b?q`) target, without
    /// query or fragment; `"/"` for an absolute-form target with an empty path.
    public static func path(of target: String) -> Substring {
        var rest = target[...]
        if let (_, origin) = splitAbsoluteForm(target) {
            rest = origin[...]
        }
        let utf8 = rest.utf8
        if let end = utf8.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            return Substring(utf8[..<end])
        }
        return rest
    }

    /// `http://host:8080/a?b` → (`host:8080`, `/a?b`); `nil` for any other form. The scheme is
    /// case-insensitive (RFC 9110 §4.2.3).
    public static func splitAbsoluteForm(_ target: String) -> (authority: String, originForm: String)? {
        let utf8 = target.utf8
        guard utf8.first != UInt8(ascii: "/") else { return nil }
        let schemeLength: Int
        if hasSchemePrefix(utf8, "http://") {
            schemeLength = 7
        } else if hasSchemePrefix(utf8, "https://") {
            schemeLength = 8
        } else {
            return nil
        }
        let rest = utf8.dropFirst(schemeLength)
        let end = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? rest.endIndex
        var origin = String(Substring(rest[end...]))
        if !origin.hasPrefix("/") { origin = "/" + origin }
        return (String(Substring(rest[..<end])), origin)
    }

    /// Whether `bytes` start with `scheme` (lower-case ASCII), ignoring ASCII case.
    private static func hasSchemePrefix(_ bytes: String.UTF8View, _ scheme: String) -> Bool {
        var iterator = bytes.makeIterator()
        for expected in scheme.utf8 {
            guard let byte = iterator.next() else { return false }
            let lower = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
            if lower != expected { return false }
        }
        return true
    }
}
