/// An operator's state for a node. Settable in lb.yaml and at runtime (admin API); runtime changes are
/// kept in the state file so they survive a restart.
public enum NodeState: String, Sendable, Equatable, CaseIterable {
    /// Takes sticky and new sessions.
    case active
    /// Keeps serving the sessions it has (sticky requests still go there); takes no new sessions.
    case draining
    /// Takes no traffic: its sessions fail over to its replicas as if it were down.
    case maintenance
}

/// `drain:` — how a draining node knows it is done.
public struct DrainConfig: Sendable, Equatable {
    /// A session counts as still on the node while a request of it was seen within this (set it to the
    /// application's session timeout: Tomcat's default is 30 minutes).
    public var sessionIdle: Duration
    /// Move a draining node to `maintenance` by itself once no session is left on it.
    public var maintenanceWhenEmpty: Bool
    /// Move a draining node to `maintenance` this long after draining began, sessions left or not.
    public var deadline: Duration?

    public init(sessionIdle: Duration = .seconds(30 * 60), maintenanceWhenEmpty: Bool = true, deadline: Duration? = nil) {
        self.sessionIdle = sessionIdle
        self.maintenanceWhenEmpty = maintenanceWhenEmpty
        self.deadline = deadline
    }
}

/// `admin:` — the admin listener (status API, state changes, metrics, status page). Off when absent.
public struct AdminConfig: Sendable, Equatable {
    public var address: HostPort
    /// A file holding the bearer token required by every request that changes state; `nil`: no token.
    public var tokenFile: String?
    /// Host names, besides IP addresses, `localhost` and the address's own host, by which the admin
    /// listener may be reached (``AdminHostCheck``).
    public var hosts: [String]
    /// How often each node's history gets a point (``NodeHistory``), and how far back it reaches.
    public var historyInterval: Duration
    public var historySpan: Duration

    public init(
        address: HostPort = HostPort(host: "127.0.0.1", port: 9090), tokenFile: String? = nil, hosts: [String] = [],
        historyInterval: Duration = .seconds(10), historySpan: Duration = .seconds(3600)
    ) {
        self.address = address
        self.tokenFile = tokenFile
        self.hosts = hosts
        self.historyInterval = historyInterval
        self.historySpan = historySpan
    }

    /// The most points a node's history keeps: its span over its interval.
    public var historyPoints: Int {
        max(1, Int(historySpan / historyInterval))
    }
}

public enum AccessLogFormat: String, Sendable, Equatable, CaseIterable {
    /// `key=value` pairs (the default).
    case logfmt
    /// One JSON object per line.
    case json
    /// Apache's combined format, for tools that read it.
    case combined
}

/// `access_log:` — where the one-line-per-request log goes.
public struct AccessLogConfig: Sendable, Equatable {
    public var format: AccessLogFormat
    /// A file to append to (reopened on SIGUSR1, for logrotate); `nil`: standard output.
    public var path: String?

    public init(format: AccessLogFormat = .logfmt, path: String? = nil) {
        self.format = format
        self.path = path
    }
}
