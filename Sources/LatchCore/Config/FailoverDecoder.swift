/// Walks what a cluster says about failing nodes: `health` (also a node's own `health`), `passive`,
/// and the failover, failback and retry keys that sit directly in the cluster.
///
/// A `health` block is read on top of a base (the defaults for a cluster; the cluster's checks, or
/// the defaults, for a node), so a node names only the keys in which it differs. The checks that
/// relate two keys (timeout within interval, HTTP-only keys on a TCP check) run on the merged result
/// but point at the key this block set, which is the one the operator has to change.
enum FailoverDecoder {
    static let healthKeys = [
        "type", "path", "method", "interval", "timeout", "rise", "fall", "expect_status", "jitter", "initial", "host",
        "state_header",
    ]
    static let passiveKeys = ["failures", "window", "eject_for", "on_5xx"]
    /// The keys read by `failover`, which live in the cluster mapping itself.
    static let failoverKeys = [
        "on_unavailable", "failback", "failback_cookie", "retries", "retry_timeout", "retry_body_limit", "node_header",
    ]
    /// Keys that only mean something to an HTTP check; set on a TCP check they would be silently ignored.
    static let httpOnlyKeys = ["path", "method", "expect_status", "host", "state_header"]

    static let checkCounts = 1...100
    static let passiveFailures = 0...1000
    static let retryCounts = 0...10
    static let statusCodes = 100...599
    static let jitterPercents = 0.0...50.0
    static let retryBodyLimits = 0...(64 * 1024 * 1024)

    /// Methods a check may use: none of them has a body, and all are safe to repeat every interval.
    enum HealthMethod: String, CaseIterable {
        case get = "GET"
        case head = "HEAD"
        case options = "OPTIONS"
    }

    // MARK: health

    /// A `health:` value laid over `base`; `nil` for `health: false`.
    ///
    /// An empty `health:` (every key commented out) means checks with `base` unchanged, as an empty
    /// block means "all defaults" everywhere else; only `false` turns checks off.
    static func health(_ node: ConfigNode, over base: HealthCheckConfig) throws(ConfigError) -> HealthCheckConfig? {
        switch node.node {
        case .mapping: break
        case _ where node.isNull: break
        case _ where (try? node.bool()) == false: return nil
        default:
            throw node.error("expected a mapping of health check keys, or false to turn checks off, found \(node.kind)")
        }
        let mapping = try node.mapping(allowedKeys: healthKeys)
        var health = base
        if let value = mapping.value("type") {
            health.type = try value.oneOf(HealthCheckConfig.Kind.self, what: "health check type")
        }
        if let value = mapping.value("path") { health.path = try path(value) }
        if let value = mapping.value("method") {
            health.method = try value.oneOf(HealthMethod.self, what: "health check method").rawValue
        }
        if let value = mapping.value("interval") { health.interval = try value.duration() }
        if let value = mapping.value("timeout") { health.timeout = try value.duration() }
        if let value = mapping.value("rise") { health.rise = try value.int(in: checkCounts, what: "rise") }
        if let value = mapping.value("fall") { health.fall = try value.int(in: checkCounts, what: "fall") }
        if let value = mapping.value("expect_status") { health.expectStatus = try statusRange(value) }
        if let value = mapping.value("jitter") { health.jitter = try jitter(value) }
        if let value = mapping.value("initial") {
            health.initial = try value.oneOf(HealthCheckConfig.InitialState.self, what: "initial state")
        }
        if let value = mapping.value("host") { health.host = try host(value) }
        if let value = mapping.value("state_header") { health.stateHeader = try stateHeader(value) }
        try checkTimeout(of: health, in: mapping)
        if health.type == .tcp {
            // `host: null` only restates the default, so a node switching to tcp may still write it.
            for key in httpOnlyKeys {
                if let value = mapping.value(key), !value.isNull {
                    throw value.error("`\(key)` applies only to http checks, and this check's type is tcp")
                }
            }
        }
        return health
    }

