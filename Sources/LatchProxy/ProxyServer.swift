import Foundation
import LatchCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// The balancer: one listening socket per `listen` entry, all feeding the same clusters.
public final class ProxyServer: Sendable {
    /// The configuration in force (it changes on reload).
    public var config: LatchConfig { runtime.config }
    /// The runtime in force; each new exchange reads it, so a reload applies to open connections too.
    var runtime: ProxyRuntime { holder.current }
    let holder: RuntimeHolder
    private let accessLog: AccessLog
    let metrics = LatchMetrics()
    private let group: any EventLoopGroup
    let logger: Logger
    private let connections = ConnectionRegistry()
    private let healthChecker: NIOLockedValueBox<HealthChecker>
    private let drainWatcher = DrainWatcher()
    /// Each node's recent past, for the status page and `GET /api/history`.
    let histories: NodeHistories
    /// One reload at a time, and none once shutdown began: two interleaved reloads could leave the
    /// health checker watching a runtime that is no longer in force.
    private let lifecycle = NIOLockedValueBox<(reloading: Bool, shuttingDown: Bool, handedOver: Bool)>((false, false, false))
    /// The bound listeners, each with its slot (what a new connection on it gets) and its socket's
    /// descriptor (what a take-over hands on).
    private let channels: NIOLockedValueBox<[Listener]>

    private struct Listener {
        var slot: ListenerSlot
        var channel: any Channel
        var descriptor: NIOBSDSocket.Handle
    }

    /// - Parameters:
    ///   - logger: operational messages (`latch`).
    ///   - accessLogger: one line per request (`latch.access`).
    /// Node states set at runtime, kept in `state_file`.
    let nodeStates: NodeStateStore
    /// Why the configuration given to `init` cannot run (a TLS file that does not load); thrown by `start()`.
    private let startupError: ConfigError?

    public init(config: LatchConfig, group: any EventLoopGroup, logger: Logger, accessLogger: Logger) {
        // Runtime state changes from the state file win over lb.yaml for the nodes that still exist.
        let store = NodeStateStore(path: config.stateFile, logger: logger)
        let config = store.kept.applied(to: config)
        self.nodeStates = store
        self.group = group
        self.logger = logger
        let writer: AccessLogWriter
        do {
            writer = try AccessLogWriter(path: config.accessLog.path)
        } catch {
            // `latch check` verified the directory; if the file still cannot be opened, log to stdout
            // rather than not at all, and say so.
            logger.error("\(error); access lines go to standard output")
            writer = try! AccessLogWriter(path: nil)
        }
        let accessLog = AccessLog(format: config.accessLog.format, writer: writer, gate: accessLogger)
        self.accessLog = accessLog
        // TLS to the nodes is loaded here, as the runtime needs it; a file that does not load is
        // reported by `start()`, before anything is bound (`latch run` has checked it already).
        var upstreamTLS: [UpstreamTLS?] = []
        do {
            upstreamTLS = try UpstreamTLS.load(clustersOf: config)
            self.startupError = nil
        } catch {
            self.startupError = error
        }
        let runtime = ProxyRuntime(
            config: config, group: group, logger: logger, accessLog: accessLog, metrics: metrics, upstreamTLS: upstreamTLS)
        self.holder = RuntimeHolder(runtime)
        let histories = NodeHistories(config.admin)
        self.histories = histories
        self.healthChecker = NIOLockedValueBox(HealthChecker(clusters: runtime.clusters, group: group, logger: logger, histories: histories))
        self.channels = NIOLockedValueBox([])
    }

