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
    public var limits: LimitsConfig
    /// Where a new Latch process asks this one for its listening sockets (`latch run --take-over`).
    public var controlSocket: ControlSocketConfig = .standard

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
        accessLog: AccessLogConfig = .init(),
        limits: LimitsConfig = .init()
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
        self.limits = limits
    }
}

/// `control_socket`: the unix socket on which a new Latch process (`latch run --take-over`, same
/// lb.yaml) asks the running one for its listening sockets.
public enum ControlSocketConfig: Sendable, Equatable {
    /// Not in the file: ``standardPath`` when its directory exists (the packaged unit's
    /// `RuntimeDirectory=latch`), none otherwise.
    case standard
    case path(String)
    /// `control_socket: false`.
    case off

    public static let standardPath = "/run/latch/latch.sock"
    /// `sun_path` holds 108 bytes with the terminating NUL (unix(7)).
    public static let longestPath = 107

    /// The path to use, if any; `directoryExists` answers for ``standard``.
    public func path(directoryExists: (String) -> Bool) -> String? {
        switch self {
        case .standard: directoryExists("/run/latch") ? Self.standardPath : nil
        case .path(let path): path
        case .off: nil
        }
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
    /// TLS termination; `nil`: plain HTTP.
    public var tls: TLSListenerConfig?
    /// A plain listener that answers every request with a redirect to `https://<host>:<port>` (the
    /// port left out when it is 443) instead of proxying; `nil`: proxies.
    public var redirectToHTTPS: Int?
    /// Which peers start their connections with a PROXY protocol header; `nil`: none do.
    public var proxyProtocol: ProxyProtocolPolicy?

    public init(address: HostPort, tls: TLSListenerConfig? = nil, redirectToHTTPS: Int? = nil, proxyProtocol: ProxyProtocolPolicy? = nil) {
        self.address = address
        self.tls = tls
        self.redirectToHTTPS = redirectToHTTPS
        self.proxyProtocol = proxyProtocol
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
    /// The queue of every node; each node's own `maxConnections` is in ``NodeConfig``.
    public var limits: NodeLimitsConfig
    /// TLS to the nodes; `nil`: plain HTTP.
    public var tls: UpstreamTLSConfig?
    /// How long a node coming back takes to reach its whole weight (``SlowStart``); each node may set
    /// its own. `nil`: off.
    public var slowStart: Duration?

    public init(
        name: String,
        match: ClusterMatch = .init(),
        session: SessionConfig = .init(),
        balance: BalanceAlgorithm = .roundRobin,
        nodes: [NodeConfig],
        health: HealthCheckConfig? = nil,
        passive: PassiveHealthConfig = .init(),
        failover: FailoverConfig = .init(),
        drain: DrainConfig = .init(),
        limits: NodeLimitsConfig = .init(),
        tls: UpstreamTLSConfig? = nil,
        slowStart: Duration? = nil
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
        self.limits = limits
        self.tls = tls
        self.slowStart = slowStart
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
    /// Whether that text is one route or a ranked list of them (WildFly's ranked affinity).
    public var routes: RouteMode

    public init(
        cookie: String = "JSESSIONID",
        pathParameter: String? = "jsessionid",
        separator: String = ".",
        routes: RouteMode = .single
    ) {
        self.cookie = cookie
        self.pathParameter = pathParameter
        self.separator = separator
        self.routes = routes
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
    /// Requests in flight to this node at once; 0: no limit. The loader fills in the cluster's
    /// `limits.max_connections` unless the node sets its own.
    public var maxConnections: Int
    /// This node's effective slow start: its own `slow_start`, else its cluster's (the loader resolves
    /// this); `nil`: off.
    public var slowStart: Duration?

    public init(
        name: String,
        address: HostPort,
        weight: Int = 1,
        replicas: [String] = [],
        health: HealthCheckConfig? = nil,
        state: NodeState = .active,
        maxConnections: Int = NodeLimitsConfig().maxConnections,
        slowStart: Duration? = nil
    ) {
        self.name = name
        self.address = address
        self.weight = weight
        self.replicas = replicas
        self.health = health
        self.state = state
        self.maxConnections = maxConnections
        self.slowStart = slowStart
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
    /// An upgraded connection (WebSocket) with no byte in either direction for this long is closed
    /// (HAProxy's `timeout tunnel`). Applications that keep sockets open send pings well within it.
    public var tunnel: Duration

    public init(
        connect: Duration = .seconds(2),
        requestHead: Duration = .seconds(10),
        idle: Duration = .seconds(60),
        upstreamResponse: Duration = .seconds(60),
        tunnel: Duration = .seconds(3600)
    ) {
        self.connect = connect
        self.requestHead = requestHead
        self.idle = idle
        self.upstreamResponse = upstreamResponse
        self.tunnel = tunnel
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

/// Caps on what one client may make Latch hold (`limits:`), checked before anything reaches a node.
/// The defaults are those of the established proxies, rounded: nginx allows 8 KiB targets and 32 KiB of
/// headers, HAProxy 101 header fields.
public struct LimitsConfig: Sendable, Equatable {
    /// The request target plus every header field's name and value, in bytes; beyond it: 431.
    public var maxRequestHead: Int
    /// Header fields in one request (trailers included); beyond it: 431.
    public var maxHeaders: Int
    /// The request target, in bytes; beyond it: 414.
    public var maxURILength: Int
    /// A request body, in bytes; beyond it: 413 (announced) or the request is cut off (chunked).
    public var maxBody: Int
    /// Open client connections over all listeners; beyond it a new connection is answered 503 and closed.
    public var maxClientConnections: Int

    public init(
        maxRequestHead: Int = 32 * 1024,
        maxHeaders: Int = 100,
        maxURILength: Int = 8 * 1024,
        maxBody: Int = 100 * 1024 * 1024,
        maxClientConnections: Int = 10_000
    ) {
        self.maxRequestHead = maxRequestHead
        self.maxHeaders = maxHeaders
        self.maxURILength = maxURILength
        self.maxBody = maxBody
        self.maxClientConnections = maxClientConnections
    }
}

/// How much of each node a cluster may use at once (a cluster's `limits:`), as HAProxy's server
/// `maxconn`, `maxqueue` and `timeout queue`: requests beyond `maxConnections` wait in the node's
/// queue instead of piling onto an application server that is already busy.
public struct NodeLimitsConfig: Sendable, Equatable {
    /// Requests in flight to one node at once (each holds one connection); 0: no limit. A node may
    /// set its own.
    public var maxConnections: Int
    /// Requests that may wait for one node; beyond it: 503.
    public var maxQueue: Int
    /// Longest a request waits in a queue; then: 503.
    public var queueTimeout: Duration

    public init(maxConnections: Int = 200, maxQueue: Int = 100, queueTimeout: Duration = .seconds(5)) {
        self.maxConnections = maxConnections
        self.maxQueue = maxQueue
        self.queueTimeout = queueTimeout
    }
}
