/// Walks the top level of a composed `lb.yaml` (schema v1) into a `LatchConfig`.
///
/// Defaults are not repeated here: each block starts from the model's own initialiser and only the
/// keys present in the file overwrite it, so the file and hand-built configs cannot drift apart.
/// Clusters, the part with cross-references, live in `ClusterDecoder`; the admin listener, state file
/// and access log, which name files to check, in `OperationsDecoder`.
enum ConfigDecoder {
    static let topKeys = ["listen", "clusters", "timeouts", "pool", "forwarding", "threads", "limits"]
        + OperationsDecoder.topKeys
    static let listenerKeys = ["address", "tls", "redirect_to_https", "proxy_protocol"]
    static let proxyProtocolKeys = ["from"]
    static let timeoutKeys = ["connect", "request_head", "idle", "upstream_response", "tunnel"]
    static let poolKeys = ["max_idle_per_node", "idle_timeout"]
    static let forwardingKeys = ["x_forwarded_for", "via"]

    static func decode(_ root: ConfigNode) throws(ConfigError) -> LatchConfig {
        guard case .mapping = root.node else {
            throw root.error("expected a mapping with `listen` and `clusters` at the top level, found \(root.kind)")
        }
        let top = try root.mapping(allowedKeys: topKeys)
        var config = LatchConfig(
            listeners: try listeners(top.required("listen")),
            clusters: try ClusterDecoder.clusters(top.required("clusters"))
        )
        if let node = top.block("timeouts") { config.timeouts = try timeouts(node) }
        if let node = top.block("pool") { config.pool = try pool(node) }
        if let node = top.block("forwarding") { config.forwarding = try forwarding(node) }
        if let node = top.block("limits") { config.limits = try LimitsDecoder.limits(node) }
        if let node = top.value("threads") {
            let threads = try node.int()
            guard threads >= 1 else {
                throw node.error("must be at least 1, found \(threads); leave it out for one thread per core")
            }
            config.threads = threads
        }
        if let node = top.value("admin") {
            config.admin = try OperationsDecoder.admin(node, listeners: config.listeners)
        }
        if let node = top.value("state_file") { config.stateFile = try OperationsDecoder.stateFile(node) }
        if let node = top.value("control_socket") { config.controlSocket = try OperationsDecoder.controlSocket(node) }
        if let node = top.value("shutdown_grace") { config.shutdownGrace = try node.duration() }
        if let node = top.block("access_log") { config.accessLog = try OperationsDecoder.accessLog(node) }
        return config
    }

    private static func listeners(_ node: ConfigNode) throws(ConfigError) -> [ListenerConfig] {
        let items = try node.list()
        guard !items.isEmpty else {
            throw node.error("no listeners; add at least one, e.g. `- address: 0.0.0.0:8080`")
        }
        var listeners: [ListenerConfig] = []
        for item in items {
            let mapping = try item.mapping(allowedKeys: listenerKeys)
            let addressNode = try mapping.required("address")
            let address = try addressNode.hostPort()
            // Two port-0 listeners are two different ephemeral ports, not a clash.
            if address.port != 0, let index = listeners.firstIndex(where: { $0.address == address }) {
                throw addressNode.error("address \(address) is already used by listen[\(index)]")
            }
            var listener = ListenerConfig(address: address)
            if let node = mapping.block("tls") { listener.tls = try TLSDecoder.tls(node) }
            if let node = mapping.value("redirect_to_https") {
                guard listener.tls == nil else {
                    throw node.error("this listener already speaks TLS; `redirect_to_https` belongs on a plain listener")
                }
                listener.redirectToHTTPS = try node.int(in: 1...65535, what: "https port")
            }
            if let node = mapping.value("proxy_protocol") { listener.proxyProtocol = try proxyProtocol(node) }
            listeners.append(listener)
        }
        return listeners
    }

    /// `true`, `false`, or `{ from: [CIDR, ...] }`.
    private static func proxyProtocol(_ node: ConfigNode) throws(ConfigError) -> ProxyProtocolPolicy? {
        guard case .mapping = node.node else {
            guard (try? node.bool()) != nil else {
                throw node.error("expected true, false or a mapping `{ from: [10.0.0.0/8, ...] }`, found \(node.kind)")
            }
            return try node.bool() ? .everyone : nil
        }
        let mapping = try node.mapping(allowedKeys: proxyProtocolKeys)
        let fromNode = try mapping.required("from")
        var blocks: [AddressBlock] = []
        for item in try fromNode.list() {
            let text = try item.string()
            do throws(AddressBlock.Invalid) {
                blocks.append(try AddressBlock(parsing: text))
            } catch {
                throw item.error(error.description)
            }
        }
        guard !blocks.isEmpty else {
            throw fromNode.error("no address blocks; list the balancers in front, e.g. `from: [10.0.0.0/8]`, or write `proxy_protocol: true` for every peer")
        }
        return .from(blocks)
    }

    private static func timeouts(_ node: ConfigNode) throws(ConfigError) -> TimeoutsConfig {
        let mapping = try node.mapping(allowedKeys: timeoutKeys)
        var timeouts = TimeoutsConfig()
        if let value = mapping.value("connect") { timeouts.connect = try value.duration() }
        if let value = mapping.value("request_head") { timeouts.requestHead = try value.duration() }
        if let value = mapping.value("idle") { timeouts.idle = try value.duration() }
        if let value = mapping.value("upstream_response") { timeouts.upstreamResponse = try value.duration() }
        if let value = mapping.value("tunnel") { timeouts.tunnel = try value.duration() }
        return timeouts
    }

    private static func pool(_ node: ConfigNode) throws(ConfigError) -> PoolConfig {
        let mapping = try node.mapping(allowedKeys: poolKeys)
        var pool = PoolConfig()
        if let value = mapping.value("max_idle_per_node") {
            let count = try value.int()
            guard count >= 0 else {
                throw value.error("must be 0 or more, found \(count); 0 disables pooling")
            }
            pool.maxIdlePerNode = count
        }
        if let value = mapping.value("idle_timeout") { pool.idleTimeout = try value.duration() }
        return pool
    }

    private static func forwarding(_ node: ConfigNode) throws(ConfigError) -> ForwardingConfig {
        let mapping = try node.mapping(allowedKeys: forwardingKeys)
        var forwarding = ForwardingConfig()
        if let value = mapping.value("x_forwarded_for") {
            forwarding.xForwardedFor = try value.oneOf(ForwardedForMode.self, what: "x_forwarded_for mode")
        }
        if let value = mapping.value("via") {
            let via = try value.string()
            guard !via.isEmpty else {
                throw value.error("must not be empty; it is the name Latch gives itself in `Via: 1.1 <via>`")
            }
            if let bad = NameRules.firstNonTokenCharacter(in: via) {
                throw value.error("\"\(via)\" contains \"\(bad)\"; a Via pseudonym must be an HTTP token")
            }
            forwarding.via = via
        }
        return forwarding
    }
}
