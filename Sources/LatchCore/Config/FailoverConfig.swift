/// `health:` — active checks of one node, run on their own schedule, never on the request path.
///
/// A node's state changes only after `rise` passes or `fall` failures in a row (hysteresis, as
/// HAProxy's `rise`/`fall`), so one slow answer does not move sessions around.
public struct HealthCheckConfig: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// An HTTP request; passes when the status is in `expect_status`.
        case http
        /// A TCP connect; passes when it is accepted.
        case tcp
    }

    public enum InitialState: String, Sendable, Equatable, CaseIterable {
        case up
        case down
    }

    public var type: Kind
    /// Request target of an HTTP check.
    public var path: String
    /// `GET`, `HEAD` or `OPTIONS`.
    public var method: String
    public var interval: Duration
    /// One check fails when it has not passed within this.
    public var timeout: Duration
    /// Passes in a row that bring a down node up.
    public var rise: Int
    /// Failures in a row that take an up node down.
    public var fall: Int
    public var expectStatus: ClosedRange<Int>
    /// Each interval is stretched or shortened by up to this fraction at random, so checks from
    /// several balancers do not arrive in lockstep.
    public var jitter: Double
    /// The state before the first check has decided. `down` (the default) sends nothing to a node that
    /// was never seen healthy; `up` trusts the configuration until checks say otherwise.
    public var initial: InitialState
    /// `Host` header of HTTP checks; `nil` sends the node's address.
    public var host: String?
    /// A response header in which the node announces its own state (``StateAnnouncement``); `nil`: off.
    public var stateHeader: String?

    public init(
        type: Kind = .http,
        path: String = "/health",
        method: String = "GET",
        interval: Duration = .seconds(2),
        timeout: Duration = .seconds(1),
        rise: Int = 2,
        fall: Int = 3,
        expectStatus: ClosedRange<Int> = 200...399,
        jitter: Double = 0.1,
        initial: InitialState = .down,
        host: String? = nil,
        stateHeader: String? = nil
    ) {
        self.type = type
        self.path = path
        self.method = method
        self.interval = interval
        self.timeout = timeout
        self.rise = rise
        self.fall = fall
        self.expectStatus = expectStatus
        self.jitter = jitter
        self.initial = initial
        self.host = host
        self.stateHeader = stateHeader
    }
}

/// `passive:` — what real traffic says about a node. A refused connection ejects the node at once
/// (nothing listens there); resets, connect timeouts and (with `on_5xx`) 5xx answers eject it after
/// `failures` of them within `window`. An ejected node stays out for at least `eject_for`; then the
/// next passing active check brings it back, or, without active checks, the end of `eject_for` does.
public struct PassiveHealthConfig: Sendable, Equatable {
    /// 0 turns passive detection off.
    public var failures: Int
    public var window: Duration
    public var ejectFor: Duration
    public var on5xx: Bool

    public init(failures: Int = 3, window: Duration = .seconds(10), ejectFor: Duration = .seconds(10), on5xx: Bool = false) {
        self.failures = failures
        self.window = window
        self.ejectFor = ejectFor
        self.on5xx = on5xx
    }
}

/// What happens to a session whose node cannot serve.
public enum UnavailablePolicy: String, Sendable, Equatable, CaseIterable {
    /// No usable replica: balance over the usable nodes (lenient; httpd's and HAProxy's default).
    case any
    /// No usable replica: 503, for applications that must never see a session on a node without its state.
    case reject
}

/// Where a failed-over session goes when its own node comes back.
public enum FailbackMode: String, Sendable, Equatable, CaseIterable {
    /// Back to its own node at once (httpd's behaviour): right when the session store re-syncs a node
    /// that restarts (Tomcat's DeltaManager, a shared store).
    case immediate
    /// Stays on the replica that served it, through a small cookie Latch sets: right when the returning
    /// node would serve a stale copy.
    case stay
}

/// Failover, failback and retry settings of a cluster.
public struct FailoverConfig: Sendable, Equatable {
    public var onUnavailable: UnavailablePolicy
    public var failback: FailbackMode
    /// Name of the cookie `failback: stay` sets to name a session's new owner.
    public var ownerCookie: String
    /// How many other nodes a request may be sent to after its first choice failed.
    public var retries: Int
    /// One deadline for a request and all its retries.
    public var retryTimeout: Duration
    /// An idempotent request whose body was at most this many bytes can be retried after bytes were
    /// written; a larger body is not kept, so such a request is not retried.
    public var retryBodyLimit: Int
    /// Response header naming the node that served the request (for debugging); `nil` adds none.
    public var nodeHeader: String?

    public init(
        onUnavailable: UnavailablePolicy = .any,
        failback: FailbackMode = .immediate,
        ownerCookie: String = "LATCH_NODE",
        retries: Int = 2,
        retryTimeout: Duration = .seconds(10),
        retryBodyLimit: Int = 64 * 1024,
        nodeHeader: String? = nil
    ) {
        self.onUnavailable = onUnavailable
        self.failback = failback
        self.ownerCookie = ownerCookie
        self.retries = retries
        self.retryTimeout = retryTimeout
        self.retryBodyLimit = retryBodyLimit
        self.nodeHeader = nodeHeader
    }
}
