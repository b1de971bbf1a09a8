/// Picks the cluster for a request: the first whose `match` accepts it, else the first cluster
/// (so a one-cluster file needs no `match` at all).
///
/// Runs once per request and allocates nothing: hosts and path prefixes are compared as UTF-8 bytes
/// (ASCII case folded for hosts) whenever the bytes involved are ASCII, where that is exactly what the
/// `String` comparison means. Anything else (a non-ASCII Host, a path prefix followed by a combining
/// mark) takes the `String` route, which compares `Character`s with Unicode canonical equivalence.
public struct ClusterSelector: Sendable {
    /// A class, so reading one out of the array costs one retain rather than one per field.
    private final class Rule: Sendable {
        /// Lower-cased exact host, or the lower-cased `.example.com` suffix of a `*.example.com` pattern.
        let host: String?
        /// `host`'s UTF-8 bytes when they are plain ASCII (see `PlainASCII`).
        let hostBytes: [UInt8]?
        let hostIsWildcard: Bool
        let pathPrefix: String?
        /// `pathPrefix`'s UTF-8 bytes when they are plain ASCII.
        let pathPrefixBytes: [UInt8]?

        init(host: String?, hostIsWildcard: Bool, pathPrefix: String?) {
            self.host = host
            self.hostBytes = host.flatMap { PlainASCII.contains($0.utf8) ? Array($0.utf8) : nil }
            self.hostIsWildcard = hostIsWildcard
            self.pathPrefix = pathPrefix
            self.pathPrefixBytes = pathPrefix.flatMap { PlainASCII.contains($0.utf8) ? Array($0.utf8) : nil }
        }
    }

    private let rules: [Rule]
    /// Whether any rule looks at the host, so a Host header is not even scanned otherwise.
    private let anyRuleHasHost: Bool
    /// The first cluster matches every request (it has no `match`, as in a one-cluster file): its
    /// index is the answer before the target's host and path are even found.
    public let firstMatchesAll: Bool

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
        self.anyRuleHasHost = rules.contains { $0.host != nil }
        self.firstMatchesAll = rules.first.map { $0.host == nil && $0.pathPrefix == nil } ?? true
    }

    /// - Parameters:
    ///   - host: the `Host` header value as received (port and case are normalised here).
    ///   - path: the path part of the target (no query).
    public func select(host: Substring?, path: Substring) -> Int {
        if firstMatchesAll { return 0 }
        let host = anyRuleHasHost ? RequestHost(host) : RequestHost(nil)
        for index in rules.indices where matches(rules[index], host: host, path: path) {
            return index
        }
        return 0
    }

    /// Whether cluster `index`'s own `match` accepts the request (false when it was only the fallback).
    public func matches(_ index: Int, host: Substring?, path: Substring) -> Bool {
        matches(rules[index], host: RequestHost(host), path: path)
    }

    private func matches(_ rule: Rule, host: RequestHost, path: Substring) -> Bool {
        if let wanted = rule.host {
            switch host {
            case .none:
                return false
            case .ascii(let raw, let range):
                if let wantedBytes = rule.hostBytes {
                    guard ClusterSelector.hostMatches(raw, range, wantedBytes, wildcard: rule.hostIsWildcard) else {
                        return false
                    }
                } else if !ClusterSelector.matches(ClusterSelector.normalizedHost(raw), wanted, wildcard: rule.hostIsWildcard) {
                    return false
                }
            case .other(let raw):
                if !ClusterSelector.matches(ClusterSelector.normalizedHost(raw), wanted, wildcard: rule.hostIsWildcard) {
                    return false
                }
            }
        }
        if let prefix = rule.pathPrefix, !ClusterSelector.hasPrefix(path, prefix, bytes: rule.pathPrefixBytes) {
            return false
        }
        return true
    }

    /// The `String` comparison of a normalised host with a rule's host.
    private static func matches(_ normalized: String, _ wanted: String, wildcard: Bool) -> Bool {
        if wildcard {
            return normalized.count > wanted.count && normalized.hasSuffix(wanted)
        }
        return normalized == wanted
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

    // MARK: - Byte comparisons

    /// A request's Host, and how it may be compared.
    private enum RequestHost {
        case none
        /// Plain ASCII: `range` (UTF-8 offsets into `raw`) is ``normalizedHost(_:)`` before lower-casing.
        case ascii(Substring, Range<Int>)
        /// Anything else: compared through ``normalizedHost(_:)``.
        case other(Substring)

        init(_ host: Substring?) {
            guard let host else {
                self = .none
                return
            }
            var raw = host
            let range = raw.withUTF8 { bytes -> Range<Int>? in
                PlainASCII.contains(bytes) ? ClusterSelector.normalizedRange(bytes) : nil
            }
            self = range.map { .ascii(host, $0) } ?? .other(host)
        }
    }

    /// ``normalizedHost(_:)``'s cut, on plain ASCII bytes: the bracketed IPv6 literal, or everything
    /// before the last `:`, less one trailing `.`.
    private static func normalizedRange(_ bytes: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        var end = bytes.count
        if bytes.first == UInt8(ascii: "[") {
            if let close = bytes.firstIndex(of: UInt8(ascii: "]")) { end = close + 1 }
        } else if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
            end = colon
        }
        if end > 0, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
        return 0..<end
    }

    /// ``matches(_:_:wildcard:)`` for a plain ASCII host and rule: ASCII case-insensitive bytes.
    private static func hostMatches(_ raw: Substring, _ range: Range<Int>, _ wanted: [UInt8], wildcard: Bool) -> Bool {
        let length = range.count
        if wildcard ? length <= wanted.count : length != wanted.count { return false }
        var raw = raw
        return raw.withUTF8 { bytes in
            let start = range.upperBound - wanted.count
            for k in 0..<wanted.count {
                var byte = bytes[start + k]
                if byte >= UInt8(ascii: "A"), byte <= UInt8(ascii: "Z") { byte |= 0x20 }
                if byte != wanted[k] { return false }
            }
            return true
        }
    }

    /// `path.hasPrefix(prefix)`, which compares `Character`s: by bytes when the prefix and the path's
    /// bytes up to and including the one after it are plain ASCII (then a `Character` boundary follows
    /// the prefix, and each `Character` is one byte), by `Character`s otherwise.
    private static func hasPrefix(_ path: Substring, _ prefix: String, bytes prefixBytes: [UInt8]?) -> Bool {
        if let prefixBytes {
            var path = path
            let answer = path.withUTF8 { bytes -> Bool? in
                let n = prefixBytes.count
                let checked = min(bytes.count, n + 1)
                guard PlainASCII.contains(UnsafeBufferPointer(rebasing: bytes[0..<checked])) else { return nil }
                guard bytes.count >= n else { return false }
                for k in 0..<n where bytes[k] != prefixBytes[k] { return false }
                return true
            }
            if let answer { return answer }
        }
        return path.hasPrefix(prefix)
    }
}
