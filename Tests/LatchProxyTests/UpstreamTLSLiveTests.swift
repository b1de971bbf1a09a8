import Foundation
import LatchCore
import NIOCore
import NIOHTTP1
import Testing

/// TLS from Latch to the nodes: nodes serving HTTPS with certificates of a test CA.
@Suite("TLS to the nodes", .timeLimit(.minutes(1)))
struct UpstreamTLSLiveTests {
    @Test("nodes verified against the cluster's CA serve sticky requests; server_name is what the certificate must name")
    func verifiedAgainstCA() async throws {
        let pki = try TestPKI()
        let ca = try pki.caFile()
        try await withLatch(backendTLS: try pki.serverContext(names: ["app.internal"]), configure: { config in
            config.clusters[0].tls = UpstreamTLSConfig(caFile: ca, serverName: "app.internal")
        }) { h in
            for _ in 0..<3 {
                let answer = try await h.get(cookie: "JSESSIONID=A.tomcat2")
                #expect(answer.status == .ok)
                #expect(answer.node == "tomcat2")
            }
            // Keep-alive to the node works over TLS too: one connection served the three.
            #expect(h.backend("tomcat2").accepted == 1)
            #expect(await h.server.upstreamConnectionsOpened() == 1)
        }
    }

    @Test("without server_name, a node given by host name is asked for that name and must carry it")
    func nodeHostNameIsTheServerName() async throws {
        let pki = try TestPKI()
        let ca = try pki.caFile()
        try await withLatch(nodes: ["tomcat1"], backendTLS: try pki.serverContext(names: ["localhost"]), configure: { config in
            config.clusters[0].tls = UpstreamTLSConfig(caFile: ca)
            config.clusters[0].nodes[0].address.host = "localhost"
        }) { h in
            let answer = try await h.get()
            #expect(answer.status == .ok)
            #expect(answer.node == "tomcat1")
        }
    }

    @Test("a node whose certificate does not verify is a failed connect: the request goes elsewhere")
    func untrustedNodeIsAFailedConnect() async throws {
        let pki = try TestPKI()
        let other = try TestPKI()
        try await withLatch(nodes: ["tomcat1", "tomcat2"], backendTLS: try other.serverContext(names: ["app.internal"]), configure: { config in
            config.clusters[0].tls = UpstreamTLSConfig(caFile: try! pki.caFile(), serverName: "app.internal")
            config.clusters[0].failover.onUnavailable = .reject
        }) { h in
            let answer = try await h.get(cookie: "JSESSIONID=A.tomcat1")
            // tomcat1 fails its handshake; with `reject` and no replica the session gets 503, and no
            // request reached a node in plain text.
            #expect(answer.status == .serviceUnavailable || answer.status == .badGateway, "\(answer)")
            #expect(h.backends.allSatisfy { $0.requests.isEmpty })
        }
    }

    @Test("the wrong name in the node's certificate fails verification too")
    func wrongNameFails() async throws {
        let pki = try TestPKI()
        let ca = try pki.caFile()
        try await withLatch(nodes: ["tomcat1"], backendTLS: try pki.serverContext(names: ["other.internal"]), configure: { config in
            config.clusters[0].tls = UpstreamTLSConfig(caFile: ca, serverName: "app.internal")
        }) { h in
            let answer = try await h.get()
            #expect(answer.status == .badGateway || answer.status == .serviceUnavailable, "\(answer)")
            #expect(h.backend("tomcat1").requests.isEmpty)
        }
    }

    @Test("insecure: true talks TLS to any certificate")
    func insecureAcceptsAnyCertificate() async throws {
        let unknown = try TestPKI()
        try await withLatch(nodes: ["tomcat1"], backendTLS: try unknown.serverContext(names: ["whatever"]), configure: { config in
            config.clusters[0].tls = UpstreamTLSConfig(insecure: true)
        }) { h in
            let answer = try await h.get()
            #expect(answer.status == .ok)
            #expect(h.backend("tomcat1").requests.count == 1)
        }
    }

    @Test("health checks go over TLS: a node with a good certificate comes up, one with a bad one stays down")
    func healthChecksOverTLS() async throws {
        let pki = try TestPKI()
        let ca = try pki.caFile()
        for (type, nodeName, good) in [(HealthCheckConfig.Kind.http, "tomcat1", true), (.tcp, "tomcat1", true), (.http, "tomcat1", false), (.tcp, "tomcat1", false)] {
            let serving = good ? pki : try TestPKI()
            try await withLatch(nodes: [nodeName], backendTLS: try serving.serverContext(names: ["app.internal"]), configure: { config in
                config.clusters[0].tls = UpstreamTLSConfig(caFile: ca, serverName: "app.internal")
                let health = HealthCheckConfig(type: type, interval: .milliseconds(100), timeout: .milliseconds(500), rise: 1, fall: 1, initial: .down)
                config.clusters[0].health = health
                config.clusters[0].nodes[0].health = health
                config.clusters[0].passive.failures = 0
            }) { h in
                // Up within 3 s with a good certificate; a bad one must keep it down that long.
                let usable = try await eventually(within: .seconds(3)) { h.server.usableNodes(cluster: 0) == [true] }
                #expect(usable == good, "\(type) check, \(good ? "good" : "bad") certificate")
            }
        }
    }
}
