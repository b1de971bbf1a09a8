/// The whole of `lb.yaml` (schema v1) as plain values.
///
/// Every type here is a `Sendable` value so a loaded configuration can be handed to any event loop and
/// swapped atomically on reload. Defaults live in the initialisers so that code building a config by
/// hand (tests, `latch demo`) gets the same values as a file that omits the key.
public struct LatchConfig: Sendable, Equatable {
    public var listeners: [ListenerConfig]
    public var clusters: [ClusterConfig]
    public var timeouts: TimeoutsConfig
    public var pool: PoolConfig
    public var forwarding: ForwardingConfig
    /// Event-loop threads; `nil` means one per core.
    public var threads: Int?
    /// The admin listener; `nil`: off.
    public var admin: AdminConfig?
    /// Where runtime node-state changes are kept so they survive a restart; `nil`: not kept.
    public var stateFile: String?
    /// On SIGTERM/SIGINT, how long in-flight exchanges may take to finish before connections are closed.
    public var shutdownGrace: Duration
    public var accessLog: AccessLogConfig

    public init(
        listeners: [ListenerConfig],
        clusters: [ClusterConfig],
        timeouts: TimeoutsConfig = .init(),
        pool: PoolConfig = .init(),
        forwarding: ForwardingConfig = .init(),
        threads: Int? = nil,
        admin: AdminConfig? = nil,
        stateFile: String? = nil,
        shutdownGrace: Duration = .seconds(30),
        accessLog: AccessLogConfig = .init()
    ) {
        self.listeners = listeners
        self.clusters = clusters
        self.timeouts = timeouts
        self.pool = pool
        self.forwarding = forwarding
        self.threads = threads
        self.admin = admin
        self.stateFile = stateFile
        self.shutdownGrace = shutdownGrace
        self.accessLog = accessLog
    }
}

/// A `host:port` pair as written in the file: `0.0.0.0:8080`, `[::1]:8080`, `app1.internal:8080`.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

public struct ListenerConfig: Sendable, Equatable {
    public var address: HostPort

    public init(address: HostPort) {
        self.address = address
    }
}

public struct ClusterConfig: Sendable, Equatable {
    public var name: String
    public var match: ClusterMatch
    public var session: SessionConfig
    public var balance: BalanceAlgorithm
    public var nodes: [NodeConfig]
    /// Active checks for every node of the cluster (each node may override keys); `nil`: none.
    public var health: HealthCheckConfig?
    public var passive: PassiveHealthConfig
    public var failover: FailoverConfig
    public var drain: DrainConfig

    public init(
        name: String,
        match: ClusterMatch = .init(),
        session: SessionConfig = .init(),
        balance: BalanceAlgorithm = .roundRobin,
        nodes: [NodeConfig],
        health: HealthCheckConfig? = nil,
        passive: PassiveHealthConfig = .init(),
        failover: FailoverConfig = .init(),
        drain: DrainConfig = .init()
    ) {
        self.name = name
        self.match = match
        self.session = session
        self.balance = balance
        self.nodes = nodes
        self.health = health
        self.passive = passive
        self.failover = failover
        self.drain = drain
    }
}

/// Which requests a cluster takes. Both fields optional; an empty match takes everything.
public struct ClusterMatch: Sendable, Equatable {
    /// Exact host name (case-insensitive, port ignored), or `*.example.com` for any subdomain.
    public var host: String?
    /// The request path must start with this (case-sensitive, as paths are).
    public var pathPrefix: String?

    public init(host: String? = nil, pathPrefix: String? = nil) {
        self.host = host
        self.pathPrefix = pathPrefix
    }
}

/// Where the session id is found and how its route is cut out of it.
public struct SessionConfig: Sendable, Equatable {
    /// Cookie name, case-sensitive as in every anchor (httpd, mod_jk, HAProxy).
    public var cookie: String
    /// Name of the `;name=ID.route` path parameter and of the `name=ID.route` query parameter;
    /// `nil` turns URL routing off.
    public var pathParameter: String?
    /// The route is the text after the first occurrence of this (Tomcat uses `.`, WebLogic `!`).
    public var separator: String