    /// Binds every listener. Returns the bound addresses in `listen` order (port 0 gets a real port).
    /// Throws a located ``ConfigError`` when a listener's certificates do not load, before binding any.
    /// - Parameter inherited: per `listen` entry, a listening socket received from the Latch this one
    ///   takes over (``TakeOverAssignment``), served as it is instead of binding the address again.
    ///   Those are not accepted on until ``resumeAccepting()``: the old process still is.
    @discardableResult
    public func start(inheriting inherited: [NIOBSDSocket.Handle?] = []) async throws -> [SocketAddress] {
        if let startupError { throw startupError }
        let materials = try config.listeners.map(TLSMaterial.load)
        for warning in materials.compactMap({ $0 }).flatMap({ $0.expiryWarnings() }) { logger.warning("\(warning)") }
        var bound: [SocketAddress] = []
        for (index, (listener, tls)) in zip(config.listeners, materials).enumerated() {
            let slot = ListenerSlot(config: listener, tls: tls, logger: logger)
            let channel: any Channel
            let descriptor: NIOBSDSocket.Handle
            do {
                (channel, descriptor) = try await bind(slot, inherited: index < inherited.count ? inherited[index] : nil)
            } catch {
                // Close what was already bound so a failed start leaves nothing listening.
                slot.stop()
                for open in channels.withLockedValue({ $0 }) {
                    open.slot.stop()
                    try? await open.channel.close()
                }
                throw ListenError(address: listener.address, reason: describeNetworkError(error))
            }
            channels.withLockedValue { $0.append(Listener(slot: slot, channel: channel, descriptor: descriptor)) }
            if let address = channel.localAddress { bound.append(address) }
            let taken = index < inherited.count && inherited[index] != nil
            logger.info(taken ? "listening (socket taken over)" : "listening", metadata: ["address": "\(channel.localAddress.map(SocketAddress.display) ?? "?")"])
        }
        healthChecker.withLockedValue { $0 }.start()
        drainWatcher.start(server: self, on: group.next())
        histories.start(server: self, on: group.next())
        return bound
    }

    /// Every TLS listener's certificates in force, for `/metrics`.
    func certificatesInForce() -> [(listener: String, name: String, notAfter: Date)] {
        channels.withLockedValue { $0.map(\.slot) }.flatMap { slot in
            slot.certificates.map { (slot.address.description, $0.name, $0.notAfter) }
        }
    }

    public var boundAddresses: [SocketAddress] {
        channels.withLockedValue { $0.compactMap { $0.channel.localAddress } }
    }

    /// Copies of the listening sockets (`dup`, the caller closes them), by the address their
    /// `listen` entry gives, for a take-over; `nil` once shutdown has begun. Copied under the lock
    /// that closing a listener takes, so each is the listener it claims to be.
    func listeningSocketCopies() -> [(address: HostPort, descriptor: NIOBSDSocket.Handle, kind: TakeOverMessage.Socket.Kind)]? {
        guard !lifecycle.withLockedValue({ $0.shuttingDown }) else { return nil }
        return channels.withLockedValue { listeners in
            listeners.compactMap { listener in
                let copy = fcntl(listener.descriptor, F_DUPFD_CLOEXEC, 0)
                return copy < 0 ? nil : (listener.slot.address, copy, .listen)
            }
        }
    }

    /// Accepts on the sockets taken over (the old process has paused accepting on them), or again
    /// after a take-over was abandoned.
    public func resumeAccepting() async {
        await setAccepting(true)
    }

    /// Stops taking connections from the sockets without closing them: they queue in the kernel
    /// while a new process gets ready to accept them (or this one resumes).
    func pauseAccepting() async {
        await setAccepting(false)
    }

    private func setAccepting(_ accepting: Bool) async {
        for listener in channels.withLockedValue({ $0 }) {
            // Through the listener's AcceptControl, which also pauses after a failed accept; awaited
            // on the loop, so the take-over's RELEASED goes out only once this process has stopped
            // accepting (two processes would accept on one socket).
            await AcceptControl.set(accepting, on: listener.channel)
        }
    }

    /// This process has handed its sockets to a new Latch: its shutdown is not the service's, so it
    /// does not tell systemd it is stopping (the new process is the main one from now on).
    func handOver() {
        lifecycle.withLockedValue { $0.handedOver = true }
    }

