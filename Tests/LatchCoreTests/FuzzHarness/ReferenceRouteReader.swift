import LatchCore

/// A second, deliberately plain reading of the rules documented on `RouteExtractor`: whole arrays,
/// `split` and `starts(with:)` instead of one index-juggling pass over a buffer. The fuzz checks
/// compare the two; they share no code, so a slip in either shows up as a difference. Slow and
/// allocating on purpose: it is only ever run on test input.
public struct ReferenceRouteReader: Sendable {
    public var session: SessionConfig
    public var nodeNames: [String]

    public init(session: SessionConfig, nodeNames: [String]) {
        self.session = session
        self.nodeNames = nodeNames
    }

    /// What the request's session ids say, and the whole session id behind a known route.
    public func read(target: String, cookieHeaders: [String]) -> (lookup: RouteLookup, sessionID: String?) {
        var candidates: [(value: ArraySlice<UInt8>, source: RouteSource)] = []
        if let name = session.pathParameter, !name.isEmpty {
            candidates += urlCandidates(Array(target.utf8), name: Array(name.utf8))
        }
        for header in cookieHeaders {
            candidates += cookieCandidates(Array(header.utf8)).map { ($0, .cookie) }
        }
        let separator = Array(session.separator.utf8)
        var sawSessionID = false
        var firstUnknown: String?
        for (value, source) in candidates where !value.isEmpty {
            sawSessionID = true
            guard let cut = Self.firstRange(of: separator, in: value) else { continue }
            let route = value[cut.upperBound...]
            guard !route.isEmpty else { continue }
            if session.routes == .ranked, let (node, later) = rankedNodes(route, separator: separator) {
                return (.known(node: node, source: source, later: later), String(decoding: value, as: UTF8.self))
            }
            if session.routes == .single, let node = nodeNames.firstIndex(where: { Array($0.utf8)[...] == route }) {
                return (.known(node: node, source: source), String(decoding: value, as: UTF8.self))
            }
            if firstUnknown == nil {
                firstUnknown = String(decoding: route.prefix(RouteLookup.maxReportedRouteLength), as: UTF8.self)
            }
        }
        if let firstUnknown { return (.unknown(route: firstUnknown), nil) }
        return (sawSessionID ? .noRoute : .none, nil)
    }

    /// Ranked routes: the route cut at every separator (left to right, not overlapping); the first
    /// piece naming a node, then the later distinct ones, at most `RankedRoutes.capacity`.
    private func rankedNodes(_ route: ArraySlice<UInt8>, separator: [UInt8]) -> (Int, RankedRoutes)? {
        var pieces: [ArraySlice<UInt8>] = []
        var rest = route
        while let cut = Self.firstRange(of: separator, in: rest) {
            pieces.append(rest[..<cut.lowerBound])
            rest = rest[cut.upperBound...]
        }
        pieces.append(rest)
        let nodes = pieces.compactMap { piece in nodeNames.firstIndex { !piece.isEmpty && Array($0.utf8)[...] == piece } }
        guard let first = nodes.first else { return nil }
        var later: [Int] = []
        for node in nodes.dropFirst() where node != first && !later.contains(node) && later.count < RankedRoutes.capacity {
            later.append(node)
        }
        return (first, RankedRoutes(later))
    }

    /// `;name=value` path parameters (value up to `/`), then `name=value` query pairs; no fragment.
    private func urlCandidates(_ target: [UInt8], name: [UInt8]) -> [(ArraySlice<UInt8>, RouteSource)] {
        let prefix = name + [UInt8(ascii: "=")]
        let pathEnd = target.firstIndex { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? target.endIndex
        var found: [(ArraySlice<UInt8>, RouteSource)] = []
        let segments = target[..<pathEnd].split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false)
        for segment in segments.dropFirst() where segment.starts(with: prefix) {
            found.append((segment.dropFirst(prefix.count).prefix { $0 != UInt8(ascii: "/") }, .pathParameter))
        }
        guard pathEnd < target.endIndex, target[pathEnd] == UInt8(ascii: "?") else { return found }
        let query = target[(pathEnd + 1)...].prefix { $0 != UInt8(ascii: "#") }
        for pair in query.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false)
        where pair.starts(with: prefix) {
            found.append((pair.dropFirst(prefix.count), .queryParameter))
        }
        return found
    }

    /// The values of every cookie of the configured name in one header line: blanks around the name,
    /// the `=` and the value ignored, one pair of surrounding double quotes removed.
    private func cookieCandidates(_ header: [UInt8]) -> [ArraySlice<UInt8>] {
        let name = Array(session.cookie.utf8)
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var values: [ArraySlice<UInt8>] = []
        for pair in header.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false) {
            let named = pair.drop(while: isBlank)
            guard named.starts(with: name) else { continue }
            let rest = named.dropFirst(name.count).drop(while: isBlank)
            guard rest.first == UInt8(ascii: "=") else { continue }
            var value = rest.dropFirst().drop(while: isBlank)
            while let last = value.last, isBlank(last) { value = value.dropLast() }
            if value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") {
                value = value.dropFirst().dropLast()
            }
            values.append(value)
        }
        return values
    }

    /// Where `needle` first occurs in `haystack`; plain quadratic search, fine for short needles.
    static func firstRange(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Range<Int>? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var start = haystack.startIndex
        while start + needle.count <= haystack.endIndex {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) {
                return start..<(start + needle.count)
            }
            start += 1
        }
        return nil
    }
}
