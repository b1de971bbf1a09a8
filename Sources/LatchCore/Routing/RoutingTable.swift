/// Everything needed to route a request, built once per loaded config and shared read-only by all
/// event loops: cluster selection and one route extractor per cluster.
/// A class, not a struct: it holds the whole configuration, and a struct read from a shared runtime for
/// each request was copied — a retain and release of every array and string in it.
public final class RoutingTable: Sendable {
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
        let cluster = selectCluster(host: host, target: target)
        return (cluster, extractors[cluster].lookup(target: target, cookieHeaders: cookieHeaders))
    }

    /// ``route(host:target:cookieHeaders:)`` plus the session id behind a known route (counted per node
    /// for drain, and bound into `failback: stay`'s owner cookie): a slice of `target` or of one of
    /// `cookieHeaders`, see ``RouteExtractor/lookupWithSessionID(target:cookieHeaders:)``.
    /// Allocates nothing (checked by `Scripts/microbench`).
    @inlinable
    public func routeWithSessionID<Cookies: Sequence>(
        host: Substring?,
        target: String,
        cookieHeaders: Cookies
    ) -> (cluster: Int, lookup: RouteLookup, sessionID: Substring?) where Cookies.Element == String {
        if let routed = cookieHeaders.withContiguousStorageIfAvailable({
            routeWithSessionID(host: host, target: target, cookieLines: $0)
        }) {
            return routed
        }
        return ContiguousArray(cookieHeaders).withUnsafeBufferPointer {
            routeWithSessionID(host: host, target: target, cookieLines: $0)
        }
    }

    /// ``routeWithSessionID(host:target:cookieHeaders:)`` over `Cookie` values given as bytes (a
    /// proxy's parsed head): see ``RouteExtractor/lookupWithSessionID(target:cookieLines:)``.
    public func routeWithSessionID(
        host: Substring?,
        target: String,
        cookieBytes: UnsafeBufferPointer<UnsafeRawBufferPointer>
    ) -> (cluster: Int, lookup: RouteLookup, sessionID: SessionIDPlace?) {
        let cluster = selectCluster(host: host, target: target)
        let found = extractors[cluster].lookupWithSessionID(target: target, cookieLines: cookieBytes)
        return (cluster, found.lookup, found.sessionID)
    }

    /// The work of ``routeWithSessionID(host:target:cookieHeaders:)``, on the `Cookie` lines as a buffer:
    /// the generic entry point is inlined into its caller, so an array of lines is never iterated
    /// through unspecialised generic code (which allocates per element and costs a witness call each).
    @usableFromInline
    func routeWithSessionID(
        host: Substring?,
        target: String,
        cookieLines: UnsafeBufferPointer<String>
    ) -> (cluster: Int, lookup: RouteLookup, sessionID: Substring?) {
        let cluster = selectCluster(host: host, target: target)
        let found = extractors[cluster].lookupWithSessionID(target: target, cookieHeaders: cookieLines)
        return (cluster, found.lookup, found.sessionID)
    }

    private func selectCluster(host: Substring?, target: String) -> Int {
        if selector.firstMatchesAll { return 0 }
        let routing = RequestTarget.hostAndPath(of: target, host: host)
        return selector.select(host: routing.host, path: routing.path)
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
        hostAndPath(of: target, host: nil).path
    }

    /// The host and path a request is routed on: the target's authority for an absolute-form target
    /// (RFC 9112 §3.2.2), else `host`; and ``path(of:)``. Slices of `target`, without allocating, for
    /// an origin-form target and for a plain ASCII absolute-form one (anything else goes through
    /// ``splitAbsoluteForm(_:)``, whose `String`s decide as they always did).
    static func hostAndPath(of target: String, host: Substring?) -> (host: Substring?, path: Substring) {
        guard let parts = absoluteFormParts(target) else { return (host, beforeQuery(target[...])) }
        var whole = target
        let plain = whole.withUTF8 { PlainASCII.contains($0) }
        guard plain else {
            let (authority, origin) = splitAbsoluteForm(target)!
            return (authority[...], beforeQuery(origin[...]))
        }
        // Plain ASCII: the origin-form is `rest` when it starts with "/", else "/" + `rest`, whose
        // path is "/" (`rest` is empty or starts with "?" or "#").
        let path = parts.rest.utf8.first == UInt8(ascii: "/") ? beforeQuery(parts.rest) : "/"[...]
        return (parts.authority, path)
    }

    /// `http://host:8080/a?b` → (`host:8080`, `/a?b`); `nil` for any other form. The scheme is
    /// case-insensitive (RFC 9110 §4.2.3).
    public static func splitAbsoluteForm(_ target: String) -> (authority: String, originForm: String)? {
        guard let parts = absoluteFormParts(target) else { return nil }
        var origin = String(parts.rest)
        if !origin.hasPrefix("/") { origin = "/" + origin }
        return (String(parts.authority), origin)
    }

    /// The authority of an absolute-form target and what follows it (from the first `/`, `?` or `#`),
    /// as slices of `target`.
    private static func absoluteFormParts(_ target: String) -> (authority: Substring, rest: Substring)? {
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
        return (Substring(rest[..<end]), Substring(rest[end...]))
    }

    /// `text` up to its first `?` or `#` byte.
    private static func beforeQuery(_ text: Substring) -> Substring {
        var text = text
        // Over the buffer: stepping `Substring.UTF8View` indices costs several times as much per byte.
        let end = text.withUTF8 { bytes in
            bytes.firstIndex { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }
        }
        guard let end else { return text }
        let utf8 = text.utf8
        return Substring(utf8[utf8.startIndex..<utf8.index(utf8.startIndex, offsetBy: end)])
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

/// Bytes whose `Character`s are the bytes themselves: ASCII without CR or LF (`"\r\n"` is one
/// `Character`; every other ASCII byte is a `Character` of its own, equal only to itself). On such
/// bytes a byte comparison means exactly what a `String` or `Substring` comparison means.
enum PlainASCII {
    static func contains<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Bool {
        bytes.allSatisfy { $0 < 0x80 && $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
    }
}