    var isHandedOver: Bool { lifecycle.withLockedValue { $0.handedOver } }

    /// Stops accepting: the listeners close here (the sockets stay open in the process that took
    /// them over, whose accept queue they are). Connections already accepted carry on.
    func stopAccepting() async {
        let listeners = channels.withLockedValue { channels in
            defer { channels = [] }
            return channels
        }
        for listener in listeners {
            listener.slot.stop()
            try? await listener.channel.close()
        }
    }

    /// Stops accepting, lets in-flight exchanges finish for up to `grace` (keep-alive connections close
    /// after their current response), then closes what is left and the idle upstream connections.
    public func shutdown(grace: Duration = .seconds(30)) async {
        let inFlight = runtime.clusters.reduce(0) { $0 + $1.activeRequests().reduce(0, +) }
        logger.notice(
            "stopping: no new connections; exchanges in flight may finish within shutdown_grace",
            metadata: ["exchanges_in_flight": "\(inFlight)", "client_connections": "\(connections.count)", "grace": "\(grace)"])
        lifecycle.withLockedValue { $0.shuttingDown = true }
        healthChecker.withLockedValue { $0 }.stop()
        drainWatcher.stop()
        histories.stop()
        await stopAccepting()
        holder.beginQuiescing()
        let cut = await connections.quiesce(grace: grace)
        await runtime.closeIdleUpstreams()
        logger.notice("stopped", metadata: ["connections_cut_at_grace": "\(cut)"])
    }

    /// Requests in flight per node of cluster `cluster`.
    public func activeRequests(cluster: Int) -> [Int] {
        runtime.clusters[cluster].activeRequests()
    }

    /// Requests waiting for a slot (`max_connections`) per node of cluster `cluster`.
    public func queuedRequests(cluster: Int) -> [Int] {
        runtime.clusters[cluster].queuedRequests()
    }

    /// Reopens the access log file (after logrotate moved it); SIGUSR1 calls this.
    public func reopenAccessLog() {
        do {
            try accessLog.writer.reopen()
        } catch {
            logger.error("cannot reopen the access log: \(error); still writing to the old file")
        }
    }

