import LatchCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Identifies a node within one loaded configuration.
struct NodeKey: Hashable {
    var cluster: Int
    var node: Int
}

/// A leased or idle keep-alive connection to one node.
final class UpstreamConnection {
    let channel: any Channel
    let handler: UpstreamHandler
    let key: NodeKey
    /// How many exchanges this connection has carried; a connection with `uses > 0` may have been
    /// closed by the node while idle, which matters for retrying.
    var uses = 0
    /// When the connection was last given back to the pool.
    fileprivate var idleSince = NIODeadline.uptimeNanoseconds(0)

    init(channel: any Channel, handler: UpstreamHandler, key: NodeKey) {
        self.channel = channel
        self.handler = handler
        self.key = key
    }
}

/// Keep-alive connections to the nodes, one pool per event loop.
///
/// Each client connection leases upstream connections only from its own loop's pool, so a request is
/// served by one thread end to end and the pool needs no lock (HAProxy and nginx keep per-thread
/// idle lists for the same reason). Idle connections are reused newest-first, capped per node, and
/// closed after `idleTimeout` by one reaper timer per pool, so giving a connection back costs no
/// timer of its own.
final class UpstreamPool {
    let eventLoop: any EventLoop
    private let config: PoolConfig
    private let connectTimeout: TimeAmount
    /// Per cluster and node (by their positions in the configuration), oldest first: a connection
    /// is appended when given back and leased from the end. Arrays, not a dictionary keyed by node:
    /// a lease and a release each hashed the key.
    private var idle: [[[UpstreamConnection]]] = []
    private var reaper: Scheduled<Void>?
    private let logger: Logger
    /// Connections opened so far, for tests and status.
    private(set) var opened = 0
    /// Set by ``closeIdle()`` when this pool's runtime is replaced (reload) or Latch shuts down: a
    /// connection given back afterwards, by an exchange that was in flight, is closed, not kept. Kept,
    /// it would outlive the pool and its reaper, and leak until the node closed it.
    private var retired = false

    /// This loop's position among the group's loops: the shard of every ``RequestSeries`` it counts in.
    let shard: Int
    /// The loop's write buffers, for request and response heads.
    let buffers = LoopBuffers()

    init(eventLoop: any EventLoop, shard: Int = 0, config: PoolConfig, connectTimeout: TimeAmount, logger: Logger) {
        self.eventLoop = eventLoop
        self.shard = shard
        self.config = config
        self.connectTimeout = connectTimeout
        self.logger = logger
    }

    /// An idle connection to the node if one is open (unless `forceNew`), else a new one.
    /// - Parameter tls: the cluster's TLS to its nodes; a new connection is handed out only once its
    ///   handshake is done, so a failed handshake is a failed connect (retried, counted by passive
    ///   detection), never a request lost on a half-open connection.
    func lease(
        _ key: NodeKey,
        address: HostPort,
        tls: UpstreamTLS? = nil,
        forceNew: Bool = false,
        _ completion: @escaping (Result<UpstreamConnection, UpstreamFailure>) -> Void
    ) {
        if !forceNew, let connection = takeIdle(key) {
            completion(.success(connection))
            return
        }
        connect(key, address: address, tls: tls, completion)
    }

    /// The newest idle connection to the node that is still open, if any.
    func takeIdle(_ key: NodeKey) -> UpstreamConnection? {
        eventLoop.assertInEventLoop()
        guard key.cluster < idle.count, key.node < idle[key.cluster].count else { return nil }
        // `popLast()` on the list in place: no copy of the array per lease.
        while let connection = idle[key.cluster][key.node].popLast() {
            if connection.channel.isActive {
                connection.uses += 1
                return connection
            }
        }
        return nil
    }

    /// Gives a connection back after an exchange. Only a connection whose request and response both
    /// ended cleanly, with keep-alive on both sides, may be reused; anything else is closed.
    /// `now`: the loop's time, when the caller has read it for the event at hand.
    func release(_ connection: UpstreamConnection, reusable: Bool, at now: NIODeadline? = nil) {
        eventLoop.assertInEventLoop()
        connection.handler.detach()
        let key = connection.key
        while idle.count <= key.cluster { idle.append([]) }
        while idle[key.cluster].count <= key.node { idle[key.cluster].append([]) }
        guard reusable, !retired, connection.channel.isActive, !connection.handler.sentExtraBytes,
            idle[key.cluster][key.node].count < config.maxIdlePerNode
        else {
            connection.channel.close(promise: nil)
            return
        }
        connection.idleSince = now ?? eventLoop.now
        idle[key.cluster][key.node].append(connection)
        if reaper == nil { scheduleReaper(at: connection.idleSince + TimeAmount(config.idleTimeout)) }
    }

    private func scheduleReaper(at when: NIODeadline) {
        reaper = eventLoop.assumeIsolated().scheduleTask(deadline: when) { [weak self] in
            self?.reap()
        }
    }

