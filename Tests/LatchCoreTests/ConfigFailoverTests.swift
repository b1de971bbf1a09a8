import Foundation
import Testing
@testable import LatchCore

/// `health`, `passive` and the failover keys of a cluster, and a node's own `health`.
struct ConfigFailoverTests {
    static let head = ConfigErrorTests.head
    static let oneNode = ConfigErrorTests.oneNode

    /// A one-cluster file with `lines` (already indented) in the cluster and one plain node.
    static func file(cluster lines: String) -> String {
        head + lines + "    nodes:\n" + oneNode
    }

    static func parse(_ yaml: String) throws -> LatchConfig {
        try ConfigLoader.parse(yaml: yaml, file: "lb.yaml")
    }

    // MARK: Defaults

    @Test func everyNewDefaultIsApplied() throws {
        let cluster = try Self.parse(Self.file(cluster: "")).clusters[0]
        #expect(cluster.health == nil)
        #expect(cluster.nodes[0].health == nil)
        // Spelled out, so a change of default in the model is a deliberate, visible one.
        #expect(cluster.passive.failures == 3)
        #expect(cluster.passive.window == .seconds(10))
        #expect(cluster.passive.ejectFor == .seconds(10))
        #expect(cluster.passive.on5xx == false)
        #expect(cluster.failover.onUnavailable == .any)
        #expect(cluster.failover.failback == .immediate)
        #expect(cluster.failover.ownerCookie == "LATCH_NODE")
        #expect(cluster.failover.retries == 2)
        #expect(cluster.failover.retryTimeout == .seconds(10))
        #expect(cluster.failover.retryBodyLimit == 65536)
        #expect(cluster.failover.nodeHeader == nil)
    }

    @Test func stateHeaderAndSlowStartAreReadAndInherited() throws {
        let yaml = Self.head + "    health: { state_header: X-Node-State }\n    slow_start: 30s\n    nodes:\n"
            + Self.node("health: { state_header: null }") + "      - { name: tomcat2, address: 10.0.0.12:8080, slow_start: false }\n"
            + "      - { name: tomcat3, address: 10.0.0.13:8080, slow_start: 2m }\n"
        let cluster = try Self.parse(yaml).clusters[0]
        #expect(cluster.health?.stateHeader == "X-Node-State")
        #expect(cluster.slowStart == .seconds(30))
        #expect(cluster.nodes.map { $0.health?.stateHeader } == [nil, "X-Node-State", "X-Node-State"])
        #expect(cluster.nodes.map(\.slowStart) == [Duration.seconds(30), nil, Duration.seconds(120)])
        let plain = try Self.parse(Self.file(cluster: "")).clusters[0]
        #expect(plain.slowStart == nil && plain.nodes[0].slowStart == nil)
    }

    @Test(arguments: ["    health: {}\n", "    health:\n", "    health: ~\n"])
    func anEmptyHealthBlockChecksWithTheDefaults(_ lines: String) throws {
        // What an operator gets after commenting out every key of the example's `health:`.
        let cluster = try Self.parse(Self.file(cluster: lines + "    passive:\n")).clusters[0]
        let health = try #require(cluster.health)
        #expect(health.type == .http)
        #expect(health.path == "/health")
        #expect(health.method == "GET")
        #expect(health.interval == .seconds(2))
        #expect(health.timeout == .seconds(1))
        #expect(health.rise == 2)
        #expect(health.fall == 3)
        #expect(health.expectStatus == 200...399)
        #expect(health.jitter == 0.1)
        #expect(health.initial == .down)
        #expect(health.host == nil)
        #expect(cluster.nodes[0].health == health)
        #expect(cluster.passive == PassiveHealthConfig())
    }

    // MARK: Every key, default and set

