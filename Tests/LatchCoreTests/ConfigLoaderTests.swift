import Foundation
import Testing
@testable import LatchCore

struct ConfigLoaderTests {
    @Test func everyFieldIsRead() throws {
        let yaml = """
            listen:
              - address: 0.0.0.0:8080
              - address: "[::1]:9090"
            clusters:
              - name: shop
                match: { host: "*.example.com", path_prefix: /shop/ }
                session:
                  cookie: SID
                  path_parameter: sid
                  separator: "!"
                balance: least_connections
                nodes:
                  - { name: app1, address: app1.internal:8080, weight: 3, replicas: [app2, app3] }
                  - name: app2
                    address: 10.0.0.12:8081
                    weight: 1000
                    replicas: [app1]
                  - { name: app3, address: "[fe80::1%eth0]:8082" }
              - name: api
                match: { host: api.example.com }
                session: { path_parameter: null }
                balance: random_two
                nodes:
                  - { name: "1", address: localhost:80 }
            timeouts: { connect: 500ms, request_head: 1m30s, idle: 1.5s, upstream_response: 1h }
            pool: { max_idle_per_node: 0, idle_timeout: 19s }
            forwarding: { x_forwarded_for: append, via: edge-1 }
            threads: 4
            """
        let expected = LatchConfig(
            listeners: [
                ListenerConfig(address: HostPort(host: "0.0.0.0", port: 8080)),
                ListenerConfig(address: HostPort(host: "::1", port: 9090)),
            ],
            clusters: [
                ClusterConfig(
                    name: "shop",
                    match: ClusterMatch(host: "*.example.com", pathPrefix: "/shop/"),
                    session: SessionConfig(cookie: "SID", pathParameter: "sid", separator: "!"),
                    balance: .leastConnections,
                    nodes: [
                        NodeConfig(name: "app1", address: HostPort(host: "app1.internal", port: 8080), weight: 3,
                                   replicas: ["app2", "app3"]),
                        NodeConfig(name: "app2", address: HostPort(host: "10.0.0.12", port: 8081), weight: 1000,
                                   replicas: ["app1"]),
                        NodeConfig(name: "app3", address: HostPort(host: "fe80::1%eth0", port: 8082)),
                    ]
                ),
                ClusterConfig(
                    name: "api",
                    match: ClusterMatch(host: "api.example.com"),
                    session: SessionConfig(pathParameter: nil),
                    balance: .randomTwo,
                    nodes: [NodeConfig(name: "1", address: HostPort(host: "localhost", port: 80))]
                ),
            ],
            timeouts: TimeoutsConfig(connect: .milliseconds(500), requestHead: .seconds(90),
                                     idle: .milliseconds(1500), upstreamResponse: .seconds(3600)),
            pool: PoolConfig(maxIdlePerNode: 0, idleTimeout: .seconds(19)),
            forwarding: ForwardingConfig(xForwardedFor: .append, via: "edge-1"),
            threads: 4
        )
        #expect(try ConfigLoader.parse(yaml: yaml, file: "lb.yaml") == expected)
    }