    public init(cookie: String = "JSESSIONID", pathParameter: String? = "jsessionid", separator: String = ".") {
        self.cookie = cookie
        self.pathParameter = pathParameter
        self.separator = separator
    }
}

public enum BalanceAlgorithm: String, Sendable, Equatable, CaseIterable {
    /// nginx's smooth weighted round robin: weights respected, picks interleaved.
    case roundRobin = "round_robin"
    /// Fewest active requests relative to weight.
    case leastConnections = "least_connections"
    /// Power of two random choices over active requests relative to weight.
    case randomTwo = "random_two"
}

public struct NodeConfig: Sendable, Equatable {
    /// The route suffix the application server puts on its session ids (Tomcat's `jvmRoute`).
    public var name: String
    public var address: HostPort
    public var weight: Int
    /// Nodes holding this node's session copies, in order of preference (used by failover).
    public var replicas: [String]
    /// This node's effective active checks: the cluster's `health` with the node's own `health` keys
    /// laid over it (the loader resolves this); `nil`: not actively checked.
    public var health: HealthCheckConfig?
    /// The state lb.yaml gives the node (a runtime change kept in the state file takes precedence).
    public var state: NodeState

    public init(
        name: String,
        address: HostPort,
        weight: Int = 1,
        replicas: [String] = [],
        health: HealthCheckConfig? = nil,
        state: NodeState = .active
    ) {
        self.name = name
        self.address = address
        self.weight = weight
        self.replicas = replicas
        self.health = health
        self.state = state
    }
}

public struct TimeoutsConfig: Sendable, Equatable {
    /// Upstream TCP connect.
    public var connect: Duration
    /// Whole request head, from the first byte (or from the end of the previous response) to the blank line.
    public var requestHead: Duration
    /// Client keep-alive idle between requests.
    public var idle: Duration
    /// Waiting for the upstream: for the response head, and between reads of its body.
    public var upstreamResponse: Duration

    public init(
        connect: Duration = .seconds(2),
        requestHead: Duration = .seconds(10),
        idle: Duration = .seconds(60),
        upstreamResponse: Duration = .seconds(60)
    ) {
        self.connect = connect
        self.requestHead = requestHead
        self.idle = idle
        self.upstreamResponse = upstreamResponse
    }
}

/// Keep-alive connections to the nodes.
public struct PoolConfig: Sendable, Equatable {
    /// Idle connections kept per node and per event-loop thread; more are closed when released.
    public var maxIdlePerNode: Int
    /// An idle pooled connection is closed after this long. Keep it below the application server's
    /// own keep-alive timeout (Tomcat: 20 s) so Latch, not the server, closes first.
    public var idleTimeout: Duration

    public init(maxIdlePerNode: Int = 32, idleTimeout: Duration = .seconds(15)) {
        self.maxIdlePerNode = maxIdlePerNode
        self.idleTimeout = idleTimeout
    }
}

public enum ForwardedForMode: String, Sendable, Equatable, CaseIterable {
    /// Drop what the client sent and write only the peer address: nothing a client says is trusted.
    case replace
    /// Append the peer address to the client's list (use only behind another trusted proxy).
    case append
}

/// Headers Latch adds to requests it forwards.
public struct ForwardingConfig: Sendable, Equatable {
    public var xForwardedFor: ForwardedForMode
    /// Pseudonym written in `Via: 1.1 <via>` (RFC 9110 §7.6.3 requires a proxy to send Via).
    public var via: String

    public init(xForwardedFor: ForwardedForMode = .replace, via: String = "latch") {
        self.xForwardedFor = xForwardedFor
        self.via = via
    }
}
