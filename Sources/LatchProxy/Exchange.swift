import LatchCore
import NIOCore
import NIOHTTP1

/// One request/response exchange on a client connection, from the request head to the end of the
/// response (or the error that replaced it). Owned by the client connection's event loop.
final class Exchange {
    let request: HTTPRequestHead
    let upstreamHead: HTTPRequestHead
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
    /// `failback: stay` only: the session id behind a known route, and whether the request carried
    /// an owner cookie.
    var sessionID: Substring?
    /// The protocols the request asked to upgrade to, passed to the node (``UpgradeOffer``): a 101
    /// from the node opens a tunnel. `nil`: not an upgrade, or one whose `Upgrade` was removed.
    var upgrade: String?
    var owner: Int?
    var hadOwnerCookie = false
    /// The session cookies the node set in its response (counted for drain when the exchange ends).
    var issuedSessions: [IssuedSession] = []

    /// Counted in flight on `node` (admitted under its `max_connections`): `finished(node:)` is owed.
    var holdsSlot = false
    /// Waiting in `node`'s queue with this ticket.
    var queueTicket: UInt64?
    var queueTimer: Scheduled<Void>?

    var upstream: UpstreamConnection?
    /// Request parts that arrived while the upstream connection was being opened. Bounded: the
    /// client side stops reading until the upstream is connected, so at most one read's worth waits.
    var buffered: [HTTPClientRequestPart] = []
    /// Every body part and the end, kept while they fit in `retry_body_limit`, so an idempotent request
    /// can be sent again after bytes were written; `nil` once the body outgrew the limit.
    var kept: [HTTPClientRequestPart]? = []
    private var keptBytes = 0
    /// Request bytes were written to the current attempt's connection.
    var wroteToUpstream = false
    var requestEnded = false
    var requestBodyBytes = 0
    var responseStatus: HTTPResponseStatus?
    /// The final response head, rewritten for the client, until it is written (see `responseStarted`).
    var pendingHead: HTTPResponseHead?
    /// How the response body goes to the client, decided with the final head.
    var framing = ResponseFraming()
    /// The final (non-1xx) response head went to the client: from here an error can only close.
    var responseStarted = false
    var responseBytes = 0
    var clientKeepAlive: Bool
    var upstreamReusable = false
    var retried = false
    var failure: UpstreamFailure?

    init(
        request: HTTPRequestHead,
        upstreamHead: HTTPRequestHead,
        lookup: RouteLookup,
        cluster: ClusterRuntime,
        node: Int,
        reason: DecisionReason,
        start: NIODeadline
    ) {
        self.request = request
        self.upstreamHead = upstreamHead
        self.lookup = lookup
        self.cluster = cluster
        self.node = node
        self.reason = reason
        self.start = start
        self.hostFromNode = !upstreamHead.headers.contains(name: "host")
        self.clientKeepAlive = request.isKeepAlive && !Exchange.asksForUpgrade(request)
    }

    var nodeConfig: NodeConfig { cluster.config.nodes[node] }

    /// The head for the current attempt's node.
    var headForNode: HTTPRequestHead {
        guard hostFromNode else { return upstreamHead }
        var head = upstreamHead
        // The node gets HTTP/1.1, which requires Host (RFC 9112 §3.2); name the node, as nginx's
        // default `proxy_set_header Host $proxy_host` does.
        head.headers.add(name: "Host", value: nodeConfig.address.description)
        return head
    }

    /// Remembers a request part for a possible retry, within `limit` body bytes.
    func keep(_ part: HTTPClientRequestPart, limit: Int) {
        guard kept != nil else { return }
        if case .body(.byteBuffer(let buffer)) = part {
            keptBytes += buffer.readableBytes
            if keptBytes > limit {
                kept = nil
                return
            }
        }
        kept?.append(part)
    }
    var key: NodeKey { NodeKey(cluster: cluster.index, node: node) }

    /// The head says there is no body (no Transfer-Encoding, Content-Length absent or 0): known before
    /// the request's end has been read.
    var requestHasNoBody: Bool {
        !request.headers.contains(name: "transfer-encoding")
            && (request.headers.first(name: "content-length").map { $0 == "0" } ?? true)
    }

    /// A request that asks to switch protocols (RFC 9110 §7.8) or CONNECT: NIOHTTP1's decoder stops
    /// parsing the connection after it, so the client connection must close after the answer.
    static func asksForUpgrade(_ head: HTTPRequestHead) -> Bool {
        head.method == .CONNECT || head.headers.contains(name: "upgrade")
    }

    /// ``UpgradeOffer``'s verdict on a request head.
    static func upgradeOffer(_ head: HTTPRequestHead) -> UpgradeOffer.Outcome {
        guard head.headers.contains(name: "upgrade") else { return .none }
        let tokens = head.headers["connection"].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: " \t").lowercased() }
        let hasBody = head.headers.contains(name: "transfer-encoding")
            || head.headers["content-length"].contains { $0 != "0" }
        return UpgradeOffer.evaluate(
            versionMinor: head.version.minor, versionMajor: head.version.major, method: head.method.rawValue,
            connectionTokens: tokens, upgradeValues: head.headers["upgrade"], hasBody: hasBody)
    }

    /// RFC 9110 §9.2.2: only these may be sent again without the client asking.
    /// What ``RetryRule`` needs to know about this exchange's failed attempt.
    func attempt(failedWith failure: UpstreamFailure) -> RetryRule.Attempt {
        var attempt = RetryRule.Attempt(failure: failure.retryKind)
        attempt.reusedConnection = (upstream?.uses ?? 0) > 0
        attempt.retriedOnFreshConnection = retried
        attempt.responseHeadReceived = responseStatus != nil
        attempt.responseStarted = responseStarted
        attempt.wroteRequest = wroteToUpstream
        attempt.idempotent = isIdempotent
        attempt.hasNoBody = requestHasNoBody
        attempt.bodyKept = kept != nil
        attempt.nodesTried = tried.count
        attempt.elapsed = Duration(start, .now())
        return attempt
    }

    var isIdempotent: Bool {
        switch request.method {
        case .GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE: true
        default: false
        }
    }

    /// Whether the upstream response's body is delimited by the connection closing (RFC 9112 §6.3
    /// rule 8): such a connection can never be reused.
    static func isCloseDelimited(_ head: HTTPResponseHead, requestMethod: HTTPMethod) -> Bool {
        if requestMethod == .HEAD || !head.status.mayHaveResponseBody { return false }
        if head.headers.contains(name: "content-length") { return false }
        if head.headers.contains(name: "transfer-encoding") { return false }
        return true
    }
}
