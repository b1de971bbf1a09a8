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
            """
    )

    @Option(name: .long, help: "Address the balancer listens on.")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "Port the balancer listens on (0 picks a free one).")
    var port: Int = 8080

    func run() async throws {
        LatchLogging.bootstrap()
        let logger = Logger(label: "latch")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: min(System.coreCount, 4))
        let names = ["tomcat1", "tomcat2", "tomcat3"]
        var nodes: [DemoAppServer] = []
        for name in names {
            nodes.append(try await DemoAppServer.start(name: name, host: "127.0.0.1", port: 0, group: group))
        }
        let nodeList = nodes.map { "\($0.name) 127.0.0.1:\($0.port)" }.joined(separator: ", ")
        let config = DemoConfig.make(listen: HostPort(host: host, port: port), nodes: nodes.map { ($0.name, $0.port) })
        let server = ProxyServer(config: config, group: group, logger: logger, accessLogger: Logger(label: "latch.access"))
        let service = ProxyService(server: server) { addresses in
            let port = addresses.first?.port ?? 0
            let shownHost = host == "0.0.0.0" ? "127.0.0.1" : host
            print(
                """

                Latch demo is running.
                  balancer: http://\(shownHost):\(port)/
                  nodes:    \(nodeList)

                Open the URL in a browser and reload: the hit count rises, always on the same node.
                Or:  curl -c /tmp/latch-jar -b /tmp/latch-jar http://\(shownHost):\(port)/
                Ctrl-C stops it.

                """
            )
            fflush(nil)  // stdout is block-buffered when it is not a terminal; flush every stream
        }
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [.init(service: service)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await serviceGroup.run()
        } catch {
            printError("error: \(error)")
        }
        for node in nodes { try? await node.close() }
        try await group.shutdownGracefully()
    }
}

/// The configuration `latch demo` runs: one cluster of three nodes replicating in a ring.
enum DemoConfig {
    static func make(listen: HostPort, nodes: [(name: String, port: Int)]) -> LatchConfig {
        let nodeConfigs = nodes.enumerated().map { index, node in
            NodeConfig(
                name: node.name,
                address: HostPort(host: "127.0.0.1", port: node.port),
                replicas: [nodes[(index + 1) % nodes.count].name]
            )
        }
        return LatchConfig(
            listeners: [ListenerConfig(address: listen)],
            clusters: [ClusterConfig(name: "demo", nodes: nodeConfigs)]
        )
    }
}
