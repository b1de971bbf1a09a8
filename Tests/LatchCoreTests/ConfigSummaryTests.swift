import Testing
@testable import LatchCore

struct ConfigSummaryTests {
    static let config = LatchConfig(
        listeners: [
            ListenerConfig(address: HostPort(host: "0.0.0.0", port: 8080)),
            ListenerConfig(address: HostPort(host: "::1", port: 8443)),
        ],
        clusters: [
            ClusterConfig(
                name: "shop",
                match: ClusterMatch(host: "shop.example.com", pathPrefix: "/"),
                nodes: [
                    NodeConfig(name: "tomcat1", address: HostPort(host: "127.0.0.1", port: 8081), replicas: ["tomcat2"]),
                    NodeConfig(name: "tomcat2", address: HostPort(host: "127.0.0.1", port: 8082), weight: 5,
                               replicas: ["tomcat1", "tomcat3"]),
                    NodeConfig(name: "tomcat3", address: HostPort(host: "127.0.0.1", port: 8083)),
                ]
            ),
            ClusterConfig(
                name: "admin",
                session: SessionConfig(cookie: "ADMINSESSION", pathParameter: nil, separator: "!"),
                balance: .leastConnections,
                nodes: [NodeConfig(name: "wl1", address: HostPort(host: "admin.internal", port: 7001))]
            ),
        ],
        timeouts: TimeoutsConfig(connect: .milliseconds(1500)),
        threads: 2
    )

    @Test func rendersEverySection() {
        let expected = """
            Listeners:  0.0.0.0:8080, [::1]:8443
            Timeouts:   connect 1s500ms, request head 10s, idle 1m, upstream response 1m, tunnel 1h
            Pool:       up to 32 idle connections per node and thread, closed after 15s idle
            Limits:     head 32KiB in up to 100 fields, target 8KiB, body 100MiB, 10000 client connections
            Forwarding: X-Forwarded-For replace, Via: 1.1 latch
            Threads:    2
            Admin:      off
            State file: none (runtime state changes are lost on restart)
            Shutdown:   in-flight exchanges get up to 30s to finish
            Access log: logfmt to standard output

            Cluster "shop"
              match:    host shop.example.com, path prefix /
              session:  cookie JSESSIONID, path parameter ;jsessionid= and query jsessionid=, route after the first "."
              balance:  round_robin
              health:   none (passive only)
              passive:  3 failures within 10s eject a node for 10s, 5xx answers not counted
              failover: on_unavailable any, failback immediate, retries 2 within 10s, retry bodies up to 64KiB
              drain:    session idle 30m, maintenance when empty, no deadline
              limits:   200 requests in flight per node, up to 100 more wait 5s
              nodes:
                tomcat1  127.0.0.1:8081  weight 1  replicas tomcat2
                tomcat2  127.0.0.1:8082  weight 5  replicas tomcat1, tomcat3
                tomcat3  127.0.0.1:8083  weight 1  no replicas

            Cluster "admin"
              match:    every request
              session:  cookie ADMINSESSION, no URL routing, route after the first "!"
              balance:  least_connections
              health:   none (passive only)
              passive:  3 failures within 10s eject a node for 10s, 5xx answers not counted
              failover: on_unavailable any, failback immediate, retries 2 within 10s, retry bodies up to 64KiB
              drain:    session idle 30m, maintenance when empty, no deadline
              limits:   200 requests in flight per node, up to 100 more wait 5s
              nodes:
                wl1  admin.internal:7001  weight 1  no replicas
            """
        #expect(ConfigSummary.render(Self.config) == expected)
    }

    @Test func namesEveryClusterNodeAndReplica() {
        let summary = ConfigSummary.render(Self.config)
        for name in ["shop", "admin", "tomcat1", "tomcat2", "tomcat3", "wl1", "replicas tomcat1, tomcat3"] {
            #expect(summary.contains(name))
        }
    }

    @Test func showsRankedRoutesAnnouncedStateAndSlowStart() {
        var config = Self.config
        config.clusters[0].session.routes = .ranked
        config.clusters[0].health = HealthCheckConfig(stateHeader: "X-Node-State")
        config.clusters[0].slowStart = .seconds(30)
        for i in 0..<3 {
            config.clusters[0].nodes[i].health = config.clusters[0].health
            config.clusters[0].nodes[i].slowStart = .seconds(30)
        }
        config.clusters[0].nodes[1].slowStart = nil
        config.clusters[0].nodes[2].health?.stateHeader = nil
        let summary = ConfigSummary.render(config)
        #expect(summary.contains("session:  cookie JSESSIONID, path parameter ;jsessionid= and query jsessionid=, ranked routes after the first \".\", split by it"))
        #expect(summary.contains("(timeout 1s, rise 2, fall 3, expect 200-399, initial down, state announced in X-Node-State)"))
        #expect(summary.contains("  slow start: 30s from 10% of a returning node's weight"))
        #expect(summary.contains("weight 5  replicas tomcat1, tomcat3, slow start off"))
        #expect(summary.contains("weight 1  no replicas  health: state header none"))
    }

    @Test func defaultThreadsReadAsOnePerCore() {
        var config = Self.config
        config.threads = nil
        #expect(ConfigSummary.render(config).contains("Threads:    one per core"))
    }
}
