import LatchCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Runs every node's active checks on their own schedule, never on the request path, and feeds the
/// results to the cluster's hysteresis. Each state change is logged once, with the check's reason.
final class HealthChecker: Sendable {
    private let clusters: [ClusterRuntime]
    private let group: any EventLoopGroup
    private let logger: Logger
    /// Where health and announced-state changes are noted for the status page.
    private let histories: NodeHistories?
    /// The next check of each node (by cluster and node index), so `stop()` can cancel them all.
    private let scheduled = NIOLockedValueBox<(stopped: Bool, next: [NodeKey: Scheduled<Void>])>((false, [:]))

    init(clusters: [ClusterRuntime], group: any EventLoopGroup, logger: Logger, histories: NodeHistories? = nil) {
        self.clusters = clusters
        self.group = group
        self.logger = logger
        self.histories = histories
    }

    /// Starts checking every node that has `health`; the first checks run at once.
    func start() {
        for cluster in clusters {
            for (index, node) in cluster.config.nodes.enumerated() {
                guard let config = node.health else { continue }
                schedule(cluster: cluster, node: index, config: config, in: .zero, on: group.next())
            }
        }
    }

    func stop() {
        let tasks = scheduled.withLockedValue { state in
            state.stopped = true
            defer { state.next = [:] }
            return Array(state.next.values)
        }
        for task in tasks { task.cancel() }
    }

    private func schedule(cluster: ClusterRuntime, node: Int, config: HealthCheckConfig, in delay: TimeAmount, on loop: any EventLoop) {
        scheduled.withLockedValue { state in
            guard !state.stopped else { return }
            state.next[NodeKey(cluster: cluster.index, node: node)] = loop.scheduleTask(in: delay) { [self] in
                self.runCheck(cluster: cluster, node: node, config: config, on: loop)
            }
        }
    }

    private func runCheck(cluster: ClusterRuntime, node: Int, config: HealthCheckConfig, on loop: any EventLoop) {
        let nodeConfig = cluster.config.nodes[node]
        HealthProbe.run(config, address: nodeConfig.address, tls: cluster.tls, on: loop).whenComplete { [self] result in
            let probe = (try? result.get()) ?? HealthProbe.Result(passed: false, detail: "check failed")
            let outcome = cluster.recordCheck(node: node, passed: probe.passed, detail: probe.detail, announcement: probe.announcement)
            let metadata: Logger.Metadata = ["cluster": "\(cluster.config.name)", "node": "\(nodeConfig.name)"]
            if let transition = outcome.transition {
                let check: Logger.Metadata = ["check": "\(probe.detail)"]
                let (from, to) = transition == .wentUp ? ("down", "up") : ("up", "down")
                histories?.note(cluster: cluster.config.name, node: nodeConfig, .health, from: from, to: to)
                if transition == .wentUp {
                    logger.notice("node is up", metadata: metadata.merging(check) { $1 })
                } else {
                    logger.warning("node is down", metadata: metadata.merging(check) { $1 })
                }
            }
            if let (from, to) = outcome.announced {
                let effective = cluster.effectiveStates()[node]
                let before = NodeState.mostRestrictive(cluster.nodeStates()[node], from)
                histories?.note(
                    cluster: cluster.config.name, node: nodeConfig, .announced, from: from.rawValue, to: to.rawValue,
                    effective: effective != before ? effective.rawValue : nil)
                logger.notice(
                    "node announces \(to.rawValue)",
                    metadata: metadata.merging(["was": "\(from.rawValue)", "effective_state": "\(effective.rawValue)"]) { $1 }
                )
            }
            if let text = outcome.unrecognised, let header = config.stateHeader {
                logger.warning(
                    "node announces an unknown state; ignored (expected active, draining or maintenance)",
                    metadata: metadata.merging(["header": "\(header)", "value": "\(text)"]) { $1 }
                )
            }
            schedule(cluster: cluster, node: node, config: config, in: Self.jittered(config), on: loop)
        }
    }