    static let healthRows: [(String, HealthCheckConfig)] = [
        ("type: http", HealthCheckConfig()),
        ("type: tcp", HealthCheckConfig(type: .tcp)),
        ("path: /health", HealthCheckConfig()),
        ("path: /ready?deep=1", HealthCheckConfig(path: "/ready?deep=1")),
        ("method: GET", HealthCheckConfig()),
        ("method: HEAD", HealthCheckConfig(method: "HEAD")),
        ("method: OPTIONS", HealthCheckConfig(method: "OPTIONS")),
        ("interval: 2s", HealthCheckConfig()),
        ("interval: 1m", HealthCheckConfig(interval: .seconds(60))),
        ("timeout: 1s", HealthCheckConfig()),
        ("timeout: 2s", HealthCheckConfig(timeout: .seconds(2))),  // equal to the interval is fine
        ("timeout: 250ms", HealthCheckConfig(timeout: .milliseconds(250))),
        ("rise: 2", HealthCheckConfig()),
        ("rise: 1", HealthCheckConfig(rise: 1)),
        ("rise: 100", HealthCheckConfig(rise: 100)),
        ("fall: 3", HealthCheckConfig()),
        ("fall: 1", HealthCheckConfig(fall: 1)),
        ("fall: 100", HealthCheckConfig(fall: 100)),
        ("expect_status: 200-399", HealthCheckConfig()),
        ("expect_status: 204", HealthCheckConfig(expectStatus: 204...204)),
        ("expect_status: \"200\"", HealthCheckConfig(expectStatus: 200...200)),
        ("expect_status: 200-299", HealthCheckConfig(expectStatus: 200...299)),
        ("expect_status: 100-599", HealthCheckConfig(expectStatus: 100...599)),
        ("expect_status: 302-302", HealthCheckConfig(expectStatus: 302...302)),
        ("jitter: 10%", HealthCheckConfig()),
        ("jitter: 0%", HealthCheckConfig(jitter: 0)),
        ("jitter: 50%", HealthCheckConfig(jitter: 0.5)),
        ("jitter: 12.5%", HealthCheckConfig(jitter: 0.125)),
        ("initial: down", HealthCheckConfig()),
        ("initial: up", HealthCheckConfig(initial: .up)),
        ("host: null", HealthCheckConfig()),
        ("host: app.internal", HealthCheckConfig(host: "app.internal")),
        ("host: app.internal:8080", HealthCheckConfig(host: "app.internal:8080")),
    ]

    @Test(arguments: healthRows)
    func healthKeyIsRead(_ line: String, _ expected: HealthCheckConfig) throws {
        let cluster = try Self.parse(Self.file(cluster: "    health:\n      \(line)\n")).clusters[0]
        #expect(cluster.health == expected)
        #expect(cluster.nodes[0].health == expected)
    }

    static let passiveRows: [(String, PassiveHealthConfig)] = [
        ("failures: 3", PassiveHealthConfig()),
        ("failures: 0", PassiveHealthConfig(failures: 0)),
        ("failures: 1000", PassiveHealthConfig(failures: 1000)),
        ("window: 10s", PassiveHealthConfig()),
        ("window: 1m30s", PassiveHealthConfig(window: .seconds(90))),
        ("eject_for: 10s", PassiveHealthConfig()),
        ("eject_for: 500ms", PassiveHealthConfig(ejectFor: .milliseconds(500))),
        ("on_5xx: false", PassiveHealthConfig()),
        ("on_5xx: true", PassiveHealthConfig(on5xx: true)),
        ("on_5xx: yes", PassiveHealthConfig(on5xx: true)),  // YAML's own booleans
    ]

    @Test(arguments: passiveRows)
    func passiveKeyIsRead(_ line: String, _ expected: PassiveHealthConfig) throws {
        let cluster = try Self.parse(Self.file(cluster: "    passive:\n      \(line)\n")).clusters[0]
        #expect(cluster.passive == expected)
    }

    static let failoverRows: [(String, FailoverConfig)] = [
        ("on_unavailable: any", FailoverConfig()),
        ("on_unavailable: reject", FailoverConfig(onUnavailable: .reject)),
        ("failback: immediate", FailoverConfig()),
        ("failback: stay", FailoverConfig(failback: .stay)),
        ("failback_cookie: LATCH_NODE", FailoverConfig()),
        ("failback_cookie: SHOP_OWNER", FailoverConfig(ownerCookie: "SHOP_OWNER")),
        ("retries: 2", FailoverConfig()),
        ("retries: 0", FailoverConfig(retries: 0)),
        ("retries: 10", FailoverConfig(retries: 10)),
        ("retry_timeout: 10s", FailoverConfig()),
        ("retry_timeout: 2m", FailoverConfig(retryTimeout: .seconds(120))),
        ("retry_body_limit: 64KiB", FailoverConfig()),
        ("retry_body_limit: 65536", FailoverConfig()),
        ("retry_body_limit: \"65536\"", FailoverConfig()),
        ("retry_body_limit: 0", FailoverConfig(retryBodyLimit: 0)),
        ("retry_body_limit: 0B", FailoverConfig(retryBodyLimit: 0)),
        ("retry_body_limit: 512B", FailoverConfig(retryBodyLimit: 512)),
        ("retry_body_limit: 1MiB", FailoverConfig(retryBodyLimit: 1_048_576)),
        ("retry_body_limit: 64MiB", FailoverConfig(retryBodyLimit: 67_108_864)),
        ("retry_body_limit: 0x400", FailoverConfig(retryBodyLimit: 1024)),  // any YAML integer
        ("node_header: null", FailoverConfig()),
        ("node_header: \"\"", FailoverConfig()),
        ("node_header: X-Latch-Node", FailoverConfig(nodeHeader: "X-Latch-Node")),
    ]

    @Test(arguments: failoverRows)
    func failoverKeyIsRead(_ line: String, _ expected: FailoverConfig) throws {
        let cluster = try Self.parse(Self.file(cluster: "    \(line)\n")).clusters[0]
        #expect(cluster.failover == expected)
    }

