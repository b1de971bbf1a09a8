/// Walks `clusters:` into `ClusterConfig`s and checks what refers to what.
///
/// Node names are checked with care because they are not just labels: a node name is the route
/// suffix the application server writes into its session ids, and `replicas` refer to other nodes by
/// that name. A typo there would silently break stickiness or failover, so it must fail at load time.
///
/// Health checks, passive detection and the failover keys are read by `FailoverDecoder`; `drain` and
/// a node's `state` by `OperationsDecoder`.
enum ClusterDecoder {
    static let clusterKeys = ["name", "match", "session", "balance", "nodes", "health", "passive"]
        + FailoverDecoder.failoverKeys + ["drain", "limits", "tls", "slow_start"]
    static let matchKeys = ["host", "path_prefix"]
    static let sessionKeys = ["cookie", "path_parameter", "separator", "routes"]
    static let nodeKeys = ["name", "address", "weight", "replicas", "health", "state", "max_connections", "slow_start"]
    static let weights = 1...1000

    static func clusters(_ node: ConfigNode) throws(ConfigError) -> [ClusterConfig] {
        let items = try node.list()
        guard !items.isEmpty else {
            throw node.error("no clusters; add at least one with a `name` and `nodes`")
        }
        var clusters: [ClusterConfig] = []
        var firstUses: [String: String] = [:]
        for item in items {
            // Each cluster is read on its own: an error in one does not hide those of the next.
            let read = item.recovering { () throws(ConfigError) -> ClusterConfig in
                let mapping = try item.mapping(allowedKeys: clusterKeys)
                let nameNode = try mapping.required("name")
                let name = try nameNode.string()
                guard !name.isEmpty else { throw nameNode.error("cluster name must not be empty") }
                if let first = firstUses[name] {
                    throw nameNode.error("duplicate cluster name \"\(name)\" (already used by \(first))")
                }
                firstUses[name] = firstUse(item, nameNode)
                return try cluster(mapping, name: name)
            }
            if let read { clusters.append(read) }
        }
        return clusters
    }

    /// Each block is read on its own (``ConfigNode/recovering(_:)``); one that fails keeps its default.
    private static func cluster(_ mapping: ConfigMapping, name: String) throws(ConfigError) -> ClusterConfig {
        var cluster = ClusterConfig(name: name, nodes: [])
        let owner = mapping.owner
        func read(_ key: String, block: Bool = false, _ apply: (ConfigNode) throws(ConfigError) -> Void) {
            guard let node = block ? mapping.block(key) : mapping.value(key) else { return }
            _ = node.recovering { () throws(ConfigError) in try apply(node) }
        }
        read("match", block: true) { node throws(ConfigError) in cluster.match = try match(node) }
        var sessionRead = true
        read("session", block: true) { node throws(ConfigError) in
            sessionRead = false
            cluster.session = try session(node)
            sessionRead = true
        }
        read("balance") { node throws(ConfigError) in cluster.balance = try node.oneOf(BalanceAlgorithm.self, what: "balance algorithm") }
        read("health") { node throws(ConfigError) in cluster.health = try FailoverDecoder.health(node, over: HealthCheckConfig()) }
        read("passive", block: true) { node throws(ConfigError) in cluster.passive = try FailoverDecoder.passive(node) }
        // Failover's keys are checked against the session's (a failback cookie must differ from the
        // session cookie): with `session` unread, that check would judge against the defaults.
        if sessionRead, let failover = owner.recovering({ () throws(ConfigError) in try FailoverDecoder.failover(mapping, session: cluster.session) }) {
            cluster.failover = failover
        }
        read("drain", block: true) { node throws(ConfigError) in cluster.drain = try OperationsDecoder.drain(node) }
        read("limits", block: true) { node throws(ConfigError) in cluster.limits = try LimitsDecoder.nodeLimits(node) }
        read("tls") { node throws(ConfigError) in cluster.tls = try TLSDecoder.upstream(node) }
        read("slow_start") { node throws(ConfigError) in cluster.slowStart = try slowStart(node) }
        cluster.nodes = try nodes(mapping.required("nodes"), cluster: cluster)
        return cluster
    }

