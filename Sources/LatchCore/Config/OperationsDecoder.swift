import Foundation

/// Walks the keys that say how Latch is run rather than how it routes: `admin`, `state_file`,
/// `shutdown_grace` and `access_log` at the top level, a cluster's `drain`, and a node's `state`.
///
/// The files these keys name are checked when the file is loaded, not when they are first used: a
/// token file or state directory found missing at the first state change, hours after the start,
/// would fail the very operation that needed it, and `latch check` would have passed. The check is
/// of what exists now; whether Latch may write there is left to the moment it does, as `latch check`
/// is often run by another user than the service.
enum OperationsDecoder {
    /// The keys read here that live in the top-level mapping.
    static let topKeys = ["admin", "state_file", "shutdown_grace", "access_log", "control_socket"]
    static let adminKeys = ["address", "token_file", "hosts", "history", "history_interval"]
    /// The history's bounds: a point a second at the finest, 8 640 points at the most (a day at the
    /// default interval, about 1.3 MB per node), so its memory is bounded by configuration.
    static let historyIntervalRange: ClosedRange<Duration> = .seconds(1) ... .seconds(300)
    static let maxHistoryPoints = 8640
    static let accessLogKeys = ["format", "path"]
    static let drainKeys = ["session_idle", "maintenance_when_empty", "deadline"]

    // MARK: admin

    /// `admin:` as given; present at all, even empty, it turns the listener on. Its address must not
    /// be one of `listeners`, or one of the two sockets could not be opened.
    /// - Parameter listeners: the `listen` entries read, each with its index in the file.
    static func admin(_ node: ConfigNode, listeners: [(position: Int, config: ListenerConfig)]) throws(ConfigError) -> AdminConfig {
        switch node.node {
        case .mapping: break
        case _ where node.isNull: break
        default:
            throw node.error("expected a mapping of admin keys, found \(node.kind); "
                + "leave `admin` out for no admin listener")
        }
        let mapping = try node.mapping(allowedKeys: adminKeys)
        var admin = AdminConfig()
        if let value = mapping.value("address") { admin.address = try value.hostPort() }
        // Two port-0 sockets are two different ephemeral ports, not a clash.
        if admin.address.port != 0, let index = listeners.first(where: { $0.config.address == admin.address })?.position {
            if let value = mapping.value("address") {
                throw value.error("address \(admin.address) is already used by listen[\(index)]")
            }
            throw node.error("the default admin address \(admin.address) is already used by listen[\(index)]; "
                + "set `address` to another one")
        }
        if let value = mapping.value("hosts") {
            for item in try value.list() {
                let name = try item.string()
                guard !name.isEmpty, !name.contains(":"), !name.contains("/"), !name.contains(" ") else {
                    throw item.error("\"\(name)\" is not a host name; list names only, without scheme or port")
                }
                admin.hosts.append(name)
            }
        }
        if let value = mapping.value("token_file"), !value.isNull {
            let path = try value.string()
            if path.isEmpty { throw value.error("must not be empty; leave `token_file` out for no token") }
            try checkTokenFile(path, at: value)
            admin.tokenFile = path
        }
        if let value = mapping.value("history_interval") {
            admin.historyInterval = try value.duration()
            guard historyIntervalRange.contains(admin.historyInterval) else {
                throw value.error("must be between 1s and 5m, found \(DurationParser.format(admin.historyInterval))")
            }
        }
        if let value = mapping.value("history") {
            admin.historySpan = try value.duration()
            guard admin.historySpan >= admin.historyInterval else {
                throw value.error("is shorter than history_interval (\(DurationParser.format(admin.historyInterval))); it keeps at least one point")
            }
            guard admin.historySpan / admin.historyInterval <= Double(maxHistoryPoints) else {
                throw value.error("would keep more than \(maxHistoryPoints) points per node at history_interval \(DurationParser.format(admin.historyInterval)); "
                    + "shorten it or lengthen history_interval")
            }
        }
        return admin
    }