    /// A header field name (RFC 9110 §5.1: a token); `null` turns it off again under a cluster's.
    private static func stateHeader(_ node: ConfigNode) throws(ConfigError) -> String? {
        guard !node.isNull else { return nil }
        let name = try node.string()
        if name.isEmpty { throw node.error("must not be empty; e.g. X-Node-State, or null for none") }
        if let bad = NameRules.firstNonTokenCharacter(in: name) {
            throw node.error("\"\(name)\" contains \"\(bad)\", which a header name cannot contain")
        }
        return name
    }

    /// A check that may still run when the next is due would pile up on a slow node.
    private static func checkTimeout(of health: HealthCheckConfig, in mapping: ConfigMapping) throws(ConfigError) {
        guard health.timeout > health.interval else { return }
        let timeout = DurationParser.format(health.timeout)
        let interval = DurationParser.format(health.interval)
        if let value = mapping.value("timeout") {
            throw value.error("timeout \(timeout) is longer than interval \(interval); "
                + "a check must end before the next one is due")
        }
        // The base always keeps its timeout within its interval, so here this block shortened the interval.
        throw (mapping.value("interval") ?? mapping.owner).error("interval \(interval) is shorter than timeout "
            + "\(timeout); a check must end before the next one is due")
    }

    private static func path(_ node: ConfigNode) throws(ConfigError) -> String {
        let path = try node.string()
        guard path.hasPrefix("/") else {
            throw node.error("must start with \"/\", found \"\(path)\"")
        }
        if let bad = path.unicodeScalars.first(where: { !$0.isASCII || $0.properties.isWhitespace || $0.value < 0x20
            || $0.value == 0x7F }) {
            throw node.error("\"\(path)\" contains \"\(bad)\", which a request path cannot contain; percent-encode it")
        }
        return path
    }