    private static func match(_ node: ConfigNode) throws(ConfigError) -> ClusterMatch {
        let mapping = try node.mapping(allowedKeys: matchKeys)
        var match = ClusterMatch()
        if let value = mapping.value("host") {
            let host = try value.string()
            if host.isEmpty { throw value.error("must not be empty; leave `host` out to match every host") }
            if host.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0 == "/" || $0 == ":" }) {
                throw value.error("\"\(host)\" must be a bare host name, without scheme, port, path or spaces")
            }
            if host.dropFirst(host.hasPrefix("*.") ? 2 : 0).contains("*") {
                throw value.error("\"\(host)\": a wildcard is only allowed as a leading \"*.\", e.g. \"*.example.com\"")
            }
            match.host = host
        }
        if let value = mapping.value("path_prefix") {
            let prefix = try value.string()
            guard prefix.hasPrefix("/") else {
                throw value.error("must start with \"/\", found \"\(prefix)\"")
            }
            match.pathPrefix = prefix
        }
        return match
    }

    private static func session(_ node: ConfigNode) throws(ConfigError) -> SessionConfig {
        let mapping = try node.mapping(allowedKeys: sessionKeys)
        var session = SessionConfig()
        if let value = mapping.value("cookie") {
            let cookie = try value.string()
            if cookie.isEmpty { throw value.error("must not be empty") }
            if let bad = NameRules.firstNonTokenCharacter(in: cookie) {
                throw value.error("\"\(cookie)\" contains \"\(bad)\", which a cookie name cannot contain")
            }
            session.cookie = cookie
        }
        if let value = mapping.value("path_parameter") {
            // null or "" switch URL routing off: some applications never put ids in URLs, and then
            // a `;jsessionid=` in a request is more likely an attack than a session.
            let parameter = value.isNull ? "" : try value.string()
            if let bad = NameRules.firstNonRouteCharacter(in: parameter) {
                throw value.error("\"\(parameter)\" contains \"\(bad)\"; use \(NameRules.routeCharacters)")
            }
            session.pathParameter = parameter.isEmpty ? nil : parameter
        }
        if let value = mapping.value("separator") {
            let separator = try value.string()
            if separator.isEmpty {
                throw value.error("must not be empty; Tomcat uses \".\", WebLogic \"!\"")
            }
            session.separator = separator
        }
        if let value = mapping.value("routes") {
            session.routes = try value.oneOf(RouteMode.self, what: "routes mode")
        }
        return session
    }

    /// A node as read, with the `replicas` entries kept as nodes so that cross-reference errors
    /// can point at the entry itself once every node name is known.
    private struct ParsedNode {
        var config: NodeConfig
        var replicaNodes: [ConfigNode]
    }

    /// Every node gets the cluster's checks and `max_connections` unless it says otherwise.
    private static func nodes(_ node: ConfigNode, cluster clusterConfig: ClusterConfig) throws(ConfigError)
        -> [NodeConfig] {
        let cluster = clusterConfig.name
        let items = try node.list()
        guard !items.isEmpty else {
            throw node.error("cluster \"\(cluster)\" has no nodes; add at least one with a `name` and an `address`")
        }
        var parsed: [ParsedNode] = []
        var firstUses: [String: String] = [:]
        var allRead = true
        for item in items {
            let read = item.recovering { () throws(ConfigError) -> ParsedNode in
                let (nameNode, node) = try self.node(item, cluster: clusterConfig)
                if let first = firstUses[node.config.name] {
                    throw nameNode.error("duplicate node name \"\(node.config.name)\" in cluster \"\(cluster)\" "
                        + "(already used by \(first))")
                }
                firstUses[node.config.name] = firstUse(item, nameNode)
                return node
            }
            if let read { parsed.append(read) } else { allRead = false }
        }
        // With a node unread, a replica naming it would look unknown: replicas are checked when all are.
        if allRead {
            let names = parsed.map(\.config.name)
            for node in parsed {
                _ = node.replicaNodes.first?.recovering { () throws(ConfigError) in try checkReplicas(of: node, names: names, cluster: cluster) }
            }
        }
        return parsed.map(\.config)
    }

    private static func node(_ item: ConfigNode, cluster: ClusterConfig) throws(ConfigError)
        -> (nameNode: ConfigNode, node: ParsedNode) {
        let clusterHealth = cluster.health
        let mapping = try item.mapping(allowedKeys: nodeKeys)
        let nameNode = try mapping.required("name")
        let name = try nameNode.string()
        if name.isEmpty { throw nameNode.error("node name must not be empty; it is the route in session ids") }
        if let bad = NameRules.firstNonRouteCharacter(in: name) {
            throw nameNode.error("node name \"\(name)\" contains \"\(bad)\", which cannot appear in a session id "
                + "route; use \(NameRules.routeCharacters)")
        }
        let separator = cluster.session.separator
        if cluster.session.routes == .ranked, name.contains(separator) {
            // Ranked routes are split at every separator, so such a name could never be read back.
            throw nameNode.error("node name \"\(name)\" contains the session separator \"\(separator)\", which splits "
                + "ranked routes (session.routes: ranked); rename the node or choose another separator")
        }
        let addressNode = try mapping.required("address")
        let address = try addressNode.hostPort()
        if address.port == 0 {
            throw addressNode.error("invalid address \"\(address)\": port 0 only makes sense for a listener; "
                + "a node needs its real port")
        }
        var config = NodeConfig(
            name: name, address: address, health: clusterHealth, maxConnections: cluster.limits.maxConnections,
            slowStart: cluster.slowStart)
        if let value = mapping.value("weight") {
            let weight = try value.int()
            guard weights.contains(weight) else {
                throw value.error("weight \(weight) is out of range \(weights.lowerBound)...\(weights.upperBound)")
            }
            config.weight = weight
        }
        var replicaNodes: [ConfigNode] = []
        if let value = mapping.value("replicas") {
            replicaNodes = try value.list()
            config.replicas = []
            for replica in replicaNodes {
                config.replicas.append(try replica.string())
            }
        }
        if let value = mapping.value("health") {
            // The node's keys over the cluster's checks; a node may have checks its cluster has not.
            config.health = try FailoverDecoder.health(value, over: clusterHealth ?? HealthCheckConfig())
        }
        if let value = mapping.value("state") { config.state = try OperationsDecoder.state(value) }
        if let value = mapping.value("max_connections") { config.maxConnections = try LimitsDecoder.maxConnections(value) }
        if let value = mapping.value("slow_start") { config.slowStart = try slowStart(value) }
        return (nameNode, ParsedNode(config: config, replicaNodes: replicaNodes))
    }

    /// A duration, or `false` (a node's way out of its cluster's slow start).
    private static func slowStart(_ node: ConfigNode) throws(ConfigError) -> Duration? {
        if (try? node.bool()) == false { return nil }
        guard (try? node.bool()) == nil else {
            throw node.error("expected a duration such as 30s, or false for no slow start")
        }
        return try node.duration()
    }

    private static func checkReplicas(of node: ParsedNode, names: [String], cluster: String) throws(ConfigError) {
        let name = node.config.name
        var seen: Set<String> = []
        for (replica, replicaNode) in zip(node.config.replicas, node.replicaNodes) {
            if replica == name {
                throw replicaNode.error("node \"\(name)\" cannot be its own replica")
            }
            guard names.contains(replica) else {
                // No "did you mean": with tomcat1…tomcat9 every typo is one edit from several names,
                // and the list is short enough to read.
                throw replicaNode.error(
                    "unknown node \"\(replica)\" in cluster \"\(cluster)\" (nodes: \(names.joined(separator: ", ")))")
            }
            guard seen.insert(replica).inserted else {
                throw replicaNode.error("node \"\(replica)\" is listed twice in the replicas of \"\(name)\"")
            }
        }
    }

    /// "clusters[0] at line 4", for the "already used by …" part of duplicate-name errors.
    private static func firstUse(_ item: ConfigNode, _ nameNode: ConfigNode) -> String {
        nameNode.node.mark.map { "\(item.path) at line \($0.line)" } ?? item.path
    }
}