    @Test func everyNewKeyAtOnce() throws {
        let yaml = """
            listen: [{ address: "0.0.0.0:8080" }]
            clusters:
              - name: shop
                session: { cookie: SID }
                health:
                  type: http
                  path: /status
                  method: HEAD
                  interval: 5s
                  timeout: 5s
                  rise: 1
                  fall: 2
                  expect_status: 204
                  jitter: 0%
                  initial: up
                  host: shop.internal
                passive: { failures: 5, window: 30s, eject_for: 1m, on_5xx: true }
                on_unavailable: reject
                failback: stay
                failback_cookie: SHOP_NODE
                retries: 0
                retry_timeout: 3s
                retry_body_limit: 1MiB
                node_header: X-Served-By
                nodes:
                  - { name: app1, address: 10.0.0.11:8080 }
            """
        let health = HealthCheckConfig(
            type: .http, path: "/status", method: "HEAD", interval: .seconds(5), timeout: .seconds(5), rise: 1,
            fall: 2, expectStatus: 204...204, jitter: 0, initial: .up, host: "shop.internal")
        #expect(try Self.parse(yaml).clusters == [ClusterConfig(
            name: "shop",
            session: SessionConfig(cookie: "SID"),
            nodes: [NodeConfig(name: "app1", address: HostPort(host: "10.0.0.11", port: 8080), health: health)],
            health: health,
            passive: PassiveHealthConfig(failures: 5, window: .seconds(30), ejectFor: .seconds(60), on5xx: true),
            failover: FailoverConfig(onUnavailable: .reject, failback: .stay, ownerCookie: "SHOP_NODE", retries: 0,
                                     retryTimeout: .seconds(3), retryBodyLimit: 1_048_576, nodeHeader: "X-Served-By")
        )])
    }

    @Test func failbackCookieMayBeTheDefaultWhenTheSessionCookieDiffers() throws {
        // The clash check compares names exactly, as cookie names are case-sensitive.
        let yaml = Self.file(cluster: "    session: { cookie: latch_node }\n")
        #expect(try Self.parse(yaml).clusters[0].failover.ownerCookie == "LATCH_NODE")
    }

    // MARK: A node's health over its cluster's

    @Test func nodeKeysAreLaidOverTheClusterHealth() throws {
        let yaml = """
            listen: [{ address: "0.0.0.0:8080" }]
            clusters:
              - name: shop
                health: { path: /status, interval: 5s, timeout: 2s, host: shop.internal }
                nodes:
                  - { name: a, address: 10.0.0.11:8080 }
                  - { name: b, address: 10.0.0.12:8080, health: { path: /ready, rise: 5, timeout: 5s } }
                  - { name: c, address: 10.0.0.13:8080, health: false }
                  - { name: d, address: 10.0.0.14:8080, health: { type: tcp, host: null } }
                  - { name: e, address: 10.0.0.15:8080, health: }
            """
        let cluster = try Self.parse(yaml).clusters[0]
        let shop = HealthCheckConfig(path: "/status", interval: .seconds(5), timeout: .seconds(2), host: "shop.internal")
        #expect(cluster.health == shop)
        var b = shop
        b.path = "/ready"
        b.rise = 5
        b.timeout = .seconds(5)  // within the cluster's interval, which b keeps
        var d = shop
        d.type = .tcp
        d.host = nil
        #expect(cluster.nodes.map(\.health) == [shop, b, nil, d, shop])
    }

    @Test func aNodeMayHaveChecksItsClusterHasNot() throws {
        let yaml = """
            listen: [{ address: "0.0.0.0:8080" }]
            clusters:
              - name: shop
                nodes:
                  - { name: a, address: 10.0.0.11:8080 }
                  - { name: b, address: 10.0.0.12:8080, health: { type: tcp, interval: 10s } }
                  - { name: c, address: 10.0.0.13:8080, health: {} }
                  - { name: d, address: 10.0.0.14:8080, health: false }
            """
        let cluster = try Self.parse(yaml).clusters[0]
        #expect(cluster.health == nil)
        #expect(cluster.nodes.map(\.health) == [
            nil, HealthCheckConfig(type: .tcp, interval: .seconds(10)), HealthCheckConfig(), nil,
        ])
    }

    @Test(arguments: ["false", "off", "no"])
    func healthFalseTurnsChecksOff(_ word: String) throws {
        let yaml = Self.head + "    health: { fall: 5 }\n    nodes:\n"
            + "      - { name: tomcat1, address: 10.0.0.11:8080, health: \(word) }\n"
            + "      - { name: tomcat2, address: 10.0.0.12:8080 }\n"
        let cluster = try Self.parse(yaml).clusters[0]
        #expect(cluster.health == HealthCheckConfig(fall: 5))
        #expect(cluster.nodes.map(\.health) == [nil, HealthCheckConfig(fall: 5)])
        // On the cluster it reads as leaving the block out.
        #expect(try Self.parse(Self.file(cluster: "    health: \(word)\n")).clusters[0].health == nil)
    }

    // MARK: Errors

    struct Broken: Sendable, CustomTestStringConvertible {
        var name: String
        var yaml: String
        var expected: String
        var testDescription: String { name }
    }

    static func node(_ fields: String) -> String {
        "      - { name: tomcat1, address: 10.0.0.11:8080, \(fields) }\n"
    }

    static let errors: [Broken] = [
        // Timeout within interval, checked on the merged result and reported at the key this block set.
        Broken(name: "timeout longer than interval", yaml: file(cluster: "    health: { interval: 2s, timeout: 3s }\n"),
               expected: "lb.yaml:5:38: clusters[0].health.timeout: timeout 3s is longer than interval 2s; "
                   + "a check must end before the next one is due"),
        Broken(name: "interval shorter than the default timeout", yaml: file(cluster: "    health: { interval: 500ms }\n"),
               expected: "lb.yaml:5:25: clusters[0].health.interval: interval 500ms is shorter than timeout 1s; "
                   + "a check must end before the next one is due"),
        Broken(name: "node timeout longer than the cluster's interval",
               yaml: head + "    health: { interval: 3s }\n    nodes:\n" + node("health: { timeout: 4s }"),
               expected: "lb.yaml:7:70: clusters[0].nodes[0].health.timeout: timeout 4s is longer than interval 3s; "
                   + "a check must end before the next one is due"),

        // expect_status.
        Broken(name: "inverted status range", yaml: file(cluster: "    health: { expect_status: 399-200 }\n"),
               expected: "lb.yaml:5:30: clusters[0].health.expect_status: range \"399-200\" is inverted; "
                   + "write the lower code first, e.g. \"200-399\""),
        Broken(name: "status code above 599", yaml: file(cluster: "    health: { expect_status: 600 }\n"),
               expected: "lb.yaml:5:30: clusters[0].health.expect_status: status code 600 is out of range 100...599"),
        Broken(name: "status range starting below 100", yaml: file(cluster: "    health: { expect_status: 99-200 }\n"),
               expected: "lb.yaml:5:30: clusters[0].health.expect_status: status code 99 is out of range 100...599"),
        Broken(name: "status range ending above 599", yaml: file(cluster: "    health: { expect_status: 200-600 }\n"),
               expected: "lb.yaml:5:30: clusters[0].health.expect_status: status code 600 is out of range 100...599"),
        Broken(name: "status class instead of a code", yaml: file(cluster: "    health: { expect_status: 2xx }\n"),
               expected: "lb.yaml:5:30: clusters[0].health.expect_status: invalid expect_status \"2xx\"; "
                   + "expected a status code or a range of them, e.g. 200 or 200-399"),

        // Cookies.
        Broken(name: "failback cookie is the session cookie", yaml: file(cluster: "    failback_cookie: JSESSIONID\n"),
               expected: "lb.yaml:5:22: clusters[0].failback_cookie: failback cookie \"JSESSIONID\" is also the "
                   + "session cookie; give it a name of its own"),
        Broken(name: "session cookie is the default failback cookie",
               yaml: file(cluster: "    session: { cookie: LATCH_NODE }\n"),
               expected: "lb.yaml:5:24: clusters[0].session.cookie: session cookie \"LATCH_NODE\" is also the default "
                   + "failback cookie; set `failback_cookie` to another name"),
        Broken(name: "failback cookie with a space", yaml: file(cluster: "    failback_cookie: \"LATCH NODE\"\n"),
               expected: "lb.yaml:5:22: clusters[0].failback_cookie: \"LATCH NODE\" contains \" \", "
                   + "which a cookie name cannot contain"),

        // Path and host.
        Broken(name: "path without slash", yaml: file(cluster: "    health: { path: health }\n"),
               expected: "lb.yaml:5:21: clusters[0].health.path: must start with \"/\", found \"health\""),
        Broken(name: "path with a space", yaml: file(cluster: "    health: { path: \"/is up\" }\n"),
               expected: "lb.yaml:5:21: clusters[0].health.path: \"/is up\" contains \" \", which a request path "
                   + "cannot contain; percent-encode it"),
        Broken(name: "empty host", yaml: file(cluster: "    health: { host: \"\" }\n"),
               expected: "lb.yaml:5:21: clusters[0].health.host: must not be empty; "
                   + "leave `host` out to send the node's address"),
        Broken(name: "host with a scheme", yaml: file(cluster: "    health: { host: \"http://app\" }\n"),
               expected: "lb.yaml:5:21: clusters[0].health.host: \"http://app\" contains \"/\"; write a bare host name, "
                   + "optionally with a port, e.g. app.internal or app.internal:8080"),
        Broken(name: "http-only key on a tcp check", yaml: file(cluster: "    health: { type: tcp, path: /health }\n"),
               expected: "lb.yaml:5:32: clusters[0].health.path: `path` applies only to http checks, "
                   + "and this check's type is tcp"),
        Broken(name: "http-only key on a node whose cluster checks tcp",
               yaml: head + "    health: { type: tcp }\n    nodes:\n" + node("health: { expect_status: 204 }"),
               expected: "lb.yaml:7:76: clusters[0].nodes[0].health.expect_status: `expect_status` applies only to "
                   + "http checks, and this check's type is tcp"),

        // Jitter.
        Broken(name: "jitter without percent sign", yaml: file(cluster: "    health: { jitter: 10 }\n"),
               expected: "lb.yaml:5:23: clusters[0].health.jitter: invalid jitter \"10\"; "
                   + "expected a percentage from 0% to 50%, e.g. 10%"),
        Broken(name: "negative jitter", yaml: file(cluster: "    health: { jitter: -1% }\n"),
               expected: "lb.yaml:5:23: clusters[0].health.jitter: invalid jitter \"-1%\"; "
                   + "expected a percentage from 0% to 50%, e.g. 10%"),
        Broken(name: "jitter as a fraction", yaml: file(cluster: "    health: { jitter: 0.1 }\n"),
               expected: "lb.yaml:5:23: clusters[0].health.jitter: invalid jitter \"0.1\"; "
                   + "expected a percentage from 0% to 50%, e.g. 10%"),
        Broken(name: "jitter above 50%", yaml: file(cluster: "    health: { jitter: 60% }\n"),
               expected: "lb.yaml:5:23: clusters[0].health.jitter: jitter 60% is out of range 0%...50%"),

        // Counts.
        Broken(name: "rise 0", yaml: file(cluster: "    health: { rise: 0 }\n"),
               expected: "lb.yaml:5:21: clusters[0].health.rise: rise 0 is out of range 1...100"),
        Broken(name: "fall 101", yaml: file(cluster: "    health: { fall: 101 }\n"),
               expected: "lb.yaml:5:21: clusters[0].health.fall: fall 101 is out of range 1...100"),
        Broken(name: "rise in a node override", yaml: head + "    nodes:\n" + node("health: { rise: 200 }"),
               expected: "lb.yaml:6:67: clusters[0].nodes[0].health.rise: rise 200 is out of range 1...100"),
        Broken(name: "retries 11", yaml: file(cluster: "    retries: 11\n"),
               expected: "lb.yaml:5:14: clusters[0].retries: retries 11 is out of range 0...10"),
        Broken(name: "negative retries", yaml: file(cluster: "    retries: -1\n"),
               expected: "lb.yaml:5:14: clusters[0].retries: retries -1 is out of range 0...10"),
        Broken(name: "failures 1001", yaml: file(cluster: "    passive: { failures: 1001 }\n"),
               expected: "lb.yaml:5:26: clusters[0].passive.failures: failures 1001 is out of range 0...1000"),

        // Sizes.
        Broken(name: "size in decimal kilobytes", yaml: file(cluster: "    retry_body_limit: 64KB\n"),
               expected: "lb.yaml:5:23: clusters[0].retry_body_limit: unknown size unit \"KB\" in \"64KB\"; "
                   + "did you mean \"KiB\"? (allowed: B, KiB, MiB, GiB)"),
        Broken(name: "size in tebibytes", yaml: file(cluster: "    retry_body_limit: 1TiB\n"),
               expected: "lb.yaml:5:23: clusters[0].retry_body_limit: unknown size unit \"TiB\" in \"1TiB\" "
                   + "(allowed: B, KiB, MiB, GiB)"),
        Broken(name: "size with a fraction", yaml: file(cluster: "    retry_body_limit: 1.5MiB\n"),
               expected: "lb.yaml:5:23: clusters[0].retry_body_limit: invalid size \"1.5MiB\"; expected a number "
                   + "of bytes, or a whole number with a unit (B, KiB, MiB or GiB), e.g. 65536, 64KiB or 1MiB"),
        Broken(name: "size above 64MiB", yaml: file(cluster: "    retry_body_limit: 65MiB\n"),
               expected: "lb.yaml:5:23: clusters[0].retry_body_limit: retry_body_limit 65MiB is out of range 0...64MiB"),
        Broken(name: "negative size", yaml: file(cluster: "    retry_body_limit: -1\n"),
               expected: "lb.yaml:5:23: clusters[0].retry_body_limit: retry_body_limit -1 is out of range 0...64MiB"),

        // state_header and slow_start.
        Broken(name: "state header with a space", yaml: file(cluster: "    health: { state_header: \"X Node\" }\n"),
               expected: "lb.yaml:5:29: clusters[0].health.state_header: \"X Node\" contains \" \", which a header name cannot contain"),
        Broken(name: "empty state header", yaml: file(cluster: "    health: { state_header: \"\" }\n"),
               expected: "lb.yaml:5:29: clusters[0].health.state_header: must not be empty; e.g. X-Node-State, or null for none"),
        Broken(name: "state header on a tcp check", yaml: file(cluster: "    health: { type: tcp, state_header: X-State }\n"),
               expected: "lb.yaml:5:40: clusters[0].health.state_header: `state_header` applies only to http checks, "
                   + "and this check's type is tcp"),
        Broken(name: "slow start of zero", yaml: file(cluster: "    slow_start: 0s\n"),
               expected: "lb.yaml:5:17: clusters[0].slow_start: duration must be greater than 0, found \"0s\""),
        Broken(name: "slow start true", yaml: file(cluster: "    slow_start: true\n"),
               expected: "lb.yaml:5:17: clusters[0].slow_start: expected a duration such as 30s, or false for no slow start"),
        Broken(name: "node slow start not a duration", yaml: head + "    nodes:\n" + node("slow_start: fast"),
               expected: "lb.yaml:6:63: clusters[0].nodes[0].slow_start: invalid duration \"fast\"; \(DurationParser.acceptedForms)"),

        // Unknown keys in every new block.
        Broken(name: "unknown cluster key", yaml: file(cluster: "    retires: 3\n"),
               expected: "lb.yaml:5:5: clusters[0].retires: unknown key `retires`; did you mean `retries`?"),
        Broken(name: "unknown health key", yaml: file(cluster: "    health: { intervall: 2s }\n"),
               expected: "lb.yaml:5:15: clusters[0].health.intervall: unknown key `intervall`; did you mean `interval`?"),
        Broken(name: "unknown health key without suggestion", yaml: file(cluster: "    health: { port: 8081 }\n"),
               expected: "lb.yaml:5:15: clusters[0].health.port: unknown key `port`; expected one of: type, path, "
                   + "method, interval, timeout, rise, fall, expect_status, jitter, initial, host, state_header"),
        Broken(name: "unknown node health key", yaml: head + "    nodes:\n" + node("health: { expect: 204 }"),
               expected: "lb.yaml:6:61: clusters[0].nodes[0].health.expect: unknown key `expect`; "
                   + "expected one of: type, path, method, interval, timeout, rise, fall, expect_status, jitter, "
                   + "initial, host, state_header"),
        Broken(name: "unknown passive key", yaml: file(cluster: "    passive: { eject: 5s }\n"),
               expected: "lb.yaml:5:16: clusters[0].passive.eject: unknown key `eject`; "
                   + "expected one of: failures, window, eject_for, on_5xx"),
        Broken(name: "misspelt passive key", yaml: file(cluster: "    passive: { on5xx: true }\n"),
               expected: "lb.yaml:5:16: clusters[0].passive.on5xx: unknown key `on5xx`; did you mean `on_5xx`?"),

        // Values of the wrong kind.
        Broken(name: "unknown check type", yaml: file(cluster: "    health: { type: htp }\n"),
               expected: "lb.yaml:5:21: clusters[0].health.type: unknown health check type \"htp\"; "
                   + "did you mean \"http\"? (allowed: http, tcp)"),
        Broken(name: "method in lower case", yaml: file(cluster: "    health: { method: get }\n"),
               expected: "lb.yaml:5:23: clusters[0].health.method: unknown health check method \"get\"; "
                   + "did you mean \"GET\"? (allowed: GET, HEAD, OPTIONS)"),
        Broken(name: "unknown initial state", yaml: file(cluster: "    health: { initial: healthy }\n"),
               expected: "lb.yaml:5:24: clusters[0].health.initial: unknown initial state \"healthy\" "
                   + "(allowed: up, down)"),
        Broken(name: "unknown on_unavailable policy", yaml: file(cluster: "    on_unavailable: fail\n"),
               expected: "lb.yaml:5:21: clusters[0].on_unavailable: unknown on_unavailable policy \"fail\" "
                   + "(allowed: any, reject)"),
        Broken(name: "unknown failback mode", yaml: file(cluster: "    failback: stays\n"),
               expected: "lb.yaml:5:15: clusters[0].failback: unknown failback mode \"stays\"; "
                   + "did you mean \"stay\"? (allowed: immediate, stay)"),
        Broken(name: "health: true", yaml: file(cluster: "    health: true\n"),
               expected: "lb.yaml:5:13: clusters[0].health: expected a mapping of health check keys, "
                   + "or false to turn checks off, found a boolean (true)"),
        Broken(name: "health as a string", yaml: head + "    nodes:\n" + node("health: off-for-now"),
               expected: "lb.yaml:6:59: clusters[0].nodes[0].health: expected a mapping of health check keys, "
                   + "or false to turn checks off, found a string (\"off-for-now\")"),
        Broken(name: "on_5xx as a quoted string", yaml: file(cluster: "    passive: { on_5xx: \"false\" }\n"),
               expected: "lb.yaml:5:24: clusters[0].passive.on_5xx: expected true or false, found a string (\"false\")"),
        Broken(name: "duration without unit", yaml: file(cluster: "    retry_timeout: 10\n"),
               expected: "lb.yaml:5:20: clusters[0].retry_timeout: invalid duration \"10\"; expected a number with a "
                   + "unit (h, m, s or ms), e.g. 500ms, 2s, 1.5s, 1m30s or 1h"),
        Broken(name: "zero eject_for", yaml: file(cluster: "    passive: { eject_for: 0s }\n"),
               expected: "lb.yaml:5:27: clusters[0].passive.eject_for: duration must be greater than 0, found \"0s\""),
        Broken(name: "node header with a colon", yaml: file(cluster: "    node_header: \"X-Node:\"\n"),
               expected: "lb.yaml:5:18: clusters[0].node_header: \"X-Node:\" contains \":\", "
                   + "which a header name cannot contain"),
        Broken(name: "node header that frames the response", yaml: file(cluster: "    node_header: Content-Length\n"),
               expected: "lb.yaml:5:18: clusters[0].node_header: \"Content-Length\" is a header Latch or the "
                   + "application must set itself; choose another name, such as X-Latch-Node"),
        Broken(name: "node header that is Via", yaml: file(cluster: "    node_header: via\n"),
               expected: "lb.yaml:5:18: clusters[0].node_header: \"via\" is a header Latch or the "
                   + "application must set itself; choose another name, such as X-Latch-Node"),
    ]

    @Test(arguments: errors)
    func reportsExactly(_ broken: Broken) {
        #expect(ConfigErrorTests.failure(broken.yaml)?.description == broken.expected)
    }

    @Test func errorCarriesItsPartsSeparately() throws {
        let yaml = Self.file(cluster: "    health: { interval: 2s, timeout: 3s }\n")
        let error = try #require(ConfigErrorTests.failure(yaml))
        #expect(error == ConfigError(file: "lb.yaml", line: 5, column: 38, keyPath: "clusters[0].health.timeout",
                                     message: "timeout 3s is longer than interval 2s; "
                                         + "a check must end before the next one is due"))
    }

    // MARK: Summary

    static func summary(of cluster: ClusterConfig) -> [String] {
        let config = LatchConfig(listeners: [ListenerConfig(address: HostPort(host: "0.0.0.0", port: 8080))],
                                 clusters: [cluster])
        let lines = ConfigSummary.render(config).split(separator: "\n", omittingEmptySubsequences: false)
        return lines.drop { !$0.hasPrefix("Cluster ") }.map(String.init)
    }

    static func node(_ name: String, _ port: Int, health: HealthCheckConfig? = nil) -> NodeConfig {
        NodeConfig(name: name, address: HostPort(host: "127.0.0.1", port: port), health: health)
    }

    @Test func summaryShowsChecksPassiveFailoverAndNodesThatDiffer() {
        let health = HealthCheckConfig()
        var ready = health
        ready.path = "/ready"
        ready.timeout = .milliseconds(500)
        let cluster = ClusterConfig(name: "shop", nodes: [
            Self.node("tomcat1", 8081, health: health),
            Self.node("tomcat2", 8082, health: ready),
            Self.node("tomcat3", 8083),
        ], health: health)
        #expect(Self.summary(of: cluster) == [
            "Cluster \"shop\"",
            "  match:    every request",
            "  session:  cookie JSESSIONID, path parameter ;jsessionid= and query jsessionid=, route after the first \".\"",
            "  balance:  round_robin",
            "  health:   http GET /health every 2s ±10% (timeout 1s, rise 2, fall 3, expect 200-399, initial down)",
            "  passive:  3 failures within 10s eject a node for 10s, 5xx answers not counted",
            "  failover: on_unavailable any, failback immediate, retries 2 within 10s, retry bodies up to 64KiB",
            "  drain:    session idle 30m, maintenance when empty, no deadline",
            "  limits:   200 requests in flight per node, up to 100 more wait 5s",
            "  nodes:",
            "    tomcat1  127.0.0.1:8081  weight 1  no replicas",
            "    tomcat2  127.0.0.1:8082  weight 1  no replicas  health: path /ready, timeout 500ms",
            "    tomcat3  127.0.0.1:8083  weight 1  no replicas  health: off",
        ])
    }

    @Test func summaryOfOtherSettings() {
        let tcp = HealthCheckConfig(type: .tcp, interval: .seconds(5), rise: 1, fall: 1, jitter: 0, initial: .up)
        let cluster = ClusterConfig(
            name: "api",
            nodes: [
                Self.node("a", 9001, health: tcp),
                Self.node("b", 9002, health: HealthCheckConfig(
                    type: .http, path: "/ok", method: "HEAD", expectStatus: 204...204, jitter: 0.125,
                    host: "api.internal")),
            ],
            health: tcp,
            passive: PassiveHealthConfig(failures: 1, window: .seconds(30), ejectFor: .seconds(90), on5xx: true),
            failover: FailoverConfig(onUnavailable: .reject, failback: .stay, ownerCookie: "API_NODE", retries: 0,
                                     nodeHeader: "X-Latch-Node")
        )
        let lines = Self.summary(of: cluster)
        #expect(lines.contains("  health:   tcp connect every 5s (timeout 1s, rise 1, fall 1, initial up)"))
        #expect(lines.contains("  passive:  1 failure within 30s eject a node for 1m30s, 5xx answers counted"))
        #expect(lines.contains(
            "  failover: on_unavailable reject, failback stay (cookie API_NODE), no retries, node header X-Latch-Node"))
        #expect(lines.contains("    b  127.0.0.1:9002  weight 1  no replicas  health: type http, path /ok, method HEAD, "
            + "interval 2s, rise 2, fall 3, expect 204, jitter 12.5%, initial down, Host api.internal"))
        #expect(lines.contains("    a  127.0.0.1:9001  weight 1  no replicas"))
    }

    @Test func summaryWithoutActiveChecks() {
        let own = HealthCheckConfig(expectStatus: 200...200, host: "shop.internal")
        var cluster = ClusterConfig(name: "shop", nodes: [Self.node("a", 9001), Self.node("b", 9002, health: own)])
        #expect(Self.summary(of: cluster).contains("  health:   none (passive only)"))
        #expect(Self.summary(of: cluster).contains("    b  127.0.0.1:9002  weight 1  no replicas  health: http GET "
            + "/health every 2s ±10% (timeout 1s, rise 2, fall 3, expect 200, initial down, Host shop.internal)"))
        cluster.passive.failures = 0
        #expect(Self.summary(of: cluster).contains("  health:   none"))
        #expect(Self.summary(of: cluster).contains("  passive:  off"))
    }

    // MARK: The example file

    static var examplePath: String {
        URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("lb.yaml").path
    }

    @Test func exampleFileHasActiveChecksWithTheDefaults() throws {
        let cluster = try ConfigLoader.load(path: Self.examplePath).clusters[0]
        // The example shows every new key with its default, and checks enabled.
        #expect(cluster.health == HealthCheckConfig())
        #expect(cluster.nodes.allSatisfy { $0.health == HealthCheckConfig() })
        #expect(cluster.passive == PassiveHealthConfig())
        #expect(cluster.failover == FailoverConfig())
    }

    @Test func exampleNodeOverrideLoadsWhenUncommented() throws {
        let text = try String(contentsOfFile: Self.examplePath, encoding: .utf8)
        let commented = "      # - { name: tomcat4,"
        #expect(text.contains(commented))
        let yaml = text.replacingOccurrences(of: commented, with: "      - { name: tomcat4,")
        let nodes = try ConfigLoader.parse(yaml: yaml, file: "lb.yaml").clusters[0].nodes
        #expect(nodes.map(\.name) == ["tomcat1", "tomcat2", "tomcat3", "tomcat4"])
        #expect(nodes[3].health == HealthCheckConfig(path: "/ready", timeout: .milliseconds(500)))
    }
}

