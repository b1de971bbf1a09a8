import Testing
@testable import LatchCore

struct ClusterSelectorTests {
    private static let node = [NodeConfig(name: "n1", address: HostPort(host: "127.0.0.1", port: 8081))]

    private static func cluster(_ name: String, host: String? = nil, pathPrefix: String? = nil) -> ClusterConfig {
        ClusterConfig(name: name, match: ClusterMatch(host: host, pathPrefix: pathPrefix), nodes: node)
    }

    /// Cluster 0 is not a catch-all here, so "no match → 0" is distinguishable from a match.
    static let clusters: [ClusterConfig] = [
        cluster("www", host: "www.example.org"),  // 0
        cluster("shop-admin", host: "shop.example.com", pathPrefix: "/admin"),  // 1
        cluster("shop", host: "SHOP.Example.com."),  // 2: normalised like a Host header
        cluster("wild", host: "*.example.com"),  // 3
        cluster("shadowed", host: "admin.example.com"),  // 4: never reached, 3 matches first
        cluster("v6", host: "[::1]"),  // 5
        cluster("api", pathPrefix: "/api/"),  // 6
        cluster("net", host: "*.Example.NET"),  // 7
    ]

    struct Case: Sendable, CustomTestStringConvertible {
        var host: String?
        var path: String
        var expected: Int
        var testDescription: String { "\(host.map { "\"\($0)\"" } ?? "no Host") \(path) → \(expected)" }
    }

    static let cases: [Case] = [
        Case(host: "www.example.org", path: "/", expected: 0),
        Case(host: "shop.example.com", path: "/admin/users", expected: 1),
        Case(host: "shop.example.com", path: "/admin", expected: 1),
        Case(host: "shop.example.com", path: "/administrator", expected: 1),  // a prefix, not a segment
        Case(host: "shop.example.com", path: "/Admin", expected: 2),  // paths are case-sensitive
        Case(host: "shop.example.com", path: "/cart", expected: 2),
        Case(host: "Shop.Example.COM", path: "/cart", expected: 2),
        Case(host: "shop.example.com:8080", path: "/cart", expected: 2),
        Case(host: "shop.example.com.", path: "/cart", expected: 2),
        Case(host: "SHOP.EXAMPLE.COM.:443", path: "/admin/x", expected: 1),
        Case(host: "shop.example.com:", path: "/", expected: 2),
        Case(host: "shop.example.com", path: "/api/v1", expected: 2),  // first match wins over "api"
        Case(host: "shop.example.co", path: "/", expected: 0),
        Case(host: "xshop.example.com", path: "/", expected: 3),  // the wildcard, not the exact host
        Case(host: "a.example.com", path: "/", expected: 3),
        Case(host: "A.B.Example.com:80", path: "/", expected: 3),
        Case(host: "a.example.com.", path: "/", expected: 3),
        Case(host: "admin.example.com", path: "/", expected: 3),  // first match wins over "shadowed"
        Case(host: "a.example.com", path: "/api/x", expected: 3),
        Case(host: "example.com", path: "/", expected: 0),  // *.example.com does not take example.com
        Case(host: "example.com:8080", path: "/", expected: 0),
        Case(host: ".example.com", path: "/", expected: 0),
        Case(host: "notexample.com", path: "/", expected: 0),
        Case(host: "a.example.com.evil", path: "/", expected: 0),
        Case(host: "example.com", path: "/api/v1", expected: 6),
        Case(host: "[::1]:8080", path: "/", expected: 5),
        Case(host: "[::1]", path: "/", expected: 5),
        Case(host: "[::2]:8080", path: "/", expected: 0),
        Case(host: "[::2]:8080", path: "/api/x", expected: 6),
        Case(host: "x.example.net", path: "/", expected: 7),
        Case(host: "X.EXAMPLE.NET:81", path: "/", expected: 7),
        Case(host: "example.net", path: "/", expected: 0),
        Case(host: "other", path: "/api/", expected: 6),
        Case(host: "other", path: "/api", expected: 0),  // prefix is "/api/"
        Case(host: "other", path: "/API/x", expected: 0),
        Case(host: "other", path: "/x/api/", expected: 0),
        Case(host: nil, path: "/api/x", expected: 6),  // missing Host: host rules are skipped
        Case(host: nil, path: "/", expected: 0),
        Case(host: "", path: "/", expected: 0),
        Case(host: "", path: "/api/x", expected: 6),
        Case(host: ":8080", path: "/", expected: 0),
        Case(host: "[", path: "/", expected: 0),
        Case(host: "[::1", path: "/", expected: 0),
        Case(host: "🍪.example.com", path: "/", expected: 3),
    ]

    @Test(arguments: cases)
    func select(_ row: Case) {
        let selector = ClusterSelector(clusters: Self.clusters)
        #expect(selector.select(host: row.host?[...], path: row.path[...]) == row.expected)
    }

    @Test func singleClusterWithoutMatchTakesEverything() {
        let selector = ClusterSelector(clusters: [Self.cluster("only")])
        #expect(selector.select(host: "a.b", path: "/x") == 0)
        #expect(selector.select(host: nil, path: "") == 0)
        #expect(selector.firstMatchesAll)
    }

    /// Only a first cluster with no condition at all lets routing skip the host and path.
    @Test func firstMatchesAllOnlyWithoutConditions() {
        #expect(ClusterSelector(clusters: [Self.cluster("a"), Self.cluster("b", host: "b.example.com")]).firstMatchesAll)
        #expect(!ClusterSelector(clusters: [Self.cluster("a", host: "a.example.com"), Self.cluster("b")]).firstMatchesAll)
        #expect(!ClusterSelector(clusters: [Self.cluster("a", pathPrefix: "/a/"), Self.cluster("b")]).firstMatchesAll)
        #expect(!ClusterSelector(clusters: Self.clusters).firstMatchesAll)
    }

    @Test func noMatchFallsBackToTheFirstCluster() {
        let selector = ClusterSelector(clusters: [
            Self.cluster("first", host: "a.example.com"),
            Self.cluster("second", host: "b.example.com"),
        ])
        #expect(selector.select(host: "c.example.com", path: "/") == 0)
        #expect(selector.select(host: nil, path: "/") == 0)
        #expect(selector.select(host: "b.example.com", path: "/") == 1)
    }

    @Test func emptyMatchLaterInTheListCatchesTheRest() {
        let selector = ClusterSelector(clusters: [
            Self.cluster("a", host: "a.example.com"),
            Self.cluster("rest"),
            Self.cluster("b", host: "b.example.com"),
        ])
        #expect(selector.select(host: "a.example.com", path: "/") == 0)
        #expect(selector.select(host: "b.example.com", path: "/") == 1)  // first match wins
        #expect(selector.select(host: nil, path: "/") == 1)
    }

    @Test func noClustersGivesZero() {
        #expect(ClusterSelector(clusters: []).select(host: "a", path: "/") == 0)
    }

    @Test(arguments: [
        ("Shop.Example.COM.:8080", "shop.example.com"),
        ("shop.example.com", "shop.example.com"),
        ("h:80", "h"),
        ("h:", "h"),
        ("h.", "h"),
        ("H.:1", "h"),
        ("[::1]:8080", "[::1]"),
        ("[::1]", "[::1]"),
        ("[FE80::1]:443", "[fe80::1]"),
        ("127.0.0.1:8080", "127.0.0.1"),
        ("", ""),
        (":", ""),
        (".", ""),
    ])
    func normalizedHost(raw: String, expected: String) {
        #expect(ClusterSelector.normalizedHost(raw[...]) == expected)
    }

    // MARK: - RequestTarget.path

    @Test(arguments: [
        ("/", "/"),
        ("/a/b", "/a/b"),
        ("/a/b?q=1", "/a/b"),
        ("/a/b?", "/a/b"),
        ("/a#frag", "/a"),
        ("/a?q=1#frag", "/a"),
        ("/a#frag?q", "/a"),
        ("/a;jsessionid=x.tomcat1?q", "/a;jsessionid=x.tomcat1"),
        ("/r?u=http://x/y", "/r"),
        ("//double/slash", "//double/slash"),
        ("http://h/a/b?q", "/a/b"),
        ("http://h/a;jsessionid=x.tomcat1", "/a;jsessionid=x.tomcat1"),
        ("https://h:8443/x#f", "/x"),
        ("http://user@h/a", "/a"),
        ("http://[::1]:8080/v6", "/v6"),
        ("http://h", "/"),
        ("http://h/", "/"),
        ("http://h?q=1", "/"),
        ("http://h#f", "/"),
        ("HTTP://H/Case", "/Case"),
        ("*", "*"),
        ("", ""),
    ])
    func requestTargetPath(target: String, expected: String) {
        #expect(RequestTarget.path(of: target) == expected[...])
    }

    // MARK: - RoutingTable

    static let config = LatchConfig(
        listeners: [ListenerConfig(address: HostPort(host: "0.0.0.0", port: 8080))],
        clusters: [
            ClusterConfig(
                name: "shop",
                match: ClusterMatch(host: "shop.example.com"),
                nodes: [
                    NodeConfig(name: "tomcat1", address: HostPort(host: "127.0.0.1", port: 8081)),
                    NodeConfig(name: "tomcat2", address: HostPort(host: "127.0.0.1", port: 8082)),
                ]
            ),
            ClusterConfig(
                name: "admin",
                match: ClusterMatch(host: "admin.example.com"),
                session: SessionConfig(cookie: "ADMIN", pathParameter: nil, separator: "!"),
                nodes: [
                    NodeConfig(name: "wl1", address: HostPort(host: "127.0.0.1", port: 7001)),
                    NodeConfig(name: "wl2", address: HostPort(host: "127.0.0.1", port: 7002)),
                ]
            ),
            ClusterConfig(
                name: "api",
                match: ClusterMatch(pathPrefix: "/api/"),
                nodes: [
                    NodeConfig(name: "tomcat2", address: HostPort(host: "127.0.0.1", port: 9001)),
                    NodeConfig(name: "tomcat1", address: HostPort(host: "127.0.0.1", port: 9002)),
                ]
            ),
        ]
    )

    struct RouteCase: Sendable, CustomTestStringConvertible {
        var host: String?
        var target: String
        var cookies: [String]
        var cluster: Int
        var lookup: RouteLookup
        var testDescription: String { "\(host ?? "no Host") \(target) \(cookies)" }
    }

    @Test(arguments: [
        RouteCase(host: "shop.example.com", target: "/a;jsessionid=x.tomcat2", cookies: [],
                  cluster: 0, lookup: .known(node: 1, source: .pathParameter)),
        // No Host and no path match: the first cluster.
        RouteCase(host: nil, target: "/", cookies: ["JSESSIONID=x.tomcat1"],
                  cluster: 0, lookup: .known(node: 0, source: .cookie)),
        // First match wins: shop's host before api's path prefix.
        RouteCase(host: "shop.example.com", target: "/api/x", cookies: ["JSESSIONID=x.tomcat1"],
                  cluster: 0, lookup: .known(node: 0, source: .cookie)),
        // Each cluster reads its own cookie, parameter and separator.
        RouteCase(host: "Admin.Example.com:443", target: "/a;jsessionid=x!wl2", cookies: ["ADMIN=y!wl1"],
                  cluster: 1, lookup: .known(node: 0, source: .cookie)),
        RouteCase(host: "admin.example.com", target: "/?jsessionid=x!wl2", cookies: ["JSESSIONID=x.tomcat1"],
                  cluster: 1, lookup: .none),
        RouteCase(host: "admin.example.com", target: "/", cookies: ["ADMIN=x.wl1"],
                  cluster: 1, lookup: .noRoute),
        RouteCase(host: "admin.example.com", target: "/", cookies: ["ADMIN=x!tomcat1"],
                  cluster: 1, lookup: .unknown(route: "tomcat1")),
        // Node indices are per cluster: tomcat1 is node 1 of "api".
        RouteCase(host: "other.example.com", target: "/api/x;jsessionid=x.tomcat1", cookies: [],
                  cluster: 2, lookup: .known(node: 1, source: .pathParameter)),
        RouteCase(host: nil, target: "http://h/api/v1?jsessionid=x.tomcat2", cookies: [],
                  cluster: 2, lookup: .known(node: 0, source: .queryParameter)),
        RouteCase(host: nil, target: "http://h", cookies: ["JSESSIONID=x.wl1"],
                  cluster: 0, lookup: .unknown(route: "wl1")),
    ])
    func route(_ row: RouteCase) {
        let table = RoutingTable(config: Self.config)
        let result = table.route(host: row.host?[...], target: row.target, cookieHeaders: row.cookies)
        #expect(result.cluster == row.cluster)
        #expect(result.lookup == row.lookup)
    }

    @Test func tableKeepsItsConfigAndOneExtractorPerCluster() {
        let table = RoutingTable(config: Self.config)
        #expect(table.config == Self.config)
        #expect(table.extractors.map(\.session) == Self.config.clusters.map(\.session))
    }

    /// RFC 9112 §3.2.2: with an absolute-form target the authority in the target wins over `Host`.
    /// `HeaderRewriter` follows that (the node receives `Host: <authority>`), but
    /// `RoutingTable.route` selects the cluster from the `Host` header it is given, so the cluster
    /// and the forwarded `Host` disagree.
    @Test func absoluteFormAuthorityChoosesTheCluster() {
        let table = RoutingTable(config: Self.config)
        let toAdmin = table.route(host: "shop.example.com", target: "http://admin.example.com/x", cookieHeaders: [String]())
        let toShop = table.route(host: "admin.example.com", target: "http://shop.example.com/x", cookieHeaders: [String]())
        #expect(toAdmin.cluster == 1)
        #expect(toShop.cluster == 0)
    }
}