    /// Sets a node's state at runtime (kept in the state file, if one is configured).
    /// - Returns: the previous state, or `nil` if there is no such cluster or node.
    @discardableResult
    public func setNodeState(
        cluster clusterName: String,
        node nodeName: String,
        _ state: NodeState,
        ifCurrently expected: NodeState? = nil
    ) -> NodeState? {
        guard let cluster = runtime.clusters.first(where: { $0.config.name == clusterName }),
            let node = cluster.config.nodes.firstIndex(where: { $0.name == nodeName })
        else { return nil }
        let effectiveBefore = cluster.effectiveStates()[node]
        guard let previous = cluster.setState(node: node, state, ifCurrently: expected) else { return nil }
        nodeStates.keep(cluster: clusterName, node: nodeName, state)
        if previous != state {
            let effective = cluster.effectiveStates()[node]
            histories.note(
                cluster: clusterName, node: cluster.config.nodes[node], .state, from: previous.rawValue, to: state.rawValue,
                effective: effective != effectiveBefore ? effective.rawValue : nil)
        }
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

    /// Applies a new configuration without dropping anything: listeners are added and removed, every
    /// new exchange (on new and already open connections) uses the new clusters, exchanges in flight
    /// finish on the old ones, and nodes kept with the same name and address keep their health, state,
    /// sessions and counters. Fails, changing nothing, when a new listener cannot be bound.
    /// TLS listeners kept at their address take the new certificates (read again even when their
    /// paths are unchanged: SIGHUP after a renewal is how operators expect to apply it); a file that
    /// does not load refuses the reload with a located ``ConfigError``.
    /// - Returns: warnings for changes that need a restart (`threads`, `admin`).
    @discardableResult
    public func reload(_ newConfig: LatchConfig) async throws -> [String] {
        let refusal = lifecycle.withLockedValue { state -> ReloadRefused? in
            if state.shuttingDown { return .shuttingDown }
            if state.reloading { return .inProgress }
            state.reloading = true
            return nil
        }
        if let refusal { throw refusal }
        defer { lifecycle.withLockedValue { $0.reloading = false } }
        let newConfig = nodeStates.kept.applied(to: newConfig)
        let old = runtime
        var warnings: [String] = []
        if newConfig.threads != old.config.threads { warnings.append("`threads` changes only on restart") }
        if newConfig.admin != old.config.admin { warnings.append("`admin` changes only on restart") }
        if newConfig.accessLog != old.config.accessLog { warnings.append("`access_log` changes only on restart") }

        // Certificates, then listeners: if one does not load or cannot be bound, the reload is
        // refused before anything changed.
        let materials = try newConfig.listeners.map(TLSMaterial.load)
        let upstreamTLS = try UpstreamTLS.load(clustersOf: newConfig)
        for warning in materials.compactMap({ $0 }).flatMap({ $0.expiryWarnings() }) { warnings.append(warning) }
        let wanted = Set(newConfig.listeners.map(\.address))
        let kept = channels.withLockedValue { $0.map(\.slot) }
        var added: [Listener] = []
        for (listener, tls) in zip(newConfig.listeners, materials) where !kept.contains(where: { $0.address == listener.address }) {
            let slot = ListenerSlot(config: listener, tls: tls, logger: logger)
            do {
                let (channel, descriptor) = try await bind(slot, inherited: nil)
                added.append(Listener(slot: slot, channel: channel, descriptor: descriptor))
                logger.info("listening", metadata: ["address": "\(channel.localAddress.map(SocketAddress.display) ?? "?")"])
            } catch {
                slot.stop()
                for new in added {
                    new.slot.stop()
                    try? await new.channel.close()
                }
                throw ListenError(address: listener.address, reason: describeNetworkError(error))
            }
        }
        for (listener, tls) in zip(newConfig.listeners, materials) {
            kept.first { $0.address == listener.address }?.replace(config: listener, tls: tls)
        }
        let runtime = ProxyRuntime(
            config: newConfig, group: group, logger: logger, accessLog: accessLog, metrics: metrics,
            upstreamTLS: upstreamTLS, previous: old)
        holder.replace(with: runtime)
        metrics.retain(clusters: newConfig.clusters, listeners: newConfig.listeners)
        let checker = HealthChecker(clusters: runtime.clusters, group: group, logger: logger, histories: histories)
        let oldChecker = healthChecker.withLockedValue { value in
            defer { value = checker }
            return value
        }
        oldChecker.stop()
        checker.start()

        let removed = channels.withLockedValue { channels in
            let gone = channels.filter { !wanted.contains($0.slot.address) }
            channels.removeAll { !wanted.contains($0.slot.address) }
            channels.append(contentsOf: added)
            return gone
        }
        // Closing a listener stops accepting; connections it accepted stay open and are served.
        for listener in removed {
            listener.slot.stop()
            try? await listener.channel.close()
        }
        await old.closeIdleUpstreams()
        logger.notice(
            "configuration reloaded",
            metadata: ["clusters": "\(newConfig.clusters.map(\.name))", "listeners": "\(newConfig.listeners.map(\.address.description))"]
        )
        return warnings
    }

    /// Serves `slot` on `inherited`, or on a socket bound now (``ListeningSocket``).
    private func bind(_ slot: ListenerSlot, inherited: NIOBSDSocket.Handle?) async throws -> (any Channel, NIOBSDSocket.Handle) {
        let metrics = self.metrics
        let holder = self.holder
        let connections = self.connections
        let logger = self.logger
        let bootstrap = ServerBootstrap(group: group)
            // Two processes accepting on one socket is a race SwiftNIO's debug builds assert against
            // (a readable listener whose accept finds nothing): a socket taken over waits.
            .serverChannelOption(.autoRead, value: inherited == nil)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        AcceptControl(paused: inherited != nil, listener: slot.address.description, logger: logger))
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // The buffer a client connection reads into stays with the connection while it idles:
            // 1 KiB to start (nginx's `client_header_buffer_size`), not NIO's 2 KiB, halves that
            // cost per idle keep-alive connection; it grows as soon as reads fill it (uploads).
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1024, maximum: 65536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let runtime = holder.current
                    let sync = channel.pipeline.syncOperations
                    let (mode, proxyProtocol) = slot.setting
                    switch connections.add(channel, limit: runtime.config.limits.maxClientConnections) {
                    case .overLimit:
                        runtime.noteRefusedConnection()
                        // A TLS client cannot read a 503 before a handshake, and a handshake is work an
                        // overloaded balancer should not take on: that connection is just closed.
                        if case .tls = mode {
                            try sync.addHandler(EarlyAnswer.overloaded(answers: false))
                        } else {
                            try sync.addHandler(EarlyAnswer.overloaded())
                        }
                        return
                    case .accepted:
                        break
                    }
                    let listener = slot.address.description
                    let serve: ProxyHeaderReader.Proceed = { channel, client in
                        switch mode {
                        case .tls(let context):
                            try ClientPipeline.tls(channel, context: context, holder: holder, client: client) {
                                metrics.tlsHandshakeFailed(listener: listener)
                            }
                        case .plain(let redirect):
                            try ClientPipeline.http1(channel, holder: holder, scheme: "http", redirectToHTTPS: redirect, client: client)
                        }
                    }
                    let peer = channel.remoteAddress
                    guard let proxyProtocol, proxyProtocol.expectsHeader(from: peer?.ipAddress) else {
                        return try serve(channel, nil)
                    }
                    // The header comes before anything else, TLS included (proxy-protocol.txt §2).
                    try sync.addHandler(
                        ProxyHeaderReader(timeout: runtime.timeouts.requestHead, proceed: serve) { reason, detail in
                            holder.current.noteProxyHeaderRefused(
                                listener: listener, client: peer.map(SocketAddress.display) ?? "-", reason: reason, detail: detail)
                        })
                }
            }
        let descriptor = try inherited ?? ListeningSocket.open(slot.address)
        return (try await ListeningSocket.serve(bootstrap, on: descriptor), descriptor)
    }
}

