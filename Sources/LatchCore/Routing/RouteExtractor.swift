/// Reads the node route out of a request's session ids, following the rules in `anchors.md`:
///
/// 1. every `;name=ID.route` path parameter, in order (Tomcat URL rewriting; the value ends at
///    `;`, `/`, `?` or `#`, as in mod_jk);
/// 2. every `name=ID.route` query parameter, in order; the parameter name must match exactly, so
///    `xjsessionid=` is not `jsessionid=` (httpd's `strstr` gets this wrong);
/// 3. every cookie of the configured name, over all `Cookie` header lines, in order (browsers send
///    several `JSESSIONID` cookies for different paths; mod_jk tries each).
///
/// The first candidate whose route names a node of the cluster wins. The route is the text after the
/// **first** separator (httpd, mod_jk and Tomcat's `JvmRouteBinderValve` all cut at the first `.`, so
/// a route may itself contain the separator). Surrounding double quotes are stripped (RFC 6265 §4.1.1
/// allows a quoted cookie value). Matching is exact and case-sensitive. An empty or unknown route is
/// no route. Nothing here allocates (`Benchmarks/` checks it), except the diagnostic copy of an
/// unknown route longer than a small string: the session id behind a known route is handed back as a
/// `Substring` of the target or of the `Cookie` line it was read from, and node names are compared as
/// bytes.
public struct RouteExtractor: Sendable {
    /// The tables and the scanning code live in one immutable object, so copying an extractor (which
    /// reading it out of an array does before each call) costs one retain, not one per table.
    private let scanner: Scanner

    public var session: SessionConfig { scanner.session }

    public init(session: SessionConfig, nodeNames: [String]) {
        self.scanner = Scanner(session: session, nodeNames: nodeNames)
    }

    /// - Parameters:
    ///   - target: the request target as received (origin-form `/a;jsessionid=x.n?q`, or absolute-form).
    ///   - cookieHeaders: the values of every `Cookie` header line, in the order received.
    public func lookup<Cookies: Sequence>(target: String, cookieHeaders: Cookies) -> RouteLookup
    where Cookies.Element == String {
        scanner.lookup(target: target, cookieHeaders: cookieHeaders, capturingSessionID: false).lookup
    }

    /// The node whose route one session id carries (`ID.route`, or the first route naming a node of
    /// a ranked id); `nil` for an id without a route or one naming no node. Surrounding double quotes
    /// are stripped, as in a `Cookie` header. Used on ids a node issues in `Set-Cookie`.
    public func node(ofSessionID id: Substring) -> Int? {
        scanner.node(ofSessionID: id)
    }

    /// ``lookup(target:cookieHeaders:)`` and, for a known route, the whole session id it came from
    /// (`failback: stay` ties its owner cookie to that id; drain counts sessions by it). The id is a
    /// slice of `target` or of one of `cookieHeaders`, so it costs no allocation; it keeps that string's
    /// storage alive while it is kept.
    public func lookupWithSessionID<Cookies: Sequence>(
        target: String,
        cookieHeaders: Cookies
    ) -> (lookup: RouteLookup, sessionID: Substring?) where Cookies.Element == String {
        scanner.lookup(target: target, cookieHeaders: cookieHeaders, capturingSessionID: true)
    }

    /// ``lookupWithSessionID(target:cookieHeaders:)`` over `Cookie` values given as bytes — a proxy's
    /// parsed head, whose fields are not strings — saying where the session id lies instead of
    /// slicing a string: no `String` is made for a cookie line.
    public func lookupWithSessionID(
        target: String,
        cookieLines: UnsafeBufferPointer<UnsafeRawBufferPointer>
    ) -> (lookup: RouteLookup, sessionID: SessionIDPlace?) {
        scanner.lookup(target: target, cookieLines: cookieLines)
    }
}

/// Where ``RouteExtractor/lookupWithSessionID(target:cookieLines:)`` found the session id behind a
/// known route.
public enum SessionIDPlace: Equatable, Sendable {
    /// A slice of the target (a path or query parameter).
    case target(Substring)
    /// `range` of the bytes of the `line`th cookie line given.
    case cookie(line: Int, range: Range<Int>)
}