    /// `200`, `"200"` or `"200-399"`.
    private static func statusRange(_ node: ConfigNode) throws(ConfigError) -> ClosedRange<Int> {
        let text = try node.string()
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty && $0.unicodeScalars.allSatisfy { $0 >= "0" && $0 <= "9" } }) else {
            throw node.error("invalid expect_status \"\(text)\"; expected a status code or a range of them, "
                + "e.g. 200 or 200-399")
        }
        let codes = parts.map { Int($0) ?? .max }
        for (part, code) in zip(parts, codes) where !statusCodes.contains(code) {
            throw node.error("status code \(part) is out of range "
                + "\(statusCodes.lowerBound)...\(statusCodes.upperBound)")
        }
        guard let low = codes.first, let high = codes.last, low <= high else {
            throw node.error("range \"\(text)\" is inverted; write the lower code first, e.g. \"200-399\"")
        }
        return low...high
    }

    /// `"10%"`, stored as the fraction 0.1. The `%` is required so that `10` cannot be mistaken for
    /// a fraction, or `0.1` for a tenth of a percent.
    private static func jitter(_ node: ConfigNode) throws(ConfigError) -> Double {
        let text = try node.string()
        guard text.hasSuffix("%"), let percent = decimal(text.dropLast()) else {
            throw node.error("invalid jitter \"\(text)\"; expected a percentage from "
                + "\(percentText(jitterPercents.lowerBound)) to \(percentText(jitterPercents.upperBound)), e.g. 10%")
        }
        guard jitterPercents.contains(percent) else {
            throw node.error("jitter \(text) is out of range "
                + "\(percentText(jitterPercents.lowerBound))...\(percentText(jitterPercents.upperBound))")
        }
        return percent / 100
    }

    /// Digits with an optional fraction (`10`, `12.5`); no sign, exponent or spaces.
    private static func decimal(_ text: Substring) -> Double? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty && $0.unicodeScalars.allSatisfy { $0 >= "0" && $0 <= "9" } }) else {
            return nil
        }
        return Double(text)
    }

    /// `10%`, `12.5%`: how the summary and messages write a percentage.
    static func percentText(_ percent: Double) -> String {
        let rounded = (percent * 1_000_000).rounded() / 1_000_000
        return rounded == rounded.rounded() ? "\(Int(rounded))%" : "\(rounded)%"
    }

    /// The `Host` header of HTTP checks; null (or leaving it out) sends the node's address.
    private static func host(_ node: ConfigNode) throws(ConfigError) -> String? {
        if node.isNull { return nil }
        let host = try node.string()
        if host.isEmpty {
            throw node.error("must not be empty; leave `host` out to send the node's address")
        }
        if let bad = host.unicodeScalars.first(where: { !$0.isASCII || $0.properties.isWhitespace || $0 == "/"
            || $0.value < 0x20 || $0.value == 0x7F }) {
            throw node.error("\"\(host)\" contains \"\(bad)\"; write a bare host name, optionally with a port, "
                + "e.g. app.internal or app.internal:8080")
        }
        return host
    }

    // MARK: passive

    static func passive(_ node: ConfigNode) throws(ConfigError) -> PassiveHealthConfig {
        let mapping = try node.mapping(allowedKeys: passiveKeys)
        var passive = PassiveHealthConfig()
        if let value = mapping.value("failures") {
            passive.failures = try value.int(in: passiveFailures, what: "failures")
        }
        if let value = mapping.value("window") { passive.window = try value.duration() }
        if let value = mapping.value("eject_for") { passive.ejectFor = try value.duration() }
        if let value = mapping.value("on_5xx") { passive.on5xx = try value.bool() }
        return passive
    }

    // MARK: failover

    /// The failover keys of a cluster's mapping. `session` is the cluster's, already read: the
    /// failback cookie must not be the session cookie, or setting one would overwrite the other.
    static func failover(_ mapping: ConfigMapping, session: SessionConfig) throws(ConfigError) -> FailoverConfig {
        var failover = FailoverConfig()
        if let value = mapping.value("on_unavailable") {
            failover.onUnavailable = try value.oneOf(UnavailablePolicy.self, what: "on_unavailable policy")
        }
        if let value = mapping.value("failback") {
            failover.failback = try value.oneOf(FailbackMode.self, what: "failback mode")
        }
        if let value = mapping.value("failback_cookie") {
            let cookie = try value.string()
            if cookie.isEmpty { throw value.error("must not be empty") }
            if let bad = NameRules.firstNonTokenCharacter(in: cookie) {
                throw value.error("\"\(cookie)\" contains \"\(bad)\", which a cookie name cannot contain")
            }
            failover.ownerCookie = cookie
        }
        if failover.ownerCookie == session.cookie {
            if let value = mapping.value("failback_cookie") {
                throw value.error("failback cookie \"\(failover.ownerCookie)\" is also the session cookie; "
                    + "give it a name of its own")
            }
            let cookieNode = try mapping.block("session")?
                .mapping(allowedKeys: ClusterDecoder.sessionKeys).value("cookie")
            throw (cookieNode ?? mapping.owner).error("session cookie \"\(session.cookie)\" is also the default "
                + "failback cookie; set `failback_cookie` to another name")
        }
        if let value = mapping.value("retries") {
            failover.retries = try value.int(in: retryCounts, what: "retries")
        }
        if let value = mapping.value("retry_timeout") { failover.retryTimeout = try value.duration() }
        if let value = mapping.value("retry_body_limit") {
            failover.retryBodyLimit = try value.byteSize(in: retryBodyLimits, what: "retry_body_limit")
        }
        if let value = mapping.value("node_header") {
            // null or "" add no header, as leaving the key out does.
            let header = value.isNull ? "" : try value.string()
            if let bad = NameRules.firstNonTokenCharacter(in: header) {
                throw value.error("\"\(header)\" contains \"\(bad)\", which a header name cannot contain")
            }
            // The header replaces any the node sent: one that frames the response, says what the
            // connection does, carries `Via` or sets cookies would break the response or the session.
            if Self.reservedResponseHeaders.contains(header.lowercased()) {
                throw value.error(
                    "\"\(header)\" is a header Latch or the application must set itself; choose another name, "
                        + "such as X-Latch-Node")
            }
            failover.nodeHeader = header.isEmpty ? nil : header
        }
        return failover
    }

    /// Response headers `node_header` may not name (lower-case).
    static let reservedResponseHeaders: Set<String> = [
        "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "upgrade", "via", "set-cookie", "date", "content-type",
    ]
}
