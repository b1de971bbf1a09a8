import Testing
@testable import LatchCore

/// `RouteExtractor` against the table "Reading the route from a session id" in `anchors.md`:
/// route after the first separator, case-sensitive cookie name, exact URL parameter name, path
/// parameter then query parameter then cookie, every occurrence tried in order and the first one
/// naming a known node wins, quotes stripped, empty or unknown route is no route.
struct RouteExtractorTests {
    /// Default nodes: `tomcat1` → 0, `tomcat2` → 1, `node.dc1` → 2 (a route containing the separator).
    static let defaultNodes = ["tomcat1", "tomcat2", "node.dc1"]

    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var target: String
        var cookies: [String]
        var session: SessionConfig
        var nodes: [String]
        var expected: RouteLookup

        var testDescription: String { label }

        func run() -> RouteLookup {
            RouteExtractor(session: session, nodeNames: nodes).lookup(target: target, cookieHeaders: cookies)
        }
    }

    /// A row whose session id travels in `Cookie` header lines (target `/`).
    static func cookie(
        _ label: String,
        _ headers: [String],
        _ expected: RouteLookup,
        session: SessionConfig = SessionConfig(),
        nodes: [String] = defaultNodes
    ) -> Case {
        Case(label: label, target: "/", cookies: headers, session: session, nodes: nodes, expected: expected)
    }

    /// A row whose session id travels in the request target (optionally with cookies too).
    static func url(
        _ label: String,
        _ target: String,
        _ expected: RouteLookup,
        cookies: [String] = [],
        session: SessionConfig = SessionConfig(),
        nodes: [String] = defaultNodes
    ) -> Case {
        Case(label: label, target: target, cookies: cookies, session: session, nodes: nodes, expected: expected)
    }

    // MARK: - Cookies

    static let cookieCases: [Case] = [
        cookie("plain", ["JSESSIONID=326257DA6DB76F8D2E38F2C4540D1DEA.tomcat1"], .known(node: 0, source: .cookie)),
        cookie("second node", ["JSESSIONID=abc.tomcat2"], .known(node: 1, source: .cookie)),
        cookie("spaces around =", ["JSESSIONID = abc.tomcat1"], .known(node: 0, source: .cookie)),
        cookie("tabs around = and value", ["\tJSESSIONID\t=\tabc.tomcat1\t"], .known(node: 0, source: .cookie)),
        cookie("no spaces after ;", ["a=1;JSESSIONID=abc.tomcat2;b=2"], .known(node: 1, source: .cookie)),
        cookie("spaces and tabs around ;", ["a=1 ;\t JSESSIONID=abc.tomcat2 \t; b=2"], .known(node: 1, source: .cookie)),
        cookie("last of several cookies", ["a=1; b=2; JSESSIONID=abc.tomcat2"], .known(node: 1, source: .cookie)),
        cookie("first of several cookies", ["JSESSIONID=abc.tomcat2; a=1; b=2"], .known(node: 1, source: .cookie)),
        cookie("trailing ;", ["JSESSIONID=abc.tomcat1;"], .known(node: 0, source: .cookie)),
        cookie("several Cookie headers", ["a=1", "b=2; JSESSIONID=abc.tomcat2"], .known(node: 1, source: .cookie)),
        cookie("empty Cookie header before the real one", ["", "JSESSIONID=abc.tomcat1"], .known(node: 0, source: .cookie)),
        cookie(
            "unknown then known in one header: second wins",
            ["JSESSIONID=abc.tomcat9; JSESSIONID=def.tomcat2"], .known(node: 1, source: .cookie)),
        cookie(
            "unknown then known in two headers: second wins",
            ["JSESSIONID=abc.tomcat9", "JSESSIONID=def.tomcat2"], .known(node: 1, source: .cookie)),
        cookie(
            "no route then known: second wins",
            ["JSESSIONID=abc; JSESSIONID=def.tomcat2"], .known(node: 1, source: .cookie)),
        cookie(
            "two known: first wins",
            ["JSESSIONID=abc.tomcat1; JSESSIONID=def.tomcat2"], .known(node: 0, source: .cookie)),
        cookie(
            "two known in two headers: first header wins",
            ["JSESSIONID=abc.tomcat2", "JSESSIONID=def.tomcat1"], .known(node: 1, source: .cookie)),
        cookie("empty value then known", ["JSESSIONID=; JSESSIONID=abc.tomcat1"], .known(node: 0, source: .cookie)),
        cookie("quoted value", ["JSESSIONID=\"abc.tomcat1\""], .known(node: 0, source: .cookie)),
        cookie("quoted value with spaces outside", ["JSESSIONID= \"abc.tomcat2\" ; a=1"], .known(node: 1, source: .cookie)),
        cookie("unbalanced trailing quote is kept", ["JSESSIONID=abc.tomcat1\""], .unknown(route: "tomcat1\"")),
        cookie("empty quoted value is no session id", ["JSESSIONID=\"\""], .none),
        cookie("lone quote is a session id without route", ["JSESSIONID=\""], .noRoute),
        cookie("value containing =", ["JSESSIONID=a=b.tomcat1"], .known(node: 0, source: .cookie)),
        cookie("empty id, route present", ["JSESSIONID=.tomcat2"], .known(node: 1, source: .cookie)),
        cookie("route with separator (first separator)", ["JSESSIONID=abc.node.dc1"], .known(node: 2, source: .cookie)),
        cookie("empty value", ["JSESSIONID="], .none),
        cookie("empty value with spaces", ["JSESSIONID=  ; a=1"], .none),
        cookie("name without =", ["JSESSIONID"], .none),
        cookie("name without = then value-less", ["JSESSIONID; a=1"], .none),
        cookie("empty route", ["JSESSIONID=abc."], .noRoute),
        cookie("no separator", ["JSESSIONID=abc"], .noRoute),
        cookie("unknown route", ["JSESSIONID=abc.tomcat9"], .unknown(route: "tomcat9")),
        cookie(
            "two unknown routes: first reported",
            ["JSESSIONID=abc.tomcat9; JSESSIONID=def.tomcat8"], .unknown(route: "tomcat9")),
        cookie(
            "no route then unknown: the unknown is reported",
            ["JSESSIONID=abc", "JSESSIONID=def.tomcat8"], .unknown(route: "tomcat8")),
        cookie(
            "unknown then no route: the unknown is reported",
            ["JSESSIONID=abc.tomcat8; JSESSIONID=def"], .unknown(route: "tomcat8")),
        cookie(
            "unknown then empty route: the unknown is reported",
            ["JSESSIONID=abc.tomcat8; JSESSIONID=def."], .unknown(route: "tomcat8")),
        cookie("no Cookie header", [], .none),
        cookie("only other cookies", ["a=1; b=abc.tomcat1"], .none),
        cookie("other cookie whose value looks like ours", ["a=JSESSIONID=abc.tomcat1"], .none),
        cookie("prefixed name does not match", ["XJSESSIONID=abc.tomcat1"], .none),
        cookie("suffixed name does not match", ["JSESSIONIDX=abc.tomcat1"], .none),
        cookie("name glued to value does not match", ["JSESSIONIDabc.tomcat1"], .none),
        cookie("lower-case cookie name does not match", ["jsessionid=abc.tomcat1"], .none),
        cookie("mixed-case cookie name does not match", ["JSessionId=abc.tomcat1"], .none),
        cookie("route case matters", ["JSESSIONID=abc.Tomcat1"], .unknown(route: "Tomcat1")),
        cookie("route case matters (upper)", ["JSESSIONID=abc.TOMCAT1"], .unknown(route: "TOMCAT1")),
        cookie("route with a trailing space inside quotes", ["JSESSIONID=\"abc.tomcat1 \""], .unknown(route: "tomcat1 ")),
        cookie(
            "custom cookie name",
            ["JSESSIONID=abc.tomcat1; SID=abc.tomcat2"], .known(node: 1, source: .cookie),
            session: SessionConfig(cookie: "SID")),
        cookie(
            "custom cookie name ignores JSESSIONID",
            ["JSESSIONID=abc.tomcat1"], .none,
            session: SessionConfig(cookie: "SID")),
        cookie(
            "duplicate node names: first index",
            ["JSESSIONID=abc.tomcat1"], .known(node: 0, source: .cookie),
            nodes: ["tomcat1", "tomcat1"]),
        cookie("small string header", ["JSESSIONID=.n"], .known(node: 0, source: .cookie), nodes: ["n"]),
        cookie("node list empty", ["JSESSIONID=abc.tomcat1"], .unknown(route: "tomcat1"), nodes: []),
    ]

    @Test(arguments: cookieCases)
    func cookies(_ row: Case) {
        #expect(row.run() == row.expected)
    }

    // MARK: - Separators

    static let separatorCases: [Case] = [
        cookie("first separator: route keeps later dots", ["JSESSIONID=abc.node.dc1"], .known(node: 2, source: .cookie)),
        cookie(
            "first separator: last segment alone is not the route",
            ["JSESSIONID=abc.node.dc1"], .unknown(route: "node.dc1"),
            nodes: ["dc1"]),
        cookie(
            "first separator: first segment alone is not the route",
            ["JSESSIONID=abc.node.dc1"], .unknown(route: "node.dc1"),
            nodes: ["node"]),
        cookie("two separators in a row", ["JSESSIONID=abc..tomcat1"], .unknown(route: ".tomcat1")),
        cookie(
            "WebLogic-style !",
            ["JSESSIONID=abc!tomcat1"], .known(node: 0, source: .cookie),
            session: SessionConfig(separator: "!")),
        cookie(
            "! separator: route may contain dots",
            ["JSESSIONID=abc.def!node.dc1"], .known(node: 2, source: .cookie),
            session: SessionConfig(separator: "!")),
        cookie(
            "! separator: a dot is not a separator",
            ["JSESSIONID=abc.tomcat1"], .noRoute,
            session: SessionConfig(separator: "!")),
        cookie(
            "! separator: first ! wins",
            ["JSESSIONID=abc!tomcat1!x"], .unknown(route: "tomcat1!x"),
            session: SessionConfig(separator: "!")),
        cookie(
            "multi-character separator",
            ["JSESSIONID=abc--tomcat2"], .known(node: 1, source: .cookie),
            session: SessionConfig(separator: "--")),
        cookie(
            "multi-character separator: half of it is not enough",
            ["JSESSIONID=abc-tomcat2"], .noRoute,
            session: SessionConfig(separator: "--")),
        cookie(
            "multi-character separator at the very end",
            ["JSESSIONID=abc--"], .noRoute,
            session: SessionConfig(separator: "--")),
        cookie(
            "multi-character separator cut short at the end",
            ["JSESSIONID=abc-"], .noRoute,
            session: SessionConfig(separator: "--")),
        cookie(
            "multi-character separator: first occurrence, overlapping",
            ["JSESSIONID=abc---tomcat2"], .unknown(route: "-tomcat2"),
            session: SessionConfig(separator: "--")),
        cookie(
            "multi-byte separator",
            ["JSESSIONID=abc·tomcat1"], .known(node: 0, source: .cookie),
            session: SessionConfig(separator: "·")),
        cookie(
            "separator is the whole value",
            ["JSESSIONID=."], .noRoute),
        url(
            "custom separator in the path parameter",
            "/a;jsessionid=abc!tomcat2", .known(node: 1, source: .pathParameter),
            session: SessionConfig(separator: "!")),
    ]

    @Test(arguments: separatorCases)
    func separators(_ row: Case) {
        #expect(row.run() == row.expected)
    }

    // MARK: - URL: path parameter and query parameter

    static let urlCases: [Case] = [
        url("path parameter on the last segment", "/app/x;jsessionid=abc.tomcat2", .known(node: 1, source: .pathParameter)),
        url("path parameter on a non-last segment", "/app;jsessionid=abc.tomcat2/x", .known(node: 1, source: .pathParameter)),
        url("path parameter ends at ?", "/app/x;jsessionid=abc.tomcat2?a=1", .known(node: 1, source: .pathParameter)),
        url("path parameter ends at ;", "/app/x;jsessionid=abc.tomcat2;v=1", .known(node: 1, source: .pathParameter)),
        url("path parameter ends at /", "/app/x;jsessionid=abc.tomcat2/", .known(node: 1, source: .pathParameter)),
        url("path parameter ends at #", "/app/x;jsessionid=abc.tomcat2#top", .known(node: 1, source: .pathParameter)),
        url("path parameter after another one", "/a;v=1;jsessionid=abc.tomcat2", .known(node: 1, source: .pathParameter)),
        url("path parameter with route containing the separator", "/a;jsessionid=abc.node.dc1/b", .known(node: 2, source: .pathParameter)),
        url("path parameter: unknown then known", "/a;jsessionid=abc.tomcat9/b;jsessionid=def.tomcat2", .known(node: 1, source: .pathParameter)),
        url("path parameter: known value running on is unknown", "/a;jsessionid=abc.tomcat2x/", .unknown(route: "tomcat2x")),
        url("path parameter: prefixed name", "/a;xjsessionid=abc.tomcat2", .none),
        url("path parameter: suffixed name", "/a;jsessionidx=abc.tomcat2", .none),
        url("path parameter: upper-case name", "/a;JSESSIONID=abc.tomcat2", .none),
        url("path parameter: without =", "/a;jsessionid", .none),
        url("path parameter: without ;", "/a/jsessionid=abc.tomcat2", .none),
        url("path parameter: empty value", "/a;jsessionid=", .none),
        url("path parameter: empty value before /", "/a;jsessionid=/b", .none),
        url("path parameter: no separator", "/a;jsessionid=abc", .noRoute),
        url("path parameter: empty route", "/a;jsessionid=abc.", .noRoute),
        url("path parameter: empty route before ?", "/a;jsessionid=abc.?x=1", .noRoute),
        url("path parameter: unknown route", "/a;jsessionid=abc.tomcat9", .unknown(route: "tomcat9")),
        url("query parameter in the middle", "/a?a=1&jsessionid=abc.tomcat2&b=2", .known(node: 1, source: .queryParameter)),
        url("query parameter first", "/a?jsessionid=abc.tomcat2&b=2", .known(node: 1, source: .queryParameter)),
        url("query parameter last", "/a?b=2&jsessionid=abc.tomcat2", .known(node: 1, source: .queryParameter)),
        url("query parameter among empty pairs", "/a?&&jsessionid=abc.tomcat2&&", .known(node: 1, source: .queryParameter)),
        url("query parameter ends at #", "/a?jsessionid=abc.tomcat2#x", .known(node: 1, source: .queryParameter)),
        url("query parameter: unknown then known", "/a?jsessionid=x.tomcat9&jsessionid=y.tomcat1", .known(node: 0, source: .queryParameter)),
        url("query parameter: prefixed name", "/a?xjsessionid=abc.tomcat2", .none),
        url("query parameter: prefixed name after &", "/a?b=1&xjsessionid=abc.tomcat2", .none),
        url("query parameter: suffixed name", "/a?jsessionidx=abc.tomcat2", .none),
        url("query parameter: upper-case name", "/a?JSESSIONID=abc.tomcat2", .none),
        url("query parameter: name only in a value", "/a?b=jsessionid=abc.tomcat2", .none),
        url("query parameter: path-parameter syntax inside the query", "/a?x=;jsessionid=abc.tomcat2", .none),
        url("query parameter: without =", "/a?jsessionid", .none),
        url("query parameter: empty value", "/a?jsessionid=&b=1", .none),
        url("query parameter: no separator", "/a?jsessionid=abc", .noRoute),
        url("query parameter: unknown route", "/a?jsessionid=abc.tomcat9&b=1", .unknown(route: "tomcat9")),
        url("fragment: path parameter inside it is ignored", "/a#;jsessionid=abc.tomcat2", .none),
        url("fragment: query parameter inside it is ignored", "/a?b=1#jsessionid=abc.tomcat2", .none),
        url("fragment before ? hides the query", "/a#x?jsessionid=abc.tomcat2", .none),
        url("absolute-form path parameter", "http://h/a;jsessionid=x.tomcat1", .known(node: 0, source: .pathParameter)),
        url(
            "absolute-form with port and query",
            "https://h:8443/a/b;jsessionid=x.tomcat2?q=1", .known(node: 1, source: .pathParameter)),
        url("absolute-form query parameter with empty path", "http://h?jsessionid=x.tomcat1", .known(node: 0, source: .queryParameter)),
        url("small string target", "/;jsessionid=.n", .known(node: 0, source: .pathParameter), nodes: ["n"]),
        url(
            "custom parameter name",
            "/a;sid=abc.tomcat1?sid=abc.tomcat2", .known(node: 0, source: .pathParameter),
            session: SessionConfig(cookie: "SID", pathParameter: "sid")),
        url(
            "custom parameter name ignores jsessionid",
            "/a;jsessionid=abc.tomcat1?jsessionid=abc.tomcat2", .none,
            session: SessionConfig(cookie: "SID", pathParameter: "sid")),
        url(
            "pathParameter nil: URL ignored",
            "/a;jsessionid=abc.tomcat1?jsessionid=abc.tomcat2", .none,
            session: SessionConfig(pathParameter: nil)),
        url(
            "pathParameter nil: cookie still read",
            "/a;jsessionid=abc.tomcat1?jsessionid=abc.tomcat1", .known(node: 1, source: .cookie),
            cookies: ["JSESSIONID=abc.tomcat2"],
            session: SessionConfig(pathParameter: nil)),
        url(
            "pathParameter empty: URL ignored",
            "/a;jsessionid=abc.tomcat1?=abc.tomcat2", .none,
            session: SessionConfig(pathParameter: "")),
    ]

    @Test(arguments: urlCases)
    func url(_ row: Case) {
        #expect(row.run() == row.expected)
    }

    // MARK: - Precedence: path, then query, then cookie; first known wins

    static let precedenceCases: [Case] = [
        url(
            "path beats query and cookie",
            "/a;jsessionid=x.tomcat1?jsessionid=y.tomcat2", .known(node: 0, source: .pathParameter),
            cookies: ["JSESSIONID=z.node.dc1"]),
        url(
            "query beats cookie",
            "/a?jsessionid=y.tomcat2", .known(node: 1, source: .queryParameter),
            cookies: ["JSESSIONID=z.tomcat1"]),
        url(
            "query after path of the later segment still loses to the path",
            "/a;jsessionid=x.tomcat2/b?jsessionid=y.tomcat1", .known(node: 1, source: .pathParameter)),
        url(
            "known cookie beats unknown path parameter",
            "/a;jsessionid=x.tomcat9", .known(node: 0, source: .cookie),
            cookies: ["JSESSIONID=y.tomcat1"]),
        url(
            "known cookie beats unknown query parameter",
            "/a?jsessionid=x.tomcat9", .known(node: 1, source: .cookie),
            cookies: ["JSESSIONID=y.tomcat2"]),
        url(
            "known query beats unknown path parameter",
            "/a;jsessionid=x.tomcat9?jsessionid=y.tomcat2", .known(node: 1, source: .queryParameter),
            cookies: ["JSESSIONID=z.tomcat1"]),
        url(
            "known cookie beats route-less path parameter",
            "/a;jsessionid=x", .known(node: 0, source: .cookie),
            cookies: ["JSESSIONID=y.tomcat1"]),
        url(
            "all unknown: the path's route is reported",
            "/a;jsessionid=x.p9?jsessionid=y.q9", .unknown(route: "p9"),
            cookies: ["JSESSIONID=z.c9"]),
        url(
            "query and cookie unknown: the query's route is reported",
            "/a?jsessionid=y.q9", .unknown(route: "q9"),
            cookies: ["JSESSIONID=z.c9"]),
        url(
            "route-less path, unknown cookie: the cookie's route is reported",
            "/a;jsessionid=x", .unknown(route: "c9"),
            cookies: ["JSESSIONID=z.c9"]),
        url(
            "unknown path, route-less cookie: the path's route is reported",
            "/a;jsessionid=x.p9", .unknown(route: "p9"),
            cookies: ["JSESSIONID=z"]),
        url(
            "route-less path, no cookie",
            "/a;jsessionid=x", .noRoute),
        url(
            "empty path value and empty cookie: no session",
            "/a;jsessionid=?jsessionid=", .none,
            cookies: ["JSESSIONID="]),
    ]

    @Test(arguments: precedenceCases)
    func precedence(_ row: Case) {
        #expect(row.run() == row.expected)
    }

    // MARK: - Hostile and odd inputs: never crash, sensible values

    static let limit = RouteLookup.maxReportedRouteLength

    static let hostileCases: [Case] = [
        url("empty target, empty header", "", .none, cookies: [""]),
        url("only semicolons", ";;;;", .none, cookies: [";;;;"]),
        url("only =", "=", .none, cookies: ["="]),
        url("= and ; soup", "/;=;=?=&=&", .none, cookies: ["=;=;=", " ; \t ; "]),
        url("lone ?", "?", .none),
        url("lone #", "#", .none),
        url("lone ;jsessionid=", ";jsessionid=", .none),
        url("value is only the separator", "/;jsessionid=.", .noRoute, cookies: ["JSESSIONID=."]),
        url("target without leading slash", "a;jsessionid=x.tomcat1", .known(node: 0, source: .pathParameter)),
        cookie("NUL after the route", ["JSESSIONID=abc.tomcat1\u{0}"], .unknown(route: "tomcat1\u{0}")),
        cookie("control characters", ["\u{1}\u{2};JSESSIONID=\u{7f}.tomcat2"], .known(node: 1, source: .cookie)),
        cookie("replacement character route", [String(decoding: [0x4A, 0x53, 0x45, 0x53, 0x53, 0x49, 0x4F, 0x4E, 0x49, 0x44, 0x3D, 0x61, 0x2E, 0xFF, 0xFE], as: UTF8.self)],
               .unknown(route: "\u{FFFD}\u{FFFD}")),
        cookie("emoji id", ["JSESSIONID=🍪.tomcat1"], .known(node: 0, source: .cookie)),
        cookie("emoji route", ["JSESSIONID=abc.🍪"], .unknown(route: "🍪")),
        cookie("known route with emoji suffix", ["JSESSIONID=abc.tomcat1🍪"], .unknown(route: "tomcat1🍪")),
        cookie("emoji cookie name before ours", ["🍪=1; JSESSIONID=abc.tomcat2"], .known(node: 1, source: .cookie)),
        url("emoji path", "/🍪;jsessionid=🍪.tomcat2/🍪", .known(node: 1, source: .pathParameter)),
        cookie("emoji separator", ["JSESSIONID=abc🍪tomcat1"], .known(node: 0, source: .cookie), session: SessionConfig(separator: "🍪")),
        cookie("route of exactly the limit", ["JSESSIONID=abc." + String(repeating: "r", count: limit)],
               .unknown(route: String(repeating: "r", count: limit))),
        cookie("route one over the limit is cut", ["JSESSIONID=abc." + String(repeating: "r", count: limit + 1)],
               .unknown(route: String(repeating: "r", count: limit))),
        cookie("route of 200 cut", ["JSESSIONID=abc." + String(repeating: "0123456789", count: 20)],
               .unknown(route: String(String(repeating: "0123456789", count: 7).prefix(limit)))),
        url("long path route cut", "/a;jsessionid=x." + String(repeating: "p", count: 500),
            .unknown(route: String(repeating: "p", count: limit))),
        cookie("long emoji route cut by bytes", ["JSESSIONID=abc." + String(repeating: "🍪", count: 100)],
               .unknown(route: String(repeating: "🍪", count: limit / 4))),
        cookie("100 KB session id with a known route", ["JSESSIONID=" + String(repeating: "A", count: 100_000) + ".tomcat1"],
               .known(node: 0, source: .cookie)),
        cookie("100 KB route", ["JSESSIONID=abc." + String(repeating: "x", count: 100_000)],
               .unknown(route: String(repeating: "x", count: limit))),
        cookie("100 KB of semicolons", [String(repeating: ";", count: 100_000)], .none),
        cookie("100 KB of spaces", [String(repeating: " ", count: 100_000)], .none),
        cookie("100 KB without separator", ["JSESSIONID=" + String(repeating: "a", count: 100_000)], .noRoute),
        cookie("100 KB of route-less cookies", [String(repeating: "JSESSIONID=a;", count: 8_000)], .noRoute),
        cookie("known cookie after 100 KB of unknown ones",
               [String(repeating: "JSESSIONID=a.zz; ", count: 6_000) + "JSESSIONID=b.tomcat2"],
               .known(node: 1, source: .cookie)),
        cookie("100 KB of the cookie name", [String(repeating: "JSESSIONID", count: 10_000)], .none),
        url("100 KB target of semicolons", "/" + String(repeating: ";", count: 100_000), .none),
        url("100 KB target of empty parameters", "/" + String(repeating: ";jsessionid=", count: 8_000), .none),
        url("100 KB query of ampersands", "/?" + String(repeating: "&", count: 100_000), .none),
        url("known path parameter after 100 KB of unknown ones",
            "/" + String(repeating: ";jsessionid=a.zz", count: 6_000) + ";jsessionid=b.tomcat1",
            .known(node: 0, source: .pathParameter)),
        url("100 KB separator-only route", "/;jsessionid=" + String(repeating: ".", count: 100_000),
            .unknown(route: String(repeating: ".", count: limit))),
    ]

    @Test(arguments: hostileCases)
    func hostile(_ row: Case) {
        #expect(row.run() == row.expected)
    }

    // MARK: - Other properties

    /// The entry point over cookie bytes (a proxy's parsed head) reads every row as the string one
    /// does, and places the session id where the string one slices it.
    @Test(arguments: cookieCases + separatorCases + urlCases + precedenceCases + hostileCases)
    func cookieBytesReadAsCookieStrings(_ row: Case) {
        let extractor = RouteExtractor(session: row.session, nodeNames: row.nodes)
        let fromStrings = extractor.lookupWithSessionID(target: row.target, cookieHeaders: row.cookies)
        let lines = row.cookies.map { Array($0.utf8) }
        let joined = lines.flatMap { $0 }
        let (lookup, id): (RouteLookup, String?) = joined.withUnsafeBytes { all in
            var start = 0
            let pointers = lines.map { line in
                defer { start += line.count }
                return UnsafeRawBufferPointer(rebasing: all[start..<start + line.count])
            }
            return pointers.withUnsafeBufferPointer { cookieLines in
                let found = extractor.lookupWithSessionID(target: row.target, cookieLines: cookieLines)
                switch found.sessionID {
                case .target(let slice): return (found.lookup, String(slice))
                case .cookie(let line, let range): return (found.lookup, String(decoding: lines[line][range], as: UTF8.self))
                case nil: return (found.lookup, nil)
                }
            }
        }
        #expect(lookup == fromStrings.lookup)
        #expect(lookup == row.expected)
        #expect(id.map { Array($0.utf8) } == fromStrings.sessionID.map { Array($0.utf8) })
    }

    @Test func lookupAcceptsAnySequenceOfHeaders() {
        let extractor = RouteExtractor(session: SessionConfig(), nodeNames: Self.defaultNodes)
        let headers = ["a=1", "JSESSIONID=x.tomcat2"].lazy.map { $0 }
        #expect(extractor.lookup(target: "/", cookieHeaders: headers) == .known(node: 1, source: .cookie))
        #expect(extractor.lookup(target: "/", cookieHeaders: EmptyCollection<String>()) == .none)
    }

    @Test func substringDerivedInputsAreRead() {
        let extractor = RouteExtractor(session: SessionConfig(), nodeNames: Self.defaultNodes)
        let raw = "GET /shop/cart;jsessionid=326257DA6DB76F8D2E38F2C4540D1DEA.node.dc1?x=1 HTTP/1.1"
        let target = String(raw.split(separator: " ")[1])
        #expect(extractor.lookup(target: target, cookieHeaders: [String]()) == .known(node: 2, source: .pathParameter))
        let line = "Cookie: a=1; JSESSIONID=326257DA6DB76F8D2E38F2C4540D1DEA.tomcat2"
        let cookie = String(line.dropFirst("Cookie: ".count))
        #expect(extractor.lookup(target: "/", cookieHeaders: [cookie]) == .known(node: 1, source: .cookie))
    }

    @Test func extractorKeepsItsSessionConfig() {
        let session = SessionConfig(cookie: "SID", pathParameter: nil, separator: "!")
        #expect(RouteExtractor(session: session, nodeNames: ["a"]).session == session)
    }

    @Test func routeSourceRawValues() {
        #expect(RouteSource.pathParameter.rawValue == "path_parameter")
        #expect(RouteSource.queryParameter.rawValue == "query_parameter")
        #expect(RouteSource.cookie.rawValue == "cookie")
    }

    /// Every proper prefix and suffix of a realistic request must come back without crashing, and
    /// a cut session id must never be taken for a different known node.
    @Test func truncatedInputsNeverCrashOrMisroute() {
        let extractor = RouteExtractor(session: SessionConfig(), nodeNames: Self.defaultNodes)
        let target = "/app/x;jsessionid=326257DA.tomcat2?a=1&jsessionid=9F.tomcat1#frag"
        let cookie = "a=1; JSESSIONID=\"326257DA.node.dc1\"; b=2"
        for cut in 0...target.utf8.count {
            let prefix = String(decoding: Array(target.utf8.prefix(cut)), as: UTF8.self)
            let suffix = String(decoding: Array(target.utf8.dropFirst(cut)), as: UTF8.self)
            for candidate in [prefix, suffix] {
                let result = extractor.lookup(target: candidate, cookieHeaders: [String]())
                switch result {
                case .known(let node, _, _): #expect(node == 0 || node == 1, "\(candidate)")
                case .unknown, .noRoute, .none: break
                }
            }
        }
        for cut in 0...cookie.utf8.count {
            let prefix = String(decoding: Array(cookie.utf8.prefix(cut)), as: UTF8.self)
            let result = extractor.lookup(target: "/", cookieHeaders: [prefix])
            if case .known(let node, let source, _) = result {
                #expect(node == 2 && source == .cookie, "\(prefix)")
            }
        }
    }

    // MARK: - Bugs found (see the report)

    /// `maxReportedRouteLength` is applied with `String.prefix`, which counts grapheme clusters.
    /// One base letter followed by 50 000 combining marks is a single `Character`, so the whole
    /// 100 KB route is "reported": the limit meant to keep hostile cookies out of log lines does
    /// not bound the size at all.
    @Test func reportedRouteIsBoundedInBytes() {
        let bomb = "a" + String(repeating: "\u{0301}", count: 50_000)
        let extractor = RouteExtractor(session: SessionConfig(), nodeNames: Self.defaultNodes)
        let result = extractor.lookup(target: "/", cookieHeaders: ["JSESSIONID=abc." + bomb])
        guard case .unknown(let route) = result else {
            Issue.record("expected .unknown, got \(result)")
            return
        }
        #expect(route.utf8.count <= 4 * RouteLookup.maxReportedRouteLength)
    }

    /// Route matching is exact and case-sensitive (strcmp / memcmp in every anchor): byte for byte,
    /// not Unicode canonical equivalence, so U+212A KELVIN SIGN (`E2 84 AA`) is not "K".
    @Test func routeMatchIsByteExact() {
        let extractor = RouteExtractor(session: SessionConfig(), nodeNames: ["tomcatK"])
        let route = "tomcat\u{212A}"
        let result = extractor.lookup(target: "/", cookieHeaders: ["JSESSIONID=abc." + route])
        guard case .unknown(let reported) = result else {
            Issue.record("a route that is not byte-equal to any node matched: \(result)")
            return
        }
        #expect(Array(reported.utf8) == Array(route.utf8))
    }
}