extension RouteExtractor {
    private final class Scanner: Sendable {
        let session: SessionConfig
        /// Node names as UTF-8 bytes, in node order: all names one after another, and where each lies
        /// (walking an array of arrays retains and releases each name it visits). Compared byte for
        /// byte: `String` equality is Unicode canonical equivalence (the Kelvin sign equals `K`), and
        /// every anchor compares routes with `strcmp`/`memcmp`. A linear scan beats hashing for the
        /// few nodes a cluster has, and allocates nothing.
        private let nodeNameBytes: [UInt8]
        private let nodeNameRanges: [Range<Int>]
        private let cookieName: [UInt8]
        private let parameterName: [UInt8]?
        private let separator: [UInt8]
        private let ranked: Bool

        init(session: SessionConfig, nodeNames: [String]) {
            self.session = session
            var bytes: [UInt8] = []
            var ranges: [Range<Int>] = []
            for name in nodeNames {
                ranges.append(bytes.count..<bytes.count + name.utf8.count)
                bytes.append(contentsOf: name.utf8)
            }
            self.nodeNameBytes = bytes
            self.nodeNameRanges = ranges
            self.cookieName = Array(session.cookie.utf8)
            self.parameterName = session.pathParameter.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
            self.separator = Array(session.separator.utf8)
            self.ranked = session.routes == .ranked
        }

        func lookup<Cookies: Sequence>(
            target: String,
            cookieHeaders: Cookies,
            capturingSessionID: Bool
        ) -> (lookup: RouteLookup, sessionID: Substring?) where Cookies.Element == String {
            var state = LookupState()
            state.capturesSessionID = capturingSessionID
            if let parameterName, let found = scan(target, inTarget: true, parameterName: parameterName, state: &state) {
                return found
            }
            // An array (what NIO's `HTTPHeaders` hands out) is walked as a buffer: iterating a generic
            // sequence from outside its module goes through unspecialised `IndexingIterator.next()`, whose
            // subscript coroutine allocates once per element.
            let fromBuffer = cookieHeaders.withContiguousStorageIfAvailable { headers -> (RouteLookup, Substring?)? in
                for header in headers {
                    if let found = scan(header, inTarget: false, parameterName: [], state: &state) { return found }
                }
                return nil
            }
            switch fromBuffer {
            case .some(.some(let found)):
                return found
            case .some(.none):
                break
            case .none:
                for header in cookieHeaders {
                    if let found = scan(header, inTarget: false, parameterName: [], state: &state) { return found }
                }
            }
            return (state.finish(), nil)
        }

        func lookup(
            target: String,
            cookieLines: UnsafeBufferPointer<UnsafeRawBufferPointer>
        ) -> (lookup: RouteLookup, sessionID: SessionIDPlace?) {
            var state = LookupState()
            state.capturesSessionID = true
            if let parameterName, let found = scan(target, inTarget: true, parameterName: parameterName, state: &state) {
                return (found.0, found.1.map { .target($0) })
            }
            for (index, line) in cookieLines.enumerated() {
                scanCookieHeader(line.assumingMemoryBound(to: UInt8.self), state: &state)
                if let result = state.result { return (result, state.sessionIDRange.map { .cookie(line: index, range: $0) }) }
            }
            return (state.finish(), nil)
        }

        /// Scans the target (path and query parameters) or one `Cookie` line; returns the known route
        /// found there, and its session id when asked for.
        private func scan(
            _ text: String,
            inTarget: Bool,
            parameterName: [UInt8],
            state: inout LookupState
        ) -> (RouteLookup, Substring?)? {
            var text = text
            text.makeContiguousUTF8()  // a no-op for native strings, which is what NIO hands us
            _ = text.utf8.withContiguousStorageIfAvailable { bytes in
                if inTarget {
                    self.scanTarget(bytes, parameterName: parameterName, state: &state)
                } else {
                    self.scanCookieHeader(bytes, state: &state)
                }
            }
            guard let result = state.result else { return nil }
            guard let range = state.sessionIDRange else { return (result, nil) }
            // Offsets at ASCII delimiters (or the ends), so both are scalar-aligned; O(1) on native UTF-8.
            let utf8 = text.utf8
            let lower = utf8.index(utf8.startIndex, offsetBy: range.lowerBound)
            let upper = utf8.index(lower, offsetBy: range.count)
            return (result, Substring(utf8[lower..<upper]))
        }