    @Test func everyDefaultIsApplied() throws {
        let yaml = """
            listen:
              - address: localhost:0
            clusters:
              - name: shop
                nodes:
                  - name: tomcat1
                    address: 127.0.0.1:8081
            """
        let config = try ConfigLoader.parse(yaml: yaml, file: "lb.yaml")
        #expect(config == LatchConfig(
            listeners: [ListenerConfig(address: HostPort(host: "localhost", port: 0))],
            clusters: [ClusterConfig(name: "shop", nodes: [
                NodeConfig(name: "tomcat1", address: HostPort(host: "127.0.0.1", port: 8081)),
            ])]
        ))
        // Spelled out, so a change of default in the model is a deliberate, visible one.
        let cluster = config.clusters[0]
        #expect(cluster.match.host == nil)
        #expect(cluster.match.pathPrefix == nil)
        #expect(cluster.session.cookie == "JSESSIONID")
        #expect(cluster.session.pathParameter == "jsessionid")
        #expect(cluster.session.separator == ".")
        #expect(cluster.balance == .roundRobin)
        #expect(cluster.nodes[0].weight == 1)
        #expect(cluster.nodes[0].replicas == [])
        #expect(config.timeouts.connect == .seconds(2))
        #expect(config.timeouts.requestHead == .seconds(10))
        #expect(config.timeouts.idle == .seconds(60))
        #expect(config.timeouts.upstreamResponse == .seconds(60))
        #expect(config.pool.maxIdlePerNode == 32)
        #expect(config.pool.idleTimeout == .seconds(15))
        #expect(config.forwarding.xForwardedFor == .replace)
        #expect(config.forwarding.via == "latch")
        #expect(config.threads == nil)
    }

    @Test func emptyBlocksMeanDefaults() throws {
        // What an operator gets after commenting out every line of the optional blocks.
        let yaml = """
            listen:
              - address: 0.0.0.0:8080
            clusters:
              - name: shop
                match:
                session:
                nodes:
                  - { name: tomcat1, address: 10.0.0.11:8080, replicas: }
            timeouts:
            pool:
            forwarding:
            """
        let config = try ConfigLoader.parse(yaml: yaml, file: "lb.yaml")
        #expect(config.clusters[0].match == ClusterMatch())
        #expect(config.clusters[0].session == SessionConfig())
        #expect(config.clusters[0].nodes[0].replicas == [])
        #expect(config.timeouts == TimeoutsConfig())
        #expect(config.pool == PoolConfig())
        #expect(config.forwarding == ForwardingConfig())
    }

    @Test(arguments: ["path_parameter: null", "path_parameter: ~", "path_parameter:", "path_parameter: \"\""])
    func pathParameterCanBeTurnedOff(_ line: String) throws {
        let yaml = """
            listen: [{ address: "0.0.0.0:8080" }]
            clusters:
              - name: shop
                session:
                  \(line)
                nodes: [{ name: tomcat1, address: "10.0.0.11:8080" }]
            """
        #expect(try ConfigLoader.parse(yaml: yaml, file: "lb.yaml").clusters[0].session.pathParameter == nil)
    }

    @Test func anchorsAndAliasesWork() throws {
        // Shared settings are a normal YAML habit; the composed tree already has them resolved.
        let yaml = """
            listen: [{ address: "0.0.0.0:8080" }]
            clusters:
              - name: shop
                session: &weblogic { cookie: JSESSIONID, separator: "!" }
                nodes: [{ name: a, address: "10.0.0.11:8080" }]
              - name: admin
                session: *weblogic
                nodes: [{ name: b, address: "10.0.0.12:8080" }]
            """
        let config = try ConfigLoader.parse(yaml: yaml, file: "lb.yaml")
        #expect(config.clusters[1].session.separator == "!")
    }

    // MARK: Files

    /// The example shipped at the repository root must always load: it is the operator's documentation.
    @Test func exampleFileLoads() throws {
        let root = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("lb.yaml").path
        let config = try ConfigLoader.load(path: path)
        #expect(config.listeners == [ListenerConfig(address: HostPort(host: "0.0.0.0", port: 8080))])
        #expect(config.clusters.map(\.name) == ["shop"])
        let nodes = config.clusters[0].nodes
        #expect(nodes.map(\.name) == ["tomcat1", "tomcat2", "tomcat3"])
        #expect(nodes.map(\.address.description) == ["127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083"])
        #expect(nodes.map(\.replicas) == [["tomcat2"], ["tomcat3"], ["tomcat1"]])
        // Every block in the example shows its defaults.
        #expect(config.clusters[0].match == ClusterMatch())
        #expect(config.clusters[0].session == SessionConfig())
        #expect(config.clusters[0].balance == .roundRobin)
        #expect(nodes.allSatisfy { $0.weight == 1 })
        #expect(config.timeouts == TimeoutsConfig())
        #expect(config.pool == PoolConfig())
        #expect(config.forwarding == ForwardingConfig())
        #expect(config.threads == nil)
    }

    @Test func loadReadsAFileAndNamesItInErrors() throws {
        let path = try Self.temporaryFile(contents: Data("listen: []\nclusters: []\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var expected = ConfigError(file: path, line: 1, column: 9, keyPath: "listen",
                                   message: "no listeners; add at least one, e.g. `- address: 0.0.0.0:8080`")
        // Both errors of the file, not only the first.
        expected.more = [ConfigError(file: path, line: 2, column: 11, keyPath: "clusters", message: "no clusters; add at least one with a `name` and `nodes`")]
        #expect(throws: expected) {
            try ConfigLoader.load(path: path)
        }
    }

    @Test func missingFileGivesTheOSReason() {
        let path = "/nonexistent-latch-dir/lb.yaml"
        #expect(throws: ConfigError(file: path, message: "cannot read the file: No such file or directory")) {
            try ConfigLoader.load(path: path)
        }
    }

    @Test func directoryGivesTheOSReason() {
        let path = FileManager.default.temporaryDirectory.path
        #expect(throws: ConfigError(file: path, message: "cannot read the file: Is a directory")) {
            try ConfigLoader.load(path: path)
        }
    }

    @Test func nonUTF8FileIsRejected() throws {
        let path = try Self.temporaryFile(contents: Data([0x6C, 0x69, 0xFF, 0xFE, 0x0A]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: ConfigError(file: path, message: "the file is not valid UTF-8 text")) {
            try ConfigLoader.load(path: path)
        }
    }

    static func temporaryFile(contents: Data) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("latch-config-test-\(UUID().uuidString).yaml").path
        try contents.write(to: URL(fileURLWithPath: path))
        return path
    }
}
