// Microbenchmarks of the pure per-request routing code in LatchCore, called exactly as the SwiftNIO
// shell calls it for each request: `RoutingTable.routeWithSessionID` (ProxyHandler.startExchange),
// `NodeChooser.choose` with the closures of `ClusterRuntime.place`, and the owner-cookie check of
// `StayState` (`failback: stay`). Each sample is 1000 requests (scalingFactor .kilo); results are
// shown per request. `Scripts/microbench` fails when any of these allocates: Thresholds/*.json hold
// 0 for mallocCountTotal and mallocFreeDelta at p90 (the raw count per 1000 requests), and the
// tolerance below is 0.
//
// Not measured: ARC retain/release counts need the benchmark package's RuntimeInterposer trait on
// Linux with Swift 6.3, whose ordo-one/swift-runtime-interposer package is not available here; and
// `instructions` reports nothing on this machine's perf setup.
import Benchmark
import LatchCore

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .mallocFreeDelta, .memoryLeakedBytes],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(1),
        maxIterations: 100_000,
        // The only stored static thresholds are the malloc counts (0); no tolerance over them.
        // Time is not checked: this machine is shared and timing thresholds would flake.
        thresholds: [
            .mallocCountTotal: BenchmarkThresholds(absolute: [.p90: 0]),
            .mallocFreeDelta: BenchmarkThresholds(absolute: [.p90: 0]),
        ]
    )

    // MARK: - Route extraction (RoutingTable.routeWithSessionID, once per request)

    let table = Fixture.table
    let noCookies: [String] = []

    Benchmark("route-cookie-sticky") { benchmark in
        let cookies = ["JSESSIONID=326257DA6DB76F8D2E38F2C4540D1DEA.tomcat1; other=x"]
        let host: Substring? = "shop.example.com"[...]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(table.routeWithSessionID(host: host, target: "/cart/checkout?step=2", cookieHeaders: cookies))
        }
    }

    Benchmark("route-cookie-among-many-port-in-host") { benchmark in
        let cookies = [
            "_ga=GA1.2.1234567890.1700000000; theme=dark; lang=en-GB",
            "cart=7; JSESSIONID=\"0A1B2C3D4E5F60718293A4B5C6D7E8F9.tomcat3\"; consent=yes",
        ]
        let host: Substring? = "Shop.Example.COM:8443"[...]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(table.routeWithSessionID(host: host, target: "/products/42?ref=home", cookieHeaders: cookies))
        }
    }

    Benchmark("route-path-parameter") { benchmark in
        let host: Substring? = "shop.example.com"[...]
        let target = "/cart/add;jsessionid=326257DA6DB76F8D2E38F2C4540D1DEA.tomcat2?item=42&qty=1"
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(table.routeWithSessionID(host: host, target: target, cookieHeaders: noCookies))
        }
    }

    Benchmark("route-no-session-cookie") { benchmark in
        let cookies = ["theme=dark; lang=en"]
        let host: Substring? = "shop.example.com"[...]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(table.routeWithSessionID(host: host, target: "/index.html", cookieHeaders: cookies))
        }
    }

    Benchmark("route-ranked-cookie") { benchmark in
        let cookies = ["JSESSIONID=326257DA6DB76F8D2E38F2C4540D1DEA.wildfly2.gone.wildfly3.wildfly1; other=x"]
        let host: Substring? = "wildfly.example.com"[...]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(table.routeWithSessionID(host: host, target: "/app/cart", cookieHeaders: cookies))
        }
    }

    Benchmark("route-no-cookie-second-cluster") { benchmark in
        let host: Substring? = "admin.example.com"[...]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(table.routeWithSessionID(host: host, target: "/admin/users?page=3", cookieHeaders: noCookies))
        }
    }

    // MARK: - Node choice (NodeChooser.choose as ClusterRuntime.place calls it)

    Benchmark("choose-sticky-node-healthy") { benchmark in
        var cluster = Fixture.ClusterState()
        let lookup = RouteLookup.known(node: 1, source: .cookie)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(cluster.place(lookup))
        }
    }

    Benchmark("choose-new-session-round-robin") { benchmark in
        var cluster = Fixture.ClusterState(algorithm: .roundRobin)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(cluster.place(.none))
        }
    }

    Benchmark("choose-new-session-least-connections") { benchmark in
        var cluster = Fixture.ClusterState(algorithm: .leastConnections)
        cluster.active = [3, 1, 1, 2]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(cluster.place(.none))
        }
    }

    Benchmark("choose-new-session-random-two") { benchmark in
        var cluster = Fixture.ClusterState(algorithm: .randomTwo)
        cluster.active = [3, 1, 1, 2]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(cluster.place(.none))
        }
    }

    Benchmark("choose-failover-to-replica") { benchmark in
        var cluster = Fixture.ClusterState()
        cluster.up[1] = false
        let lookup = RouteLookup.known(node: 1, source: .cookie)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(cluster.place(lookup))
        }
    }

    Benchmark("choose-failover-any-retry-excluding-one") { benchmark in
        var cluster = Fixture.ClusterState()
        cluster.up[1] = false
        cluster.up[2] = false
        cluster.draining[3] = true
        let lookup = RouteLookup.known(node: 1, source: .cookie)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(cluster.place(lookup, excluding: [0]))
        }
    }

    Benchmark("choose-ranked-failover") { benchmark in
        var cluster = Fixture.ClusterState()
        cluster.up[1] = false
        cluster.up[2] = false
        let lookup = RouteLookup.known(node: 1, source: .cookie, later: RankedRoutes([2, 0]))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(cluster.place(lookup))
        }
    }

    Benchmark("choose-new-session-slow-start") { benchmark in
        var cluster = Fixture.ClusterState(algorithm: .roundRobin)
        cluster.share = [1000, 1000, 250, 1000]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(cluster.place(.none))
        }
    }

    // MARK: - A whole request: route, then choose

    Benchmark("request-route-and-choose-sticky-cookie") { benchmark in
        var cluster = Fixture.ClusterState()
        let cookies = ["JSESSIONID=326257DA6DB76F8D2E38F2C4540D1DEA.tomcat1; other=x"]
        let host: Substring? = "shop.example.com"[...]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let route = table.routeWithSessionID(host: host, target: "/cart/checkout?step=2", cookieHeaders: cookies)
            blackHole(route.sessionID)
            blackHole(cluster.place(route.lookup))
        }
    }

    // MARK: - failback: stay (StayState's owner-cookie check, on sticky requests of such clusters)

    Benchmark("stay-owner-cookie-check") { benchmark in
        let sessionID = "326257DA6DB76F8D2E38F2C4540D1DEA.tomcat1"
        let cookies = [
            "JSESSIONID=\(sessionID); \(Fixture.ownerCookie)=\(OwnerCookie.value(node: "tomcat2", sessionID: sessionID))"
        ]
        let routed = table.routeWithSessionID(host: "shop.example.com"[...], target: "/", cookieHeaders: cookies)
        let id = routed.sessionID!
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let value = OwnerCookie.find(Fixture.ownerCookie, in: cookies)
            blackHole(value.flatMap { OwnerCookie.owner(in: $0, sessionID: id) })
        }
    }
}