        // MARK: - Scanning

        private struct LookupState {
            var result: RouteLookup?
            var firstUnknown: String?
            var sawSessionID = false
            var capturesSessionID = false
            /// UTF-8 offsets of the session id behind `result`, when captured.
            var sessionIDRange: Range<Int>?

            func finish() -> RouteLookup {
                if let firstUnknown { return .unknown(route: firstUnknown) }
                return sawSessionID ? .noRoute : .none
            }
        }

        /// Path parameters first, then query parameters; stops at the first known route.
        private func scanTarget(_ bytes: UnsafeBufferPointer<UInt8>, parameterName: [UInt8], state: inout LookupState) {
            let end = bytes.count
            // The fragment never belongs to the target the server sees; ignore it if a client sent one.
            var pathEnd = 0
            while pathEnd < end, bytes[pathEnd] != UInt8(ascii: "?"), bytes[pathEnd] != UInt8(ascii: "#") {
                pathEnd += 1
            }
            // Path parameters: `;name=value` where value ends at `;`, `/`, `?`, `#`.
            var i = 0
            while i < pathEnd {
                if bytes[i] == UInt8(ascii: ";") {
                    let nameStart = i + 1
                    if matches(bytes, at: nameStart, limit: pathEnd, name: parameterName),
                        nameStart + parameterName.count < pathEnd,
                        bytes[nameStart + parameterName.count] == UInt8(ascii: "=")
                    {
                        let valueStart = nameStart + parameterName.count + 1
                        var valueEnd = valueStart
                        while valueEnd < pathEnd, bytes[valueEnd] != UInt8(ascii: ";"), bytes[valueEnd] != UInt8(ascii: "/") {
                            valueEnd += 1
                        }
                        consider(bytes, valueStart, valueEnd, source: .pathParameter, state: &state)
                        if state.result != nil { return }
                        i = valueEnd
                        continue
                    }
                }
                i += 1
            }
            // Query parameters: `name=value` pairs separated by `&`, before any fragment.
            guard pathEnd < end, bytes[pathEnd] == UInt8(ascii: "?") else { return }
            var queryEnd = pathEnd + 1
            while queryEnd < end, bytes[queryEnd] != UInt8(ascii: "#") { queryEnd += 1 }
            var pairStart = pathEnd + 1
            while pairStart <= queryEnd {
                var pairEnd = pairStart
                while pairEnd < queryEnd, bytes[pairEnd] != UInt8(ascii: "&") { pairEnd += 1 }
                if matches(bytes, at: pairStart, limit: pairEnd, name: parameterName),
                    pairStart + parameterName.count < pairEnd,
                    bytes[pairStart + parameterName.count] == UInt8(ascii: "=")
                {
                    consider(bytes, pairStart + parameterName.count + 1, pairEnd, source: .queryParameter, state: &state)
                    if state.result != nil { return }
                }
                pairStart = pairEnd + 1
            }
        }

        /// One `Cookie` header line: `a=1; JSESSIONID=x.n; b=2` (RFC 6265 §4.2.1, `; ` separated; tolerant
        /// of missing spaces and stray tabs as browsers and old clients send them).
        private func scanCookieHeader(_ bytes: UnsafeBufferPointer<UInt8>, state: inout LookupState) {
            CookiePairs.scan(bytes) { nameStart, pairEnd in
                guard matches(bytes, at: nameStart, limit: pairEnd, name: cookieName) else { return false }
                var eq = nameStart + cookieName.count
                while eq < pairEnd, CookiePairs.isBlank(bytes[eq]) { eq += 1 }
                guard eq < pairEnd, bytes[eq] == UInt8(ascii: "=") else { return false }
                var valueStart = eq + 1
                var valueEnd = pairEnd
                while valueStart < valueEnd, CookiePairs.isBlank(bytes[valueStart]) { valueStart += 1 }
                while valueEnd > valueStart, CookiePairs.isBlank(bytes[valueEnd - 1]) { valueEnd -= 1 }
                if valueEnd - valueStart >= 2, bytes[valueStart] == UInt8(ascii: "\""), bytes[valueEnd - 1] == UInt8(ascii: "\"") {
                    valueStart += 1
                    valueEnd -= 1
                }
                consider(bytes, valueStart, valueEnd, source: .cookie, state: &state)
                return state.result != nil
            }
        }

