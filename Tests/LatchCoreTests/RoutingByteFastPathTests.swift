import Testing
@testable import LatchCore

/// The allocation-free routing code (see `Benchmarks/`) compares bytes where the bytes are plain ASCII
/// and falls back to `Character`s elsewhere. These tests hold it to the previous, `String`-based
/// implementations — copied here verbatim as `Legacy` — on the table cases and on seeded hostile input
/// full of what tells bytes and `Character`s apart: combining marks, CR LF, a prepended mark, and
/// characters canonically equivalent to ASCII (the Kelvin sign is `K`, U+037E is `;`, U+1FEF is a grave accent).
struct RoutingByteFastPathTests {
    static let pieces: [String] = [
        "shop", "SHOP", "example", "Example", "com", "COM", ".", ":", "8080", "[", "]", "::1", "*", "/", "?", "#",
        "a", "k", "K", "\u{212A}", "\u{301}", "\u{600}", "\r", "\n", "\r\n", "\u{037E}", ";", "\u{1FEF}", "`",
        "İ", "ß", "é", "e\u{301}", "🍪", "~", "=", " ", "\t", "api", "admin", "http://", "HTTPS://", "%2F",
    ]

    static func hostile(_ random: inout SplitMix64, maxPieces: Int = 8) -> String {
        (0..<Int.random(in: 0...maxPieces, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
    }

    static let clusters: [ClusterConfig] = {
        let node = [NodeConfig(name: "n1", address: HostPort(host: "127.0.0.1", port: 8081))]
        func cluster(_ host: String?, _ prefix: String?) -> ClusterConfig {
            ClusterConfig(name: "c", match: ClusterMatch(host: host, pathPrefix: prefix), nodes: node)
        }
        return [
            cluster("shop.example.com", "/admin"), cluster("SHOP.Example.com.", nil), cluster("*.example.com", nil),
            cluster("[::1]", nil), cluster(nil, "/api/"), cluster("*.Example.NET", nil), cluster("\u{212A}.com", nil),
            cluster("café.example", nil), cluster("*.e\u{301}x", "/e\u{301}"), cluster(nil, "/a"), cluster(nil, "/K"),
            cluster("k:", "/\u{037E}"),
        ]
    }()

    @Test func clusterSelectionMatchesTheStringImplementation() {
        let selector = ClusterSelector(clusters: Self.clusters)
        let legacy = Legacy.ClusterSelector(clusters: Self.clusters)
        var random = SplitMix64(seed: 0xC1A5_7E55)
        var hosts: [String?] = ClusterSelectorTests.cases.map(\.host) + [nil, "", "\u{212A}.COM", "k.com", "K.com:1"]
        var paths = ClusterSelectorTests.cases.map(\.path) + ["/admin\u{301}", "/a\u{301}", "/K", "/\u{212A}", "/\u{037E}", "/a\r\n"]
        for _ in 0..<4000 {
            hosts.append(Int.random(in: 0..<8, using: &random) == 0 ? nil : Self.hostile(&random))
            paths.append(["/", "", "/api/", "/admin", "/a"].randomElement(using: &random)! + Self.hostile(&random, maxPieces: 4))
        }
        var failures = 0
        for (host, path) in zip(hosts, paths.shuffled(using: &random)) {
            let expected = legacy.select(host: host?[...], path: path[...])
            let got = selector.select(host: host?[...], path: path[...])
            if got != expected, failures < 10 {
                failures += 1
                Issue.record("host \(host.debugDescription) path \(path.debugDescription): \(got), was \(expected)")
            }
            for index in Self.clusters.indices {
                let was = legacy.matches(index, host: host?[...], path: path[...])
                if selector.matches(index, host: host?[...], path: path[...]) != was, failures < 10 {
                    failures += 1
                    Issue.record("matches(\(index)) host \(host.debugDescription) path \(path.debugDescription): was \(was)")
                }
            }
        }
    }

    @Test func requestTargetsSplitAsBefore() {
        var random = SplitMix64(seed: 0x7A26_E7)
        var targets = ["/", "", "*", "http://h", "http://h?q", "HTTP://H/Case", "http://h/\u{301}x", "http://h\u{600}/x",
                       "https://[::1]:8443/a;jsessionid=x.t1?q#f", "http:/x", "http//x", "ftp://h/x", "http://h#f/x"]
        for _ in 0..<4000 {
            let start = ["/", "http://", "HTTPS://", "", "h"].randomElement(using: &random)!
            targets.append(start + Self.hostile(&random))
        }
        for target in targets {
            #expect(bytes(RequestTarget.path(of: target)) == bytes(Legacy.path(of: target)), "\(target.debugDescription)")
            let split = RequestTarget.splitAbsoluteForm(target)
            let was = Legacy.splitAbsoluteForm(target)
            #expect(bytes(split?.authority) == bytes(was?.authority), "\(target.debugDescription)")
            #expect(bytes(split?.originForm) == bytes(was?.originForm), "\(target.debugDescription)")
            // What routing uses: the target's authority (else the Host) and the path.
            let routing = RequestTarget.hostAndPath(of: target, host: "fallback")
            #expect(bytes(routing.host) == bytes(was?.authority ?? "fallback"), "\(target.debugDescription)")
            #expect(bytes(routing.path) == bytes(Legacy.path(of: target)), "\(target.debugDescription)")
        }
    }

    @Test func ownerCookieReadsAsBefore() {
        var random = SplitMix64(seed: 0x0B_E4E5)
        let ids = ["326257DA6DB76F8D2E38F2C4540D1DEA.tomcat1", "X.a~b", "", "é.t1", "a\u{301}"]
        for _ in 0..<3000 {
            let id = ids.randomElement(using: &random)!
            let tag = OwnerCookie.tag(of: id)
            let node = ["tomcat2", "a~b", "", "t\u{301}", "\u{600}", "K"].randomElement(using: &random)!
            let value: String
            switch Int.random(in: 0..<4, using: &random) {
            case 0: value = node + "~" + tag
            case 1: value = node + "~" + tag.uppercased()
            case 2: value = node + "~\u{301}" + tag
            default: value = node + Self.hostile(&random, maxPieces: 3) + "~" + String(tag.prefix(Int.random(in: 14...16, using: &random)))
            }
            let blanks = ["", " ", "\t", " \t"]
            let name = ["LATCH_NODE", "L", "é"].randomElement(using: &random)!
            let line = [
                Self.hostile(&random, maxPieces: 3),
                blanks.randomElement(using: &random)! + name + "=" + value + blanks.randomElement(using: &random)!,
                Self.hostile(&random, maxPieces: 3),
            ].shuffled(using: &random).joined(separator: ["; ", ";", ";\u{301}", " ; "].randomElement(using: &random)!)
            let lines = [Self.hostile(&random, maxPieces: 2), line]

            let found = OwnerCookie.find(name, in: lines)
            let wasFound = Legacy.find(name, in: lines)
            #expect(bytes(found) == bytes(wasFound), "find \(name.debugDescription) in \(lines.debugDescription)")
            #expect(bytes(OwnerCookie.owner(in: value, sessionID: id)) == bytes(Legacy.owner(in: value, sessionID: id)),
                    "owner in \(value.debugDescription) for \(id.debugDescription)")
            if let found {
                #expect(bytes(OwnerCookie.owner(in: found, sessionID: id[...])) == bytes(wasFound.flatMap { Legacy.owner(in: $0, sessionID: id) }),
                        "owner in found \(found.debugDescription) for \(id.debugDescription)")
            }
        }
    }

