import Testing

@testable import LatchCore

@Suite struct RouteExplanationTests {
    static let config = LatchConfig(
        listeners: [ListenerConfig(address: HostPort(host: "127.0.0.1", port: 8080))],
        clusters: [
            ClusterConfig(
                name: "admin",
                match: ClusterMatch(host: "admin.example.com"),
                nodes: [NodeConfig(name: "a1", address: HostPort(host: "10.0.0.1", port: 8080))]
            ),
            ClusterConfig(
                name: "shop",
                match: ClusterMatch(pathPrefix: "/shop/"),
                nodes: [
                    NodeConfig(name: "tomcat1", address: HostPort(host: "10.0.0.11", port: 8080)),
                    NodeConfig(name: "tomcat2", address: HostPort(host: "10.0.0.12", port: 8080)),
                ]
            ),
        ]
    )

    @Test func stickyFromThePathParameter() {
        let text = RouteExplanation.explain(
            config: Self.config, host: nil, target: "/shop/cart;jsessionid=X.tomcat2", cookies: ["JSESSIONID=Y.tomcat1"]
        )
        #expect(
            text == """
                cluster: shop
                session: route "tomcat2" found in the path parameter
                node:    tomcat2 10.0.0.12:8080
                reason:  sticky
                if tomcat2 cannot serve: any usable node (failover_any)
                """
        )
    }

    @Test func unknownRouteAndFallbackCluster() {
        let text = RouteExplanation.explain(config: Self.config, host: "www.example.com", target: "/", cookies: ["JSESSIONID=Y.gone"])
        #expect(text.hasPrefix("cluster: admin (no cluster's match fits: the first cluster takes it)\n"))
        #expect(text.contains("session: route \"gone\" names no node of cluster admin"))
        #expect(text.hasSuffix("reason:  unknown_route"))
    }

    @Test func sessionWithoutRoute() {
        let text = RouteExplanation.explain(config: Self.config, host: nil, target: "/shop/", cookies: ["JSESSIONID=NOROUTE"])
        #expect(text.contains("session: session id has no route after \".\""))
        #expect(text.contains("balanced by round_robin"))
        #expect(text.hasSuffix("reason:  no_route"))
    }
}
