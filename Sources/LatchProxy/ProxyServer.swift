import Foundation
import LatchCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The balancer: one listening socket per `listen` entry, all feeding the same clusters.
public final class ProxyServer: Sendable {
    public let config: LatchConfig
    let runtime: ProxyRuntime
    private let group: any EventLoopGroup
    let logger: Logger
    private let connections = ConnectionRegistry()
    private let healthChecker: HealthChecker
    private let drainWatcher = DrainWatcher()
    private let channels: NIOLockedValueBox<[any Channel]>

    /// - Parameters:
    ///   - logger: operational messages (`latch`).
    ///   - accessLogger: one line per request (`latch.access`).
    /// Node states set at runtime, kept in `state_file`.
    let nodeStates: NodeStateStore

    public init(config: LatchConfig, group: any EventLoopGroup, logger: Logger, accessLogger: Logger) {
        // Runtime state changes from the state file win over lb.yaml for the nodes that still exist.
        let store = NodeStateStore(path: config.stateFile, logger: logger)
        let config = store.kept.applied(to: config)
        self.nodeStates = store
        self.config = config
        self.group = group
        self.logger = logger
        self.runtime = ProxyRuntime(config: config, group: group, logger: logger, accessLogger: accessLogger)
        self.healthChecker = HealthChecker(clusters: runtime.clusters, group: group, logger: logger)
        self.channels = NIOLockedValueBox([])
    }

    /// Binds every listener. Returns the bound addresses in `listen` order (port 0 gets a real port).
    @discardableResult
    public func start() async throws -> [SocketAddress] {
        var bound: [SocketAddress] = []
        for listener in config.listeners {
            let channel: any Channel
            do {
                channel = try await bind(listener)
            } catch {
                // Close what was already bound so a failed start leaves nothing listening.
                for open in channels.withLockedValue({ $0 }) { try? await open.close() }
                throw ListenError(address: listener.address, reason: describeNetworkError(error))
            }
            channels.withLockedValue { $0.append(channel) }
            if let address = channel.localAddress { bound.append(address) }
            logger.info("listening", metadata: ["address": "\(channel.localAddress.map(SocketAddress.display) ?? "?")"])
        }
        healthChecker.start()
        drainWatcher.start(server: self, on: group.next())
        return bound
    }

    public var boundAddresses: [SocketAddress] {
        channels.withLockedValue { $0.compactMap { $0.localAddress } }
    }

    /// Stops accepting, lets in-flight exchanges finish for up to `grace` (keep-alive connections close
    /// after their current response), then closes what is left and the idle upstream connections.
    public func shutdown(grace: Duration = .seconds(30)) async {
        healthChecker.stop()
        drainWatcher.stop()
        let listeners = channels.withLockedValue { channels in
            defer { channels = [] }
            return channels
        }
        for listener in listeners {
            try? await listener.close()
        }
        await connections.quiesce(grace: grace)
        await runtime.closeIdleUpstreams()
    }

    /// Requests in flight per node of cluster `cluster`.
    public func activeRequests(cluster: Int) -> [Int] {
        runtime.clusters[cluster].activeRequests()
    }

    /// Sets a node's state at runtime (kept in the state file, if one is configured).
    /// - Returns: the previous state, or `nil` if there is no such cluster or node.
    @discardableResult
    public func setNodeState(cluster clusterName: String, node nodeName: String, _ state: NodeState) -> NodeState? {
        guard let cluster = runtime.clusters.first(where: { $0.config.name == clusterName }),
            let node = cluster.config.nodes.firstIndex(where: { $0.name == nodeName })
        else { return nil }
        let previous = cluster.setState(node: node, state)
        nodeStates.keep(cluster: clusterName, node: nodeName, state)
        logger.notice(
            "node state changed",
            metadata: ["cluster": "\(clusterName)", "node": "\(nodeName)", "from": "\(previous.rawValue)", "to": "\(state.rawValue)"]
        )
        return previous
    }

    /// Per node of cluster `cluster`: distinct sessions seen within `drain.session_idle`, and when the
    /// last request of an existing session arrived.
    public func sessions(cluster: Int) -> [(count: Int?, lastSeen: Date?)] {
        runtime.clusters[cluster].sessionReport()
    }

    /// The operator's state of each node of cluster `cluster`.
    public func nodeStates(cluster: Int) -> [NodeState] {
        runtime.clusters[cluster].nodeStates()
    }

    /// Counters of cluster `cluster` since start.
    public func stats(cluster: Int) -> ClusterStats {
        runtime.clusters[cluster].stats()
    }

    /// Whether each node of cluster `cluster` may take requests now (health checks and passive detection).
    public func usableNodes(cluster: Int) -> [Bool] {
        runtime.clusters[cluster].usableNodes()
    }

    /// Upstream TCP connections opened since start (a reused keep-alive connection is not counted again).
    public func upstreamConnectionsOpened() async -> Int {
        await runtime.upstreamConnectionsOpened()
    }

    private func bind(_ listener: ListenerConfig) async throws -> any Channel {
        let runtime = self.runtime
        let connections = self.connections
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard connections.add(channel) else { return }
                    let sync = channel.pipeline.syncOperations
                    let deadlines = ClientDeadlineHandler(
                        requestHead: runtime.timeouts.requestHead,
                        idle: runtime.timeouts.idle
                    )
                    try sync.addHandler(deadlines)
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try sync.addHandler(ProxyHandler(runtime: runtime, deadlines: deadlines))
                }
            }
        return try await bootstrap.bind(host: listener.address.host, port: listener.address.port).get()
    }
}

/// A listener could not be opened: `cannot listen on 0.0.0.0:8080: Address already in use (errno: 98)`.
public struct ListenError: Error, CustomStringConvertible {
    public var address: HostPort
    public var reason: String
    public var description: String { "cannot listen on \(address): \(reason)" }
}

/// Runs a ``ProxyServer`` under swift-service-lifecycle: binds on start, drains on graceful shutdown.
public struct ProxyService: Service {
    public let server: ProxyServer
    private let onStarted: @Sendable ([SocketAddress]) -> Void

    public init(server: ProxyServer, onStarted: @escaping @Sendable ([SocketAddress]) -> Void = { _ in }) {
        self.server = server
        self.onStarted = onStarted
    }

    public func run() async throws {
        let addresses = try await server.start()
        onStarted(addresses)
        // Sleep until SIGTERM/SIGINT (or the group's shutdown), then drain.
        try? await gracefulShutdown()
        await server.shutdown(grace: server.config.shutdownGrace)
    }
}

extension SocketAddress {
    /// `127.0.0.1:8080` / `[::1]:8080`, as operators write addresses.
    public static func display(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
