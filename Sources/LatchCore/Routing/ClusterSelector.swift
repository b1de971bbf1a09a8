/// Picks the cluster for a request: the first whose `match` accepts it, else the first cluster
/// (so a one-cluster file needs no `match` at all).
public struct ClusterSelector: Sendable {
    private struct Rule: Sendable {
        /// Lower-cased exact host, or the lower-cased `.example.com` suffix of a `*.example.com` pattern.
        var host: String?
        var hostIsWildcard: Bool
        var pathPrefix: String?
    }

    private let rules: [Rule]

    public init(clusters: [ClusterConfig]) {
        self.rules = clusters.map { cluster in
            var host = cluster.match.host.map { ClusterSelector.normalizedHost($0[...]) }
            var wildcard = false
            if let h = host, h.hasPrefix("*.") {
                host = String(h.dropFirst())  // keep the leading dot: "*.a.com" matches "x.a.com", not "a.com"
                wildcard = true
            }
            return Rule(host: host, hostIsWildcard: wildcard, pathPrefix: cluster.match.pathPrefix)
        }
    }

    /// - Parameters:
    ///   - host: the `Host` header value as received (port and case are normalised here).
    ///   - path: the path part of the target (no query).
    public func select(host: Substring?, path: Substring) -> Int {
        let normalized = host.map { ClusterSelector.normalizedHost($0) }
        return rules.indices.first { matches(rules[$0], host: normalized, path: path) } ?? 0
    }

    /// Whether cluster `index`'s own `match` accepts the request (false when it was only the fallback).
    public func matches(_ index: Int, host: Substring?, path: Substring) -> Bool {
        matches(rules[index], host: host.map { ClusterSelector.normalizedHost($0) }, path: path)
    }

    private func matches(_ rule: Rule, host normalized: String?, path: Substring) -> Bool {
        if let wanted = rule.host {
            guard let normalized else { return false }
            if rule.hostIsWildcard {
                guard normalized.count > wanted.count, normalized.hasSuffix(wanted) else { return false }
            } else if normalized != wanted {
                return false
            }
        }
        if let prefix = rule.pathPrefix, !path.hasPrefix(prefix) {
            return false
        }
        return true
    }

    /// `Shop.Example.COM.:8080` → `shop.example.com`; `[::1]:8080` → `[::1]`. Host names are
    /// case-insensitive (RFC 9110 §4.2.3) and a trailing dot names the same host.
    public static func normalizedHost(_ host: Substring) -> String {
        var h = host
        if h.hasPrefix("[") {
            if let close = h.firstIndex(of: "]") { h = h[...close] }
        } else if let colon = h.lastIndex(of: ":") {
            h = h[..<colon]
        }
        if h.hasSuffix(".") { h = h.dropLast() }
        return h.lowercased()
    }
}
