import ArgumentParser
import Foundation
import LatchCore
import LatchDemo
import LatchProxy
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start three demo application nodes and the balancer in front of them, until Ctrl-C.",
        discussion: """
            Each demo node behaves like a Tomcat with a jvmRoute: a first visit gets
            JSESSIONID=<random>.<node name>, and every page shows the node and a per-session hit count.
            Open the printed URL in a browser and reload, or use: curl -c jar -b jar <url>

            The nodes replicate their sessions in a ring (tomcat1 to tomcat2 to tomcat3
            to tomcat1). POST /demo/crash?seconds=N takes the node holding your session
            down for N seconds: Latch fails the session over to the node's replica, and
            --failback decides where it goes once the node is back, with no sessions,
            like a Tomcat restarted without session persistence.

            POST /demo/announce?state=draining makes the node holding your session announce
            that it drains itself (X-Node-State in its health check, as a deploy hook would):
            it keeps your session and takes no new ones; state=active undoes it.

            The admin listener on 127.0.0.1 (--admin-port) serves the status page: every node's
            state, health, sessions and request counts, with buttons to drain a node, put it in
            maintenance or activate it again.
            """
    )

    @Option(name: .long, help: "Address the balancer listens on.")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "Port the balancer listens on (0 picks a free one).")
    var port: Int = 8080

    @Option(name: .long, help: "Port of the admin listener (status page and API) on 127.0.0.1 (0 picks a free one).")
    var adminPort: Int = 9090

    @Flag(name: .long, help: "Also serve https on --tls-port, with a certificate for localhost from a private CA made for this run; --port then redirects to it.")
    var tls = false

    @Option(name: .long, help: "Port of the https listener with --tls.")
    var tlsPort: Int = 8443

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Where a failed-over session goes once its node is back: to that node (immediate), or it stays on the replica (stay). (default: immediate)",
            valueName: "immediate|stay"
        ),
        transform: DemoCommand.failbackMode
    )
    var failback: FailbackMode = .immediate

    /// A port is 0 to 65535; a larger number must not wrap around to some other port (70000 → 4464).
    func validate() throws {
        for (option, value) in [("--port", port), ("--admin-port", adminPort), ("--tls-port", tlsPort)] where !(0...65535).contains(value) {
            throw ValidationError("\(option) \(value) is not a port: ports are 0 to 65535")
        }
    }

    func run() async throws {
        try LatchLogging.bootstrap()
        let logger = Logger(label: "latch")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: min(System.coreCount, 4))
        let names = ["tomcat1", "tomcat2", "tomcat3"]
        // The same ring `DemoConfig.make` gives the balancer as each node's `replicas`.
        let replication = DemoSessionReplication(ring: names)
        var nodes: [DemoAppServer] = []
        for name in names {
            nodes.append(try await DemoAppServer.start(name: name, host: "127.0.0.1", port: 0, group: group, replication: replication))
        }
        let nodeList = nodes.map { "\($0.name) 127.0.0.1:\($0.port)" }.joined(separator: ", ")
        var config = DemoConfig.make(
            listen: HostPort(host: host, port: port),
            nodes: nodes.map { ($0.name, $0.port) },
            failback: failback
        )
        // A point every 2 s, so the status page's charts move while someone tries the demo.
        config.admin = AdminConfig(address: HostPort(host: "127.0.0.1", port: adminPort), historyInterval: .seconds(2), historySpan: .seconds(600))
        var caFileMade: String?
        if tls {
            do {
                // The plain listener redirects to this port, so a free one is picked here, not by the bind.
                let tlsPort = self.tlsPort == 0 ? try await DemoCommand.freePort(host: host, group: group) : self.tlsPort
                let (files, ca) = try DemoConfig.makeCertificate()
                config.listeners = [
                    ListenerConfig(address: HostPort(host: host, port: port), redirectToHTTPS: tlsPort),
                    ListenerConfig(address: HostPort(host: host, port: tlsPort), tls: TLSListenerConfig(certificates: [files])),
                ]
                caFileMade = ca
            } catch {
                printError("error: cannot set up TLS for the demo: \(error)")
                for node in nodes { try? await node.close() }
                try? await group.shutdownGracefully()
                throw ExitCode.failure
            }
        }
        let server = ProxyServer(config: config, group: group, logger: logger, accessLogger: Logger(label: "latch.access"))
        // The banner is printed when the balancer is bound, so a free admin port is picked here, not by the bind.
        let adminPort: Int
        do {
            adminPort = self.adminPort == 0 ? try await DemoCommand.freePort(host: "127.0.0.1", group: group) : self.adminPort
        } catch {
            printError("error: admin: cannot find a free port: \(error)")
            for node in nodes { try? await node.close() }
            try? await group.shutdownGracefully()
            throw ExitCode.failure
        }
        let admin = try AdminServer(
            server: server,
            config: AdminConfig(address: HostPort(host: "127.0.0.1", port: adminPort)),
            logger: logger
        )
        let caFile = caFileMade
        let service = ProxyService(server: server) { addresses in
            let port = addresses.first?.port ?? 0
            let shownHost = host == "0.0.0.0" ? "127.0.0.1" : host
            if let caFile, let tlsPort = addresses.last?.port {
                print(DemoConfig.tlsBanner(plainPort: port, tlsPort: tlsPort, caFile: caFile, nodeList: nodeList, adminPort: adminPort))
                fflush(nil)
                return
            }
            print(
                """

                Latch demo is running.
                  balancer: http://\(shownHost):\(port)/
                  nodes:    \(nodeList)
                  status:   http://127.0.0.1:\(adminPort)/

                Open the URL in a browser and reload: the hit count rises, always on the same node.
                Or:  curl -c /tmp/latch-jar -b /tmp/latch-jar http://\(shownHost):\(port)/
                Crash your session's node for 20 s (or press the page's button):  curl -X POST -b /tmp/latch-jar 'http://\(shownHost):\(port)/demo/crash?seconds=20'
                Then reload: the node name changes to its replica and the hit count goes on.
                \(DemoConfig.failbackNote(failback))
                Let your session's node drain itself:  curl -X POST -b /tmp/latch-jar 'http://\(shownHost):\(port)/demo/announce?state=draining'
                The status URL shows every node's state and counters, with buttons to drain a node or put it in maintenance.
                Ctrl-C stops it.

                """
            )
            fflush(nil)  // stdout is block-buffered when it is not a terminal; flush every stream
        }
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [.init(service: service), .init(service: AdminService(admin: admin, group: group))],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        var failed = false
        do {
            try await serviceGroup.run()
        } catch {
            printError("error: \(error)")
            failed = true
        }
        for node in nodes { try? await node.close() }
        // The demo's private CA and its key go with it: nothing should trust them afterwards.
        if let caFile = caFileMade { try? FileManager.default.removeItem(at: URL(fileURLWithPath: caFile).deletingLastPathComponent()) }
        try await group.shutdownGracefully()
        // A balancer that could not listen is a failed start, whatever the demo nodes did.
        if failed { throw ExitCode.failure }
    }
}