        /// True when `name` occurs at `start` and fits before `limit`.
        @inline(__always)
        private func matches(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, limit: Int, name: [UInt8]) -> Bool {
            guard limit - start >= name.count else { return false }
            for k in 0..<name.count where bytes[start + k] != name[k] {
                return false
            }
            return true
        }

        /// The first node whose name is exactly these bytes.
        private func node(named route: UnsafeBufferPointer<UInt8>) -> Int? {
            nodeNameBytes.withUnsafeBufferPointer { names in
                nodeNameRanges.withUnsafeBufferPointer { ranges in
                    for index in ranges.indices where ranges[index].count == route.count {
                        if UnsafeBufferPointer(rebasing: names[ranges[index]]).elementsEqual(route) { return index }
                    }
                    return nil
                }
            }
        }

        /// One session id `bytes[start..<end]`: cut the route after the first separator and look it up.
        private func consider(
            _ bytes: UnsafeBufferPointer<UInt8>,
            _ start: Int,
            _ end: Int,
            source: RouteSource,
            state: inout LookupState
        ) {
            guard start < end else { return }  // `JSESSIONID=` with no value is no session id (mod_jk, HAProxy)
            state.sawSessionID = true
            guard let routeStart = firstSeparatorEnd(bytes, from: start, to: end) else { return }
            guard routeStart < end else { return }  // empty route
            let found = ranked ? rankedNodes(bytes, routeStart, end) : node(named: UnsafeBufferPointer(rebasing: bytes[routeStart..<end])).map { ($0, RankedRoutes()) }
            if let (node, later) = found {
                state.result = .known(node: node, source: source, later: later)
                if state.capturesSessionID { state.sessionIDRange = start..<end }
            } else if state.firstUnknown == nil {
                // Cut by bytes, not Characters: one Character can hold any number of combining marks.
                let route = UnsafeBufferPointer(rebasing: bytes[routeStart..<end])
                state.firstUnknown = String(decoding: route.prefix(RouteLookup.maxReportedRouteLength), as: UTF8.self)
            }
        }

        /// Where the text after the first separator in `bytes[start..<end]` begins; `nil` without one.
        private func firstSeparatorEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Int? {
            if separator.count == 1 {
                // The usual `.`: one comparison per byte of the id.
                let byte = separator[0]
                return bytes[start..<end].firstIndex(of: byte).map { $0 + 1 }
            }
            var i = start
            while i + separator.count <= end {
                if matches(bytes, at: i, limit: end, name: separator) { return i + separator.count }
                i += 1
            }
            return nil
        }

        /// `session.routes: ranked`: the routes in `bytes[start..<end]`, split at every separator, best
        /// first. The first that names a node is the session's node, the later ones naming nodes its
        /// ranked alternatives; names of no node (another cluster's, or a stale one) and empty routes
        /// are skipped. `nil` when no route names a node.
        private func rankedNodes(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> (Int, RankedRoutes)? {
            var first: Int?
            var later = RankedRoutes()
            var routeStart = start
            while routeStart <= end {
                let next = firstSeparatorEnd(bytes, from: routeStart, to: end)
                let routeEnd = next.map { $0 - separator.count } ?? end
                if routeStart < routeEnd, let node = node(named: UnsafeBufferPointer(rebasing: bytes[routeStart..<routeEnd])) {
                    if let first {
                        if node != first { later.append(node) }
                    } else {
                        first = node
                    }
                }
                guard let next else { break }
                routeStart = next
            }
            return first.map { ($0, later) }
        }

        /// The node the route of one session id names: its first route naming a node, when ranked.
        func node(ofSessionID id: Substring) -> Int? {
            var id = id
            return id.withUTF8 { bytes -> Int? in
                var state = LookupState()
                var start = 0
                var end = bytes.count
                if end - start >= 2, bytes[start] == UInt8(ascii: "\""), bytes[end - 1] == UInt8(ascii: "\"") {
                    start += 1
                    end -= 1
                }
                consider(bytes, start, end, source: .cookie, state: &state)
                if case .known(let node, _, _) = state.result { return node }
                return nil
            }
        }
    }
}