struct ByteSizeParserTests {
    @Test(arguments: [
        ("0", 0),
        ("65536", 65536),
        ("0B", 0),
        ("512B", 512),
        ("64KiB", 65536),
        ("1MiB", 1_048_576),
        ("64MiB", 67_108_864),
        ("007KiB", 7168),
    ])
    func accepts(_ text: String, _ bytes: Int) {
        #expect(ByteSizeParser.parse(text) == bytes)
    }

    @Test(arguments: [
        ("", ByteSizeParser.Problem.form),
        ("KiB", .form),
        ("-1KiB", .form),
        ("+1KiB", .form),
        ("1.5MiB", .form),
        ("64 KiB", .form),
        (" 64KiB", .form),
        ("64KiB ", .form),
        ("64KB", .unknownUnit("KB")),
        ("64kib", .unknownUnit("kib")),
        ("1TiB", .unknownUnit("TiB")),
        ("1KiBB", .unknownUnit("KiBB")),
        ("99999999999999999999", .tooLarge),
        ("9999999999999999MiB", .tooLarge),
    ])
    func rejects(_ text: String, _ problem: ByteSizeParser.Problem) {
        #expect(ByteSizeParser.parse(text) == nil)
        #expect(ByteSizeParser.parseExplaining(text) == .failure(problem))
    }

    @Test(arguments: [("KB", "KiB"), ("k", "KiB"), ("MB", "MiB"), ("mib", "MiB"), ("bytes", "B")])
    func suggestsTheUnitWithTheSameInitial(_ unit: String, _ suggestion: String) {
        #expect(ByteSizeParser.suggestion(for: unit) == suggestion)
    }

    @Test func suggestsNothingForOtherUnits() {
        #expect(ByteSizeParser.suggestion(for: "TiB") == nil)
    }

    @Test(arguments: [(0, "0B"), (512, "512B"), (1000, "1000B"), (65536, "64KiB"), (1_048_576, "1MiB"),
                      (1_049_600, "1025KiB")])
    func formatsWhatItParses(_ bytes: Int, _ text: String) {
        #expect(ByteSizeParser.format(bytes) == text)
        #expect(ByteSizeParser.parse(text) == bytes)
    }
}
