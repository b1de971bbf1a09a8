import LatchCore
import Logging
import NIOCore

/// What every client connection of one loaded configuration shares: the routing table, the clusters'
/// live state, the per-loop upstream pools and the loggers.
final class ProxyRuntime: Sendable {
    let config: LatchConfig
    let table: RoutingTable
    let clusters: [ClusterRuntime]
    let logger: Logger
    let accessLog: AccessLog
    /// Shared across reloads, like the access log.
    let metrics: LatchMetrics
    let timeouts: Timeouts
    /// One pool per event loop, each touched only from its own loop.
    private let pools: [ObjectIdentifier: NIOLoopBoundBox<UpstreamPool>]

    struct Timeouts: Sendable {
        var connect: TimeAmount
        var requestHead: TimeAmount
        var idle: TimeAmount
        var upstreamResponse: TimeAmount
    }

    /// - Parameter previous: the runtime a reload replaces; its clusters' kept nodes carry their state over.
    init(
        config: LatchConfig,
        group: any EventLoopGroup,
        logger: Logger,
        accessLog: AccessLog,
        metrics: LatchMetrics,
        previous: ProxyRuntime? = nil
    ) {
        self.metrics = metrics
        self.config = config
        self.table = RoutingTable(config: config)
        self.clusters = config.clusters.enumerated().map { index, cluster in
            ClusterRuntime(
                index: index,
                config: cluster,
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
        for loop in group.makeIterator() {
            // Built here, then only ever touched from `loop`.
            let pool = UpstreamPool(
                eventLoop: loop,
                config: config.pool,
                connectTimeout: self.timeouts.connect,
                logger: logger
            )
            pools[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeBoxSendingValue(pool, eventLoop: loop)
        }
        self.pools = pools
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