    /// The token is read again when it is used; here only that there is one to read.
    private static func checkTokenFile(_ path: String, at node: ConfigNode) throws(ConfigError) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw node.error("cannot read token file \"\(path)\": \(ConfigLoader.osReason(error))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw node.error("token file \"\(path)\" is not valid UTF-8 text")
        }
        // Whitespace around the token is trimmed at use, so a file of only whitespace holds no token.
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw node.error("token file \"\(path)\" is empty; write the admin token into it")
        }
    }

    // MARK: state_file, access_log

    /// `state_file:`; `nil` for null, as leaving it out.
    static func stateFile(_ node: ConfigNode) throws(ConfigError) -> String? {
        if node.isNull { return nil }
        let path = try node.string()
        if path.isEmpty { throw node.error("must not be empty; leave `state_file` out to keep no state") }
        try checkFileToWrite(path, at: node, what: "the state file", example: "state.json")
        return path
    }

    /// `control_socket:` a path, or `false` for none.
    static func controlSocket(_ node: ConfigNode) throws(ConfigError) -> ControlSocketConfig {
        if case .scalar = node.node, let off = try? node.bool() {
            guard !off else { throw node.error("expected a socket path or false, found true") }
            return .off
        }
        let path = try node.string()
        if path.isEmpty { throw node.error("must not be empty; write `false` for no control socket") }
        // Two processes started from different directories must find the same socket.
        guard path.hasPrefix("/") else { throw node.error("\"\(path)\" is relative; give an absolute path, e.g. /run/latch/latch.sock") }
        guard path.utf8.count <= ControlSocketConfig.longestPath else {
            throw node.error("a unix socket path holds at most \(ControlSocketConfig.longestPath) bytes; this one has \(path.utf8.count)")
        }
        try checkFileToWrite(path, at: node, what: "the control socket", example: "latch.sock")
        return .path(path)
    }

    static func accessLog(_ node: ConfigNode) throws(ConfigError) -> AccessLogConfig {
        let mapping = try node.mapping(allowedKeys: accessLogKeys)
        var accessLog = AccessLogConfig()
        if let value = mapping.value("format") {
            accessLog.format = try value.oneOf(AccessLogFormat.self, what: "access log format")
        }
        if let value = mapping.value("path"), !value.isNull {
            let path = try value.string()
            if path.isEmpty { throw value.error("must not be empty; leave `path` out to log to standard output") }
            try checkFileToWrite(path, at: value, what: "the access log", example: "access.log")
            accessLog.path = path
        }
        return accessLog
    }

    /// A file Latch creates or appends to: it must name a file, in a directory that exists.
    /// `example` is a file name for the "name a file in it" hint.
    private static func checkFileToWrite(_ path: String, at node: ConfigNode, what: String, example: String)
        throws(ConfigError) {
        if path.hasSuffix("/") || isDirectory(path) {
            let directory = path.hasSuffix("/") ? String(path.dropLast()) : path
            throw node.error("\"\(path)\" names a directory; give a file name, e.g. \"\(directory)/\(example)\"")
        }
        let directory: String
        switch path.lastIndex(of: "/") {
        case nil: directory = "."
        case path.startIndex: directory = "/"
        case let slash?: directory = String(path[..<slash])
        }
        let type: FileAttributeType?
        do {
            type = try FileManager.default.attributesOfItem(atPath: directory)[.type] as? FileAttributeType
        } catch {
            throw node.error("cannot use directory \"\(directory)\" for \(what): \(ConfigLoader.osReason(error))")
        }
        guard type == .typeDirectory else {
            throw node.error("cannot use directory \"\(directory)\" for \(what): \(String(cString: strerror(ENOTDIR)))")
        }
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    // MARK: drain, state

    static func drain(_ node: ConfigNode) throws(ConfigError) -> DrainConfig {
        let mapping = try node.mapping(allowedKeys: drainKeys)
        var drain = DrainConfig()
        if let value = mapping.value("session_idle") { drain.sessionIdle = try value.duration() }
        if let value = mapping.value("maintenance_when_empty") { drain.maintenanceWhenEmpty = try value.bool() }
        if let value = mapping.value("deadline") {
            // null: no deadline, as leaving it out.
            drain.deadline = value.isNull ? nil : try value.duration()
        }
        return drain
    }

    /// A node's `state:`. Every node of a cluster in maintenance is allowed: it is how a whole cluster
    /// is taken out for an upgrade, and the summary shows each node's state.
    static func state(_ node: ConfigNode) throws(ConfigError) -> NodeState {
        try node.oneOf(NodeState.self, what: "node state")
    }
}