enum Fixture {
    static let ownerCookie = "LATCH_NODE"

    static let yaml = """
        listen:
          - address: 127.0.0.1:8080
        clusters:
          - name: admin
            match: { host: admin.example.com, path_prefix: /admin/ }
            nodes:
              - { name: admin1, address: 127.0.0.1:9081 }
              - { name: admin2, address: 127.0.0.1:9082 }
          - name: shop
            match: { host: shop.example.com }
            failback: stay
            failback_cookie: \(ownerCookie)
            nodes:
              - { name: tomcat1, address: 127.0.0.1:8081, replicas: [tomcat2] }
              - { name: tomcat2, address: 127.0.0.1:8082, replicas: [tomcat3, tomcat1] }
              - { name: tomcat3, address: 127.0.0.1:8083, replicas: [tomcat1] }
              - { name: tomcat4, address: 127.0.0.1:8084, weight: 2 }
          - name: wildfly
            match: { host: wildfly.example.com }
            session: { routes: ranked }
            nodes:
              - { name: wildfly1, address: 127.0.0.1:8091 }
              - { name: wildfly2, address: 127.0.0.1:8092 }
              - { name: wildfly3, address: 127.0.0.1:8093 }
        """

    static let table: RoutingTable = {
        do {
            return RoutingTable(config: try ConfigLoader.parse(yaml: yaml, file: "bench.yaml"))
        } catch {
            fatalError("benchmark config: \(error)")
        }
    }()

    /// The per-node view ClusterRuntime keeps under its lock, and its `place` call of NodeChooser.
    struct ClusterState {
        var up = [true, true, true, true]
        var draining = [false, false, false, false]
        var full = [false, false, false, false]
        var active = [0, 0, 0, 0]
        /// Slow start's share of each node's weight, per mille (ClusterRuntime reads it from SlowStart).
        var share = [1000, 1000, 1000, 1000]
        let replicas: [[Int]] = [[1], [2, 0], [0], []]
        var balancer: Balancer
        var random = SplitMix64()  // what ClusterRuntime uses

        init(algorithm: BalanceAlgorithm = .roundRobin) {
            balancer = Balancer(algorithm: algorithm, weights: [1, 1, 1, 2])
        }

        mutating func place(_ lookup: RouteLookup, owner: Int? = nil, excluding excluded: [Int] = []) -> NodeDecision {
            let read = (up: up, draining: draining, full: full, active: active, share: share)
            let replicas = self.replicas
            let skippingFull = true
            return NodeChooser.choose(
                lookup,
                owner: owner,
                usable: { read.up[$0] },
                takesNewSessions: { !read.draining[$0] && !(skippingFull && read.full[$0]) },
                replicas: { replicas[$0] },
                onUnavailable: .any,
                excluded: { excluded.contains($0) },
                balancer: &balancer,
                active: { read.active[$0] },
                share: { read.share[$0] },
                using: &random
            )
        }
    }
}