extension DemoCommand {
    /// A port nothing listens on now, found by binding port 0 and closing again.
    static func freePort(host: String, group: any EventLoopGroup) async throws -> Int {
        let probe = try await ServerBootstrap(group: group).bind(host: host, port: 0).get()
        let port = probe.localAddress?.port ?? 0
        try await probe.close()
        guard port > 0 else { throw ValidationError("no port was assigned") }
        return port
    }

    /// `--failback` takes the same words as `failback:` in lb.yaml.
    static func failbackMode(_ text: String) throws -> FailbackMode {
        guard let mode = FailbackMode(rawValue: text) else {
            // ArgumentParser already names the option and the value; say only what would be right.
            throw ValidationError("use " + FailbackMode.allCases.map(\.rawValue).joined(separator: " or "))
        }
        return mode
    }
}

/// The configuration `latch demo` runs: one cluster of three nodes replicating in a ring.
enum DemoConfig {
    /// Checked every second and taken down after two failures, so a crashed node is seen within about
    /// 2 s even by a client that sends nothing (a refused request ejects it at once anyway); `initial: up`
    /// so the demo answers at once. Faster than production defaults, which is fine on loopback.
    static let health = HealthCheckConfig(
        path: "/health",
        interval: .seconds(1),
        timeout: .milliseconds(500),
        rise: 2,
        fall: 2,
        initial: .up,
        stateHeader: DemoAnnounceRequest.header
    )

    static func make(listen: HostPort, nodes: [(name: String, port: Int)], failback: FailbackMode = .immediate) -> LatchConfig {
        let nodeConfigs = nodes.enumerated().map { index, node in
            NodeConfig(
                name: node.name,
                address: HostPort(host: "127.0.0.1", port: node.port),
                replicas: [nodes[(index + 1) % nodes.count].name],
                // Each node carries its effective checks, as the loader resolves them from the cluster's.
                health: health
            )
        }
        var failover = FailoverConfig(failback: failback)
        // Shows which node served each answer, also when it is a replica serving another node's session.
        failover.nodeHeader = "X-Latch-Node"
        return LatchConfig(
            listeners: [ListenerConfig(address: listen)],
            clusters: [ClusterConfig(name: "demo", nodes: nodeConfigs, health: health, failover: failover)]
        )
    }

    /// A private CA and a certificate for `localhost` signed by it, in a new temporary directory.
    static func makeCertificate() throws -> (CertificateFiles, caFile: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("latch-demo-tls-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let authority = try SelfSignedCertificates(commonName: "Latch demo CA")
        let paths = try authority.issue(names: ["localhost"]).write(to: directory, base: "localhost")
        let caFile = directory + "/ca.pem"
        try authority.caPEM.write(toFile: caFile, atomically: true, encoding: .utf8)
        return (CertificateFiles(certificate: paths.certificate, key: paths.key), caFile)
    }

    static func tlsBanner(plainPort: Int, tlsPort: Int, caFile: String, nodeList: String, adminPort: Int) -> String {
        """

        Latch demo is running, with TLS.
          balancer: https://localhost:\(tlsPort)/  (certificate for localhost, signed by \(caFile))
                    http://localhost:\(plainPort)/ answers 308 to it
          nodes:    \(nodeList)
          status:   http://127.0.0.1:\(adminPort)/

        A browser warns that it does not know the demo's CA; curl trusts it with --cacert:
          curl --cacert \(caFile) -c /tmp/latch-jar -b /tmp/latch-jar https://localhost:\(tlsPort)/
          curl -i http://localhost:\(plainPort)/cart        (the redirect)
        The node sees X-Forwarded-Proto: https. Crash your session's node as in the plain demo:
          curl --cacert \(caFile) -X POST -b /tmp/latch-jar 'https://localhost:\(tlsPort)/demo/crash?seconds=20'
        Ctrl-C stops it.

        """
    }

    /// What the printed instructions say happens once the crashed node is back, in the mode this run uses.
    static func failbackNote(_ mode: FailbackMode) -> String {
        switch mode {
        case .immediate:
            return "When it is back (empty), failback=immediate sends the session there as a new one (hits=1); --failback stay keeps it on the replica."
        case .stay:
            return "When it is back (empty), failback=stay keeps the session on the replica, count going on; --failback immediate would send it back as a new one."
        }
    }
}