/// Why a reload did not run.
public enum ReloadRefused: Error, CustomStringConvertible {
    case inProgress
    case shuttingDown

    public var description: String {
        switch self {
        case .inProgress: "another reload is in progress"
        case .shuttingDown: "Latch is shutting down"
        }
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
    private let inherited: [NIOBSDSocket.Handle?]
    private let onStarted: @Sendable ([SocketAddress]) -> Void

    /// - Parameter inheriting: per `listen` entry, the socket taken over from the Latch this one replaces.
    public init(server: ProxyServer, inheriting inherited: [NIOBSDSocket.Handle?] = [], onStarted: @escaping @Sendable ([SocketAddress]) -> Void = { _ in }) {
        self.server = server
        self.inherited = inherited
        self.onStarted = onStarted
    }

    public func run() async throws {
        let addresses = try await server.start(inheriting: inherited)
        onStarted(addresses)
        // A process taking over says READY=1 once the old one has let go (``ControlService``).
        if inherited.isEmpty { SystemdNotify.send("READY=1\nSTATUS=serving") }
        // Sleep until SIGTERM/SIGINT (or the group's shutdown), then drain.
        try? await gracefulShutdown()
        if !server.isHandedOver { SystemdNotify.send("STOPPING=1\nSTATUS=finishing the exchanges in flight") }
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
