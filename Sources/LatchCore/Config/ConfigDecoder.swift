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

    /// Every error the file has that can be found is reported (``ConfigError/more``): each top-level
    /// block, listener, cluster and node is read on its own (``ConfigNode/recovering(_:)``), and unknown
    /// keys are noted and skipped.
    static func decode(_ root: ConfigNode) throws(ConfigError) -> LatchConfig {
        let config: LatchConfig
        do {
            config = try decodeRecovering(root)
        } catch {
            throw root.problems.combined(with: error)!
        }
        if let problems = root.problems.combined() { throw problems }
        return config
    }

    private static func decodeRecovering(_ root: ConfigNode) throws(ConfigError) -> LatchConfig {
        guard case .mapping = root.node else {
            throw root.error("expected a mapping with `listen` and `clusters` at the top level, found \(root.kind)")
        }
        let top = try root.mapping(allowedKeys: topKeys)
        let listenerEntries = root.recovering { () throws(ConfigError) in try listeners(top.required("listen")) } ?? []
        var config = LatchConfig(
            listeners: listenerEntries.map(\.config),
            clusters: root.recovering { () throws(ConfigError) in try ClusterDecoder.clusters(top.required("clusters")) } ?? []
        )
        func read(_ key: String, block: Bool = false, _ apply: (ConfigNode) throws(ConfigError) -> Void) {
            guard let node = block ? top.block(key) : top.value(key) else { return }
            _ = node.recovering { () throws(ConfigError) in try apply(node) }
        }
        read("timeouts", block: true) { node throws(ConfigError) in config.timeouts = try timeouts(node) }
        read("pool", block: true) { node throws(ConfigError) in config.pool = try pool(node) }
        read("forwarding", block: true) { node throws(ConfigError) in config.forwarding = try forwarding(node) }
        read("limits", block: true) { node throws(ConfigError) in config.limits = try LimitsDecoder.limits(node) }
        read("threads") { node throws(ConfigError) in
            let threads = try node.int()
            guard threads >= 1 else {
                throw node.error("must be at least 1, found \(threads); leave it out for one thread per core")
            }
            config.threads = threads
        }
        read("admin") { node throws(ConfigError) in config.admin = try OperationsDecoder.admin(node, listeners: listenerEntries) }
        read("state_file") { node throws(ConfigError) in config.stateFile = try OperationsDecoder.stateFile(node) }
        read("control_socket") { node throws(ConfigError) in config.controlSocket = try OperationsDecoder.controlSocket(node) }
        read("shutdown_grace") { node throws(ConfigError) in config.shutdownGrace = try node.duration() }
        read("access_log", block: true) { node throws(ConfigError) in config.accessLog = try OperationsDecoder.accessLog(node) }
        return config
    }

    /// The entries that read, each with its index in the file.
    private static func listeners(_ node: ConfigNode) throws(ConfigError) -> [(position: Int, config: ListenerConfig)] {
        let items = try node.list()
        guard !items.isEmpty else {
            throw node.error("no listeners; add at least one, e.g. `- address: 0.0.0.0:8080`")
        }
        var listeners: [(position: Int, config: ListenerConfig)] = []
        for (position, item) in items.enumerated() {
            if let listener = item.recovering({ () throws(ConfigError) in try self.listener(item, after: listeners) }) {
                listeners.append((position, listener))
            }
        }
        return listeners
    }

    private static func listener(_ item: ConfigNode, after listeners: [(position: Int, config: ListenerConfig)]) throws(ConfigError)
        -> ListenerConfig {
        let mapping = try item.mapping(allowedKeys: listenerKeys)
        let addressNode = try mapping.required("address")
        let address = try addressNode.hostPort()
        // Two port-0 listeners are two different ephemeral ports, not a clash.
        if address.port != 0, let earlier = listeners.first(where: { $0.config.address == address }) {
            throw addressNode.error("address \(address) is already used by listen[\(earlier.position)]")
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
        return listener
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
