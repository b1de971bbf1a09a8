import LatchCore
import NIOCore
import NIOHTTP1

/// One request/response exchange on a client connection, from the request head to the end of the
/// response (or the error that replaced it). Owned by the client connection's event loop.
final class Exchange {
    let request: ClientRequestHead
    /// The head as the current attempt's node gets it, written once (again only for another node
    /// when it names the node: ``hostFromNode``).
    var wire: UpstreamRequest?
    /// The node ``wire`` was written for.
    var wireNode = -1
    let lookup: RouteLookup
    let cluster: ClusterRuntime
    /// The node serving the current attempt; changes when a retry goes elsewhere.
    var node: Int
    var reason: DecisionReason
    let start: NIODeadline
    /// Nodes tried before the current one, in order.
    var tried: [Int] = []
    /// Set when the client sent no Host (HTTP/1.0): each attempt names its own node as Host.
    let hostFromNode: Bool
    /// Where the request carried the session id behind a known route (a string is made of it only
    /// when asked: ``sessionID``), and its ``SessionHash``, which drain counts.
    var sessionPlace: SessionIDPlace?
    var sessionHash: UInt64?
    /// The protocols the request asked to upgrade to, passed to the node (``UpgradeOffer``): a 101
    /// from the node opens a tunnel. `nil`: not an upgrade, or one whose `Upgrade` was removed.
    var upgrade: String?
    var owner: Int?
    var hadOwnerCookie = false
    /// The session cookies the node set in its response (counted for drain when the exchange ends).
    var issuedSessions: [IssuedSession] = []

    var queueTimer: Scheduled<Void>?
    var upstream: UpstreamConnection?
    /// The exchange's phase and the rules that move it.
    var machine: ExchangeStateMachine
    var requestBodyBytes = 0
    /// How the response body goes to the client, decided with the final head.
    var framing = ResponseFraming()
    var responseBytes = 0

    init(
        request: ClientRequestHead,
        hostFromNode: Bool,
        lookup: RouteLookup,
        cluster: ClusterRuntime,
        node: Int,
        reason: DecisionReason,
        start: NIODeadline
    ) {
        self.request = request
        self.hostFromNode = hostFromNode
        self.lookup = lookup
        self.cluster = cluster
        self.node = node
        self.reason = reason
        self.start = start
        self.machine = ExchangeStateMachine(
            clientKeepAlive: request.isKeepAlive && !MessageFraming.asksForUpgrade(request),
            retryBodyLimit: cluster.config.failover.retryBodyLimit
        )
    }

    var nodeConfig: NodeConfig { cluster.config.nodes[node] }

    /// The session id behind a known route, for `failback: stay` and for forgetting a session the
    /// node replaced.
    var sessionID: Substring? { Self.sessionID(at: sessionPlace, in: request) }

    static func sessionID(at place: SessionIDPlace?, in request: ClientRequestHead) -> Substring? {
        switch place {
        case .target(let slice): slice
        case .cookie(let line, let range):
            request.fields.withValueBytes(.cookie) { String(decoding: UnsafeRawBufferPointer(rebasing: $0[line][range]), as: UTF8.self)[...] }
        case nil: nil
        }
    }

    var key: NodeKey { NodeKey(cluster: cluster.index, node: node) }

    /// ``UpgradeOffer``'s verdict on a request head.
    static func upgradeOffer(_ head: ClientRequestHead) -> UpgradeOffer.Outcome {
        guard head.framing.upgrade else { return .none }
        let tokens = head.values(.connection).flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: " \t").lowercased() }
        // A WebSocket over HTTP/2 goes to the node as an HTTP/1.1 opening handshake (RFC 8441 §5).
        let version = head.webSocketOverHTTP2 ? HTTPVersion.http1_1 : head.version
        return UpgradeOffer.evaluate(
            versionMinor: version.minor, versionMajor: version.major, method: head.method.rawValue,
            connectionTokens: tokens, upgradeValues: head.values(.upgrade), hasBody: MessageFraming.requestHasBody(head))
    }

    /// What ``RetryRule`` needs to know about this exchange's failed attempt.
    /// `now` is on the clock ``start`` was read from (the event loop's).
    func attempt(failedWith failure: UpstreamFailure, at now: NIODeadline) -> RetryRule.Attempt {
        machine.attempt(
            failedWith: failure,
            reusedConnection: (upstream?.uses ?? 0) > 0,
            nodesTried: tried.count,
            elapsed: Duration(start, now),
            idempotent: isIdempotent,
            hasNoBody: !MessageFraming.requestHasBody(request)
        )
    }

    /// RFC 9110 §9.2.2: only these may be sent again without the client asking.
    var isIdempotent: Bool {
        switch request.method {
        case .GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE: true
        default: false
        }
    }
}

extension Duration {
    /// The time between two NIO deadlines.
    init(_ start: NIODeadline, _ end: NIODeadline) {
        self = .nanoseconds((end - start).nanoseconds)
    }
}