    /// The session id is handed back as a slice of the line it was read from, not a copy: that is how
    /// routing a request allocates nothing (`Scripts/microbench` counts the allocations themselves).
    @Test func sessionIDIsASliceOfItsLine() {
        let table = RoutingTable(config: ClusterSelectorTests.config)
        let line = "theme=dark; JSESSIONID=326257DA6DB76F8D2E38F2C4540D1DEA.tomcat2; other=x"
        let target = "/cart;jsessionid=0A1B2C3D4E5F60718293A4B5C6D7E8F9.tomcat1?x=1"
        let fromCookie = table.routeWithSessionID(host: "shop.example.com", target: "/", cookieHeaders: [line])
        let fromTarget = table.routeWithSessionID(host: "shop.example.com", target: target, cookieHeaders: [line])
        #expect(fromCookie.sessionID == "326257DA6DB76F8D2E38F2C4540D1DEA.tomcat2")
        #expect(fromTarget.sessionID == "0A1B2C3D4E5F60718293A4B5C6D7E8F9.tomcat1")
        func storage(_ s: String) -> UnsafePointer<UInt8>? { s.utf8.withContiguousStorageIfAvailable { $0.baseAddress } ?? nil }
        #expect(fromCookie.sessionID.map { storage($0.base) } == storage(line))
        #expect(fromTarget.sessionID.map { storage($0.base) } == storage(target))
    }
}