    /// `interval` stretched or shortened by up to `jitter` of itself, at random.
    static func jittered(_ config: HealthCheckConfig) -> TimeAmount {
        let base = Double(TimeAmount(config.interval).nanoseconds)
        let spread = base * config.jitter
        let value = base + (spread > 0 ? Double.random(in: -spread...spread) : 0)
        return .nanoseconds(Int64(max(value, 1_000_000)))
    }
}

/// One check: a TCP connect, or an HTTP request whose status must be in `expect_status`. To a
/// cluster with TLS, both go over TLS: a tcp check passes on a completed handshake (so an expired or
/// wrong certificate fails it), an http check sends its request through the handshake.
enum HealthProbe {
    struct Result: Sendable {
        var passed: Bool
        /// A short reason: `status 200`, `connection refused`…
        var detail: String
        /// What the node announced in `state_header`, when the check has one and got a response.
        var announcement: StateAnnouncement?

        init(_ passed: Bool, _ detail: String, announcement: StateAnnouncement? = nil) {
            self.passed = passed
            self.detail = detail
            self.announcement = announcement
        }

        init(passed: Bool, detail: String) {
            self.init(passed, detail)
        }
    }

    /// Succeeds with whether the check passed, why, and what the node announced.
    static func run(
        _ config: HealthCheckConfig,
        address: HostPort,
        tls: UpstreamTLS? = nil,
        on loop: any EventLoop
    ) -> EventLoopFuture<Result> {
        let promise = loop.makePromise(of: Result.self)
        let timeout = TimeAmount(config.timeout)
        let deadline = loop.scheduleTask(in: timeout) {
            promise.succeed(Result(false, "timed out after \(config.timeout)"))
        }
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        let handshake = channel.eventLoop.makePromise(of: Void.self)
                        try channel.pipeline.syncOperations.addHandlers(tls.makeHandlers(for: address, handshake: handshake))
                        handshake.futureResult.whenComplete { result in
                            switch result {
                            case .success where config.type == .tcp: promise.succeed(Result(true, "TLS handshake completed"))
                            case .success: break
                            case .failure(let error): promise.succeed(Result(false, "TLS handshake failed: \(error)"))
                            }
                        }
                    }
                    if config.type == .http {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ProbeHandler(config: config, address: address, promise: promise))
                    }
                }
            }
        let connected: EventLoopFuture<any Channel>
        if let ip = try? SocketAddress(ipAddress: address.host, port: address.port) {
            connected = bootstrap.connect(to: ip)
        } else {
            connected = bootstrap.connect(host: address.host, port: address.port)
        }
        connected.whenComplete { result in
            switch result {
            case .success(let channel):
                if config.type == .tcp, tls == nil {
                    promise.succeed(Result(true, "connected"))
                    channel.close(promise: nil)
                } else {
                    promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                }
            case .failure(let error):
                promise.succeed(Result(false, describeNetworkError(error)))
            }
        }
        return promise.futureResult.always { _ in deadline.cancel() }
    }

    private final class ProbeHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        let config: HealthCheckConfig
        let address: HostPort
        let promise: EventLoopPromise<Result>

        init(config: HealthCheckConfig, address: HostPort, promise: EventLoopPromise<Result>) {
            self.config = config
            self.address = address
            self.promise = promise
        }

        func channelActive(context: ChannelHandlerContext) {
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: config.host ?? address.description)
            headers.add(name: "User-Agent", value: "latch-health-check")
            headers.add(name: "Connection", value: "close")
            let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: config.method), uri: config.path, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head(let head) = unwrapInboundIn(data) {
                let code = Int(head.status.code)
                // Read from any response, passing or not: a node may fail its check and still say why.
                let announcement = config.stateHeader.map { StateAnnouncement.read(head.headers[$0]) }
                promise.succeed(Result(config.expectStatus.contains(code), "status \(code)", announcement: announcement))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.succeed(Result(false, "connection closed before the response"))
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.succeed(Result(false, "invalid response"))
            context.close(promise: nil)
        }
    }
}