    /// Closes the connections idle for `idleTimeout` (a prefix of each list) and waits for the next.
    private func reap() {
        reaper = nil
        let timeout = TimeAmount(config.idleTimeout)
        let now = eventLoop.now
        var next: NIODeadline?
        for cluster in idle.indices {
            for node in idle[cluster].indices {
                let expired = idle[cluster][node].prefix { $0.idleSince + timeout <= now }
                idle[cluster][node].removeFirst(expired.count)
                for connection in expired { connection.channel.close(promise: nil) }
                if let oldest = idle[cluster][node].first { next = min(next ?? oldest.idleSince, oldest.idleSince) }
            }
        }
        if let next { scheduleReaper(at: next + timeout) }
    }

    /// Closes every idle connection and keeps none from now on (shutdown, reload).
    func closeIdle() {
        retired = true
        reaper?.cancel()
        reaper = nil
        let all = idle.flatMap { $0.flatMap { $0 } }
        idle = []
        for connection in all {
            connection.channel.close(promise: nil)
        }
    }

    var idleCount: Int { idle.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } } }

    /// Forgets a connection that closed while idle (the closed one: a live connection at a reused
    /// address is not it).
    private func remove(_ id: ObjectIdentifier) {
        for cluster in idle.indices {
            for node in idle[cluster].indices {
                if let i = idle[cluster][node].firstIndex(where: { ObjectIdentifier($0) == id && !$0.channel.isActive }) {
                    idle[cluster][node].remove(at: i)
                    return
                }
            }
        }
    }

    private func connect(
        _ key: NodeKey,
        address: HostPort,
        tls: UpstreamTLS?,
        _ completion: @escaping (Result<UpstreamConnection, UpstreamFailure>) -> Void
    ) {
        opened += 1
        let handshake = tls.map { _ in eventLoop.makePromise(of: Void.self) }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls, let handshake {
                        try sync.addHandlers(tls.makeHandlers(for: address, handshake: handshake))
                    }
                    // One handler: it writes requests as bytes (HTTPWire) and parses responses itself.
                    try sync.addHandler(UpstreamHandler())
                }
            }
        let connected: EventLoopFuture<any Channel>
        if let ip = try? SocketAddress(ipAddress: address.host, port: address.port) {
            connected = bootstrap.connect(to: ip)
        } else {
            connected = bootstrap.connect(host: address.host, port: address.port)
        }
        let future = handshake.map { Self.afterHandshake(connected, $0, timeout: connectTimeout) } ?? connected
        future.assumeIsolated().whenComplete { [weak self] result in
            switch result {
            case .success(let channel):
                do {
                    let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
                    handler.tables = self?.buffers
                    let connection = UpstreamConnection(channel: channel, handler: handler, key: key)
                    // Identified, not referenced weakly: a weak reference would put every retain of
                    // the connection on the slow path.
                    let id = ObjectIdentifier(connection)
                    handler.onClose = { [weak self] in
                        self?.remove(id)
                    }
                    completion(.success(connection))
                } catch {
                    channel.close(promise: nil)
                    completion(.failure(.connectFailed("pipeline setup failed: \(error)")))
                }
            case .failure(let error):
                self?.logger.debug("upstream connect failed", metadata: ["address": "\(address)", "error": "\(error)"])
                if let channelError = error as? ChannelError, case .connectTimeout = channelError {
                    completion(.failure(.connectTimedOut))
                } else if let failed = error as? TLSHandshakeFailed {
                    completion(.failure(.connectFailed(failed.description)))
                } else if isConnectionRefused(error) {
                    completion(.failure(.connectRefused))
                } else {
                    completion(.failure(.connectFailed(describeNetworkError(error))))
                }
            }
        }
    }
}

extension UpstreamPool {
    /// `connected`, once the TLS handshake on it has completed within `timeout` (the connect timeout
    /// again: HAProxy and nginx count the handshake as part of connecting too).
    fileprivate static func afterHandshake(
        _ connected: EventLoopFuture<any Channel>,
        _ handshake: EventLoopPromise<Void>,
        timeout: TimeAmount
    ) -> EventLoopFuture<any Channel> {
        // A failed TCP connect never runs the handshake: its promise must still be completed.
        connected.whenFailure { handshake.fail($0) }
        return connected.flatMap { channel in
            let timer = channel.eventLoop.scheduleTask(in: timeout) {
                handshake.fail(TLSHandshakeFailed(reason: "no handshake within \(timeout)"))
            }
            return handshake.futureResult.map {
                timer.cancel()
                return channel
            }.flatMapErrorThrowing { error in
                timer.cancel()
                channel.close(promise: nil)
                throw (error as? TLSHandshakeFailed) ?? TLSHandshakeFailed(reason: "\(error)")
            }
        }
    }
}

/// A node's TLS handshake failed: a connect failure as far as retries and passive detection go.
struct TLSHandshakeFailed: Error, CustomStringConvertible {
    var reason: String
    var description: String { "TLS handshake failed: \(reason)" }
}

extension TimeAmount {
    init(_ duration: Duration) {
        self = .nanoseconds(duration.wholeNanoseconds)
    }
}
