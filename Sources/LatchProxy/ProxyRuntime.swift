import LatchCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// What every client connection of one loaded configuration shares: the routing table, the clusters'
/// live state, the per-loop upstream pools and the loggers.
final class ProxyRuntime: Sendable {
    let config: LatchConfig
    /// `forwarding.via`, with its HTTP/1.1 entry written once.
    let via: ViaPseudonym
    /// `Via` and `X-Forwarded-*` toward the nodes, their usual lines written once.
    let forwarded: ForwardedFields
    let table: RoutingTable
    let clusters: [ClusterRuntime]
    let logger: Logger
    let accessLog: AccessLog
    /// Shared across reloads, like the access log.
    let metrics: LatchMetrics
    let timeouts: Timeouts
    /// A flood of refused connections logs one line per ten seconds.
    private let refusalLog = LogThrottle()
    /// Likewise for connections closed for their PROXY protocol header.
    private let proxyHeaderLog = LogThrottle()
    /// One pool per event loop, each touched only from its own loop.
    private let pools: [ObjectIdentifier: NIOLoopBoundBox<UpstreamPool>]

    struct Timeouts: Sendable {
        var connect: TimeAmount
        var requestHead: TimeAmount
        var idle: TimeAmount
        var upstreamResponse: TimeAmount
    }

    /// - Parameters:
    ///   - upstreamTLS: each cluster's TLS to its nodes, by index (loaded, so its errors were reported).
    ///   - previous: the runtime a reload replaces; its clusters' kept nodes carry their state over.
    init(
        config: LatchConfig,
        group: any EventLoopGroup,
        logger: Logger,
        accessLog: AccessLog,
        metrics: LatchMetrics,
        upstreamTLS: [UpstreamTLS?] = [],
        previous: ProxyRuntime? = nil
    ) {
        self.metrics = metrics
        self.config = config
        self.via = ViaPseudonym(config.forwarding.via)
        self.forwarded = ForwardedFields(forwarding: config.forwarding, via: via)
        let loops = Array(group.makeIterator())
        self.table = RoutingTable(config: config)
        self.clusters = config.clusters.enumerated().map { index, cluster in
            ClusterRuntime(
                index: index,
                config: cluster,
                metrics: metrics,
                shards: loops.count,
                tls: upstreamTLS.indices.contains(index) ? upstreamTLS[index] : nil,
                carryingOver: previous?.clusters.first { $0.config.name == cluster.name }
            )
        }
        self.logger = logger
        self.accessLog = accessLog
        let t = config.timeouts
        self.timeouts = Timeouts(
            connect: TimeAmount(t.connect),
            requestHead: TimeAmount(t.requestHead),
            idle: TimeAmount(t.idle),
            upstreamResponse: TimeAmount(t.upstreamResponse)
        )
        var pools: [ObjectIdentifier: NIOLoopBoundBox<UpstreamPool>] = [:]
        for (shard, loop) in loops.enumerated() {
            // Built here, then only ever touched from `loop`.
            let pool = UpstreamPool(
                eventLoop: loop,
                shard: shard,
                config: config.pool,
                connectTimeout: self.timeouts.connect,
                logger: logger
            )
            pools[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeBoxSendingValue(pool, eventLoop: loop)
        }
        self.pools = pools
    }

    /// A client connection was refused at `limits.max_client_connections`: counted, and logged at most
    /// once per ten seconds so a connection flood does not also flood the log.
    func noteRefusedConnection() {
        metrics.clientConnectionRefused()
        if refusalLog.allows() {
            logger.warning(
                "client connection refused: max_client_connections reached (answered 503)",
                metadata: ["max_client_connections": "\(config.limits.maxClientConnections)"]
            )
        }
    }

    /// A connection on a `proxy_protocol` listener was closed for its header: counted by listener and
    /// reason, and logged at most once per ten seconds (a port scan must not flood the log).
    func noteProxyHeaderRefused(listener: String, client: String, reason: ProxyHeaderReader.Refusal, detail: String) {
        metrics.proxyProtocolRefused(listener: listener, reason: reason.rawValue)
        if proxyHeaderLog.allows() {
            logger.warning(
                "connection closed: \(detail) (further ones within 10s are only counted, in latch_proxy_protocol_refusals_total)",
                metadata: ["listener": "\(listener)", "client": "\(client)", "reason": "\(reason.rawValue)"]
            )
        }
    }

    /// The pool of the calling event loop.
    func pool(for loop: any EventLoop) -> UpstreamPool {
        guard let pool = pools[ObjectIdentifier(loop)] else {
            preconditionFailure("event loop \(loop) does not belong to the proxy's group")
        }
        return pool.value
    }

    /// Upstream connections opened so far, summed over all loops (tests check reuse with it).
    func upstreamConnectionsOpened() async -> Int {
        var total = 0
        for bound in pools.values {
            total += try! await bound.eventLoop.submit { bound.value.opened }.get()
        }
        return total
    }

    func closeIdleUpstreams() async {
        for bound in pools.values {
            try? await bound.eventLoop.submit { bound.value.closeIdle() }.get()
        }
    }
}

extension LimitsConfig {
    /// The request-head limits the parser enforces while parsing (it answers nothing itself:
    /// ``ProxyHandler`` turns the overflow into 431).
    var parserLimits: HTTP1RequestParser.Limits {
        HTTP1RequestParser.Limits(maxHead: maxRequestHead, maxFields: maxHeaders)
    }
}