/// UTF-8 bytes: stricter than `==` on strings, which is canonical equivalence.
private func bytes<S: StringProtocol>(_ text: S?) -> [UInt8]? {
    text.map { Array($0.utf8) }
}

/// The implementations these replaced, verbatim but for names, as the reference.
enum Legacy {
    struct ClusterSelector {
        private struct Rule {
            var host: String?
            var hostIsWildcard: Bool
            var pathPrefix: String?
        }

        private let rules: [Rule]

        init(clusters: [ClusterConfig]) {
            self.rules = clusters.map { cluster in
                var host = cluster.match.host.map { Self.normalizedHost($0[...]) }
                var wildcard = false
                if let h = host, h.hasPrefix("*.") {
                    host = String(h.dropFirst())
                    wildcard = true
                }
                return Rule(host: host, hostIsWildcard: wildcard, pathPrefix: cluster.match.pathPrefix)
            }
        }

        func select(host: Substring?, path: Substring) -> Int {
            let normalized = host.map { Self.normalizedHost($0) }
            return rules.indices.first { matches(rules[$0], host: normalized, path: path) } ?? 0
        }

        func matches(_ index: Int, host: Substring?, path: Substring) -> Bool {
            matches(rules[index], host: host.map { Self.normalizedHost($0) }, path: path)
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

        static func normalizedHost(_ host: Substring) -> String {
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

    static func path(of target: String) -> Substring {
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

    static func splitAbsoluteForm(_ target: String) -> (authority: String, originForm: String)? {
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

    private static func hasSchemePrefix(_ bytes: String.UTF8View, _ scheme: String) -> Bool {
        var iterator = bytes.makeIterator()
        for expected in scheme.utf8 {
            guard let byte = iterator.next() else { return false }
            let lower = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
            if lower != expected { return false }
        }
        return true
    }

    static func owner(in value: String, sessionID: String) -> String? {
        guard let separator = value.lastIndex(of: "~") else { return nil }
        let node = value[..<separator]
        let tag = value[value.index(after: separator)...]
        guard !node.isEmpty, tag == Self.tag(of: sessionID) else { return nil }
        return String(node)
    }

    static func find<Cookies: Sequence>(_ name: String, in cookieHeaders: Cookies) -> String? where Cookies.Element == String {
        for header in cookieHeaders {
            for pair in header.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " || $0 == "\t" }
                guard trimmed.hasPrefix(name), trimmed.dropFirst(name.count).first == "=" else { continue }
                return String(trimmed.dropFirst(name.count + 1)).trimmingSpaces()
            }
        }
        return nil
    }

    static func tag(of sessionID: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sessionID.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var s = self[...]
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
