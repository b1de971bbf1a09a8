/// A node's recent past, for the status page's charts and the admin API: one ``HistoryPoint`` per
/// sampling interval and the state and health changes as ``HistoryEvent``s, both in fixed-size rings,
/// so a node's history costs the same after an hour or a year, at any request rate.
///
/// Pure: the sampler hands in the node's cumulative counters (``NodeSample``) and the time; each
/// point is the difference from the previous sample.
public struct NodeHistory: Sendable {
    public private(set) var points: HistoryRing<HistoryPoint>
    public private(set) var events: HistoryRing<HistoryEvent>
    /// When the node's effective state last changed, or when it was first seen; Unix seconds.
    public private(set) var stateSince: Double
    /// When active checks last turned the node up or down; `nil` until they first did.
    public private(set) var healthSince: Double?
    private var previous: (time: Double, sample: NodeSample)?

    /// The duration buckets' upper bounds in milliseconds, matching ``NodeCounters/buckets``.
    public let boundsMilliseconds: [Double]

    public init(points: Int, events: Int = 100, boundsMilliseconds: [Double], since time: Double) {
        self.points = HistoryRing(capacity: points)
        self.events = HistoryRing(capacity: events)
        self.boundsMilliseconds = boundsMilliseconds
        self.stateSince = time
    }

    /// Adds the point for the interval since the previous sample. The first sample only sets the
    /// baseline: there is no interval before it.
    /// - Parameter sequence: the store's counter, advanced for each point and event added, so a reader
    ///   can ask for what came after the last one it has, whatever the clock did.
    public mutating func record(_ sample: NodeSample, at time: Double, sequence: inout UInt64) {
        defer { previous = (time, sample) }
        guard let previous, time > previous.time else { return }
        if sample.state != previous.sample.state, stateSince <= previous.time {
            // Changed with no change noted where it happened (a reload that set `state:`): at the
            // latest, now.
            sequence += 1
            note(HistoryEvent(time: time, kind: .state, from: previous.sample.state, to: sample.state, effective: sample.state, sequence: sequence))
        }
        let before = previous.sample.counters
        let now = sample.counters
        // Counters only grow; a difference below 0 can only be a node counted afresh, read as 0.
        let classes = zip(now.statusClasses, before.statusClasses).map { max(0, $0 - $1) }
        let buckets = zip(now.buckets, before.buckets).map { max(0, $0 - $1) }
        let count = { (range: ClosedRange<Int>) in range.reduce(0) { $0 + (classes.indices.contains($1) ? classes[$1] : 0) } }
        sequence += 1
        points.append(
            HistoryPoint(
                time: time,
                seconds: time - previous.time,
                ok: count(1...3),
                clientErrors: count(4...4),
                serverErrors: count(5...9),
                unanswered: count(0...0),
                failures: max(0, now.failures - before.failures),
                p50Ms: LatencyQuantile.estimate(0.5, counts: buckets, bounds: boundsMilliseconds),
                p99Ms: LatencyQuantile.estimate(0.99, counts: buckets, bounds: boundsMilliseconds),
                sessions: sample.sessions,
                active: sample.active,
                queued: sample.queued,
                state: sample.state,
                up: sample.up,
                usable: sample.usable,
                sequence: sequence
            ))
        if now.ejections > before.ejections {
            // Seen by the sampler: stamped with the sample's time, several in one interval as one.
            sequence += 1
            note(HistoryEvent(time: time, kind: .ejected, from: "usable", to: "ejected", sequence: sequence))
        }
    }

    /// A change seen where it happened (an operator's state change, a health transition). The time
    /// in state restarts only when the effective state changed (``HistoryEvent/effective``).
    public mutating func note(_ event: HistoryEvent) {
        events.append(event)
        if event.effective != nil { stateSince = event.time }
        if event.kind == .health { healthSince = event.time }
    }

    /// While the newest point says `draining`: when its sessions are expected to reach 0
    /// (``DrainEstimate``), from the points since the drain began.
    public var drainEndEstimate: Double? {
        guard let newest = points.last, newest.state == "draining" else { return nil }
        let samples = points.elements
            .filter { $0.time >= stateSince }
            .compactMap { point in point.sessions.map { (time: point.time, sessions: $0) } }
        // At least three points, however long the interval.
        return DrainEstimate.zeroAt(samples, window: max(300, 3 * newest.seconds))
    }
}

