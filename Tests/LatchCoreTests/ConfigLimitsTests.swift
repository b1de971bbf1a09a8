import Testing
@testable import LatchCore

/// `limits:` at the top level, a cluster's `limits:` and a node's `max_connections`.
struct ConfigLimitsTests {
    static func parse(_ yaml: String) throws -> LatchConfig {
        try ConfigOperationsTests.parse(yaml)
    }

    static func error(_ yaml: String) -> String {
        do {
            _ = try parse(yaml)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func defaults() throws {
        let config = try Self.parse(ConfigOperationsTests.file(top: ""))
        #expect(config.limits == LimitsConfig())
        #expect(config.limits.maxRequestHead == 32 * 1024 && config.limits.maxHeaders == 100)
        #expect(config.limits.maxURILength == 8 * 1024 && config.limits.maxBody == 100 * 1024 * 1024)
        #expect(config.limits.maxClientConnections == 10_000)
        #expect(config.clusters[0].limits == NodeLimitsConfig())
        #expect(config.clusters[0].nodes[0].maxConnections == 200)
    }

    @Test(arguments: [
        ("max_request_head: 64KiB", LimitsConfig(maxRequestHead: 65536)),
        ("max_request_head: 16384", LimitsConfig(maxRequestHead: 16384, maxURILength: 8192)),
        ("max_headers: 50", LimitsConfig(maxHeaders: 50)),
        ("max_uri_length: 2KiB", LimitsConfig(maxURILength: 2048)),
        ("max_body: 1GiB", LimitsConfig(maxBody: 1 << 30)),
        ("max_body: 0", LimitsConfig(maxBody: 0)),
        ("max_client_connections: 20000", LimitsConfig(maxClientConnections: 20_000)),
    ])
    func topLevelKeyIsRead(_ line: String, _ expected: LimitsConfig) throws {
        #expect(try Self.parse(ConfigOperationsTests.file(top: "limits:\n  \(line)\n")).limits == expected)
    }

    @Test func clusterLimitsAndNodeOverride() throws {
        let yaml = ConfigErrorTests.head
            + "    limits: { max_connections: 50, max_queue: 10, queue_timeout: 2s }\n"
            + "    nodes:\n"
            + "      - { name: tomcat1, address: 10.0.0.11:8080 }\n"
            + "      - { name: tomcat2, address: 10.0.0.12:8080, max_connections: 0 }\n"
        let cluster = try Self.parse(yaml).clusters[0]
        #expect(cluster.limits == NodeLimitsConfig(maxConnections: 50, maxQueue: 10, queueTimeout: .seconds(2)))
        #expect(cluster.nodes.map(\.maxConnections) == [50, 0])
    }

    @Test(arguments: [
        ("limits:\n  max_headers: 0\n", "lb.yaml:8:16: limits.max_headers: max_headers 0 is out of range 1...10000"),
        ("limits:\n  max_request_head: 512\n",
         "lb.yaml:8:21: limits.max_request_head: max_request_head 512 is out of range 1KiB...1MiB"),
        ("limits:\n  max_request_head: 4KiB\n",
         "lb.yaml:8:21: limits.max_request_head: max_uri_length (8KiB) is larger than max_request_head (4KiB), "
             + "which the target counts toward"),
        ("limits:\n  max_body: 1TiB\n",
         "lb.yaml:8:13: limits.max_body: unknown size unit \"TiB\" in \"1TiB\" (allowed: B, KiB, MiB, GiB)"),
        ("limits:\n  max_client_connections: 0\n",
         "lb.yaml:8:27: limits.max_client_connections: max_client_connections 0 is out of range 1...10000000"),
        ("limits:\n  max_header: 10\n", "lb.yaml:8:3: limits.max_header: unknown key `max_header`; did you mean `max_headers`?"),
    ])
    func topLevelErrors(_ lines: String, _ expected: String) {
        #expect(Self.error(ConfigOperationsTests.file(top: lines)).hasPrefix(expected))
    }

    @Test(arguments: [
        ("    limits: { max_queue: -1 }\n", "lb.yaml:5:26: clusters[0].limits.max_queue: max_queue -1 is out of range 0...1000000"),
        ("    limits: { queue_timeout: 0s }\n", "lb.yaml:5:30: clusters[0].limits.queue_timeout: duration must be greater than 0"),
    ])
    func clusterErrors(_ lines: String, _ expected: String) {
        #expect(Self.error(ConfigOperationsTests.file(cluster: lines)).hasPrefix(expected))
    }

    @Test func nodeError() {
        #expect(Self.error(ConfigOperationsTests.file(node: "max_connections: -5")).hasPrefix(
            "lb.yaml:6:68: clusters[0].nodes[0].max_connections: max_connections -5 is out of range 0...1000000"))
    }
}