/// A node's cumulative figures at one moment, as the sampler reads them.
public struct NodeSample: Sendable, Equatable {
    public var counters: NodeCounters
    public var sessions: Int?
    public var active: Int
    public var queued: Int
    /// The effective state (`active`, `draining`, `maintenance`).
    public var state: String
    /// The active-check verdict; `nil` without active checks.
    public var up: Bool?
    public var usable: Bool

    public init(counters: NodeCounters, sessions: Int?, active: Int, queued: Int, state: String, up: Bool?, usable: Bool) {
        self.counters = counters
        self.sessions = sessions
        self.active = active
        self.queued = queued
        self.state = state
        self.up = up
        self.usable = usable
    }
}

/// Counters since start, only ever growing.
public struct NodeCounters: Sendable, Equatable {
    /// Finished requests by status class: `[0]` the client got no status, `[1]`…`[9]` 1xx…9xx.
    public var statusClasses: [Int]
    /// Finished requests per duration bucket (not cumulative); one per bound, then one past the last.
    public var buckets: [Int]
    /// Requests that failed because of the node (connect errors, resets, timeouts).
    public var failures: Int
    /// Times passive detection took the node out.
    public var ejections: Int

    public init(statusClasses: [Int], buckets: [Int], failures: Int, ejections: Int) {
        self.statusClasses = statusClasses
        self.buckets = buckets
        self.failures = failures
        self.ejections = ejections
    }
}

/// One sampling interval of a node.
public struct HistoryPoint: Sendable, Equatable, Codable {
    /// The interval's end, Unix seconds.
    public var time: Double
    /// Its length in seconds.
    public var seconds: Double
    /// Requests answered 1xx–3xx, 4xx, 5xx, and those whose client got no status.
    public var ok: Int
    public var clientErrors: Int
    public var serverErrors: Int
    public var unanswered: Int
    /// Requests that failed because of the node.
    public var failures: Int
    /// Latency quantiles of the interval's requests, in milliseconds; `nil` without requests.
    public var p50Ms: Double?
    public var p99Ms: Double?
    /// At the interval's end.
    public var sessions: Int?
    public var active: Int
    public var queued: Int
    public var state: String
    public var up: Bool?
    public var usable: Bool
    /// Its place in the order the store added points and events (``NodeHistory/record(_:at:sequence:)``).
    public var sequence: UInt64

    /// Every request the interval finished.
    public var requests: Int { ok + clientErrors + serverErrors + unanswered }

    public init(
        time: Double, seconds: Double, ok: Int, clientErrors: Int, serverErrors: Int, unanswered: Int, failures: Int,
        p50Ms: Double?, p99Ms: Double?, sessions: Int?, active: Int, queued: Int, state: String, up: Bool?, usable: Bool,
        sequence: UInt64 = 0
    ) {
        self.time = time
        self.seconds = seconds
        self.ok = ok
        self.clientErrors = clientErrors
        self.serverErrors = serverErrors
        self.unanswered = unanswered
        self.failures = failures
        self.p50Ms = p50Ms
        self.p99Ms = p99Ms
        self.sessions = sessions
        self.active = active
        self.queued = queued
        self.state = state
        self.up = up
        self.usable = usable
        self.sequence = sequence
    }
}

/// A change to a node, at the moment it happened.
public struct HistoryEvent: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// The operator's state (admin API, the drain watcher).
        case state
        /// What the node announces through `health.state_header`.
        case announced
        /// Active checks turned it up or down (`from`/`to`: `up`, `down`).
        case health
        /// Passive detection took it out.
        case ejected
    }

    /// Unix seconds.
    public var time: Double
    public var kind: Kind
    public var from: String
    public var to: String
    /// The node's effective state after the change, when the change moved it; `nil` when it did not
    /// (a health change, or an announcement the operator's stricter state overrides).
    public var effective: String?
    /// Its place in the order the store added points and events.
    public var sequence: UInt64

    public init(time: Double, kind: Kind, from: String, to: String, effective: String? = nil, sequence: UInt64 = 0) {
        self.time = time
        self.kind = kind
        self.from = from
        self.to = to
        self.effective = effective
        self.sequence = sequence
    }
}
