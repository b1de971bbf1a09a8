/// When a request whose attempt failed is sent again, and where: the rule of RFC 9110 §9.2.2 and
/// `../shared/notes/http-hardening.md`, as one pure value the proxy asks after every failed attempt.
///
/// - **The same node, on a fresh connection, once:** a pooled keep-alive connection the node had
///   already closed (its keep-alive timeout crossed ours) loses a request that never reached the
///   application. A bodiless idempotent request is sent once more on a new connection; that failure
///   is not the node's fault.
/// - **Another node:** when the node never saw the request (the connect failed), any request may
///   go elsewhere; once request bytes were written, only an idempotent request whose whole body was
///   kept (`retry_body_limit`), and only while no response byte reached the client. Always within
///   `retries` other nodes and one `retry_timeout` for the request and all its retries.
/// - Otherwise the attempt's failure is the request's answer (502, 504) or cuts the connection.
public struct RetryRule: Sendable, Equatable {
    /// Other nodes a failed request may be sent to (`retries`).
    public var retries: Int
    /// One deadline for a request and all its retries (`retry_timeout`).
    public var retryTimeout: Duration

    public init(retries: Int, retryTimeout: Duration) {
        self.retries = retries
        self.retryTimeout = retryTimeout
    }

    public init(_ failover: FailoverConfig) {
        self.init(retries: failover.retries, retryTimeout: failover.retryTimeout)
    }

    /// How an attempt failed, as far as retrying cares.
    public enum Failure: Sendable, Equatable, CaseIterable {
        /// No connection: refused, timed out, TLS handshake failed. The node never saw the request.
        case connectFailed
        /// The node's connection closed before a whole response head (or it answered nonsense).
        case connectionLost
        /// The node's connection broke after the response head: the client has part of an answer.
        case lostMidResponse
        /// The node made no progress within `upstream_response`.
        case timeout
        /// Anything that is not the node's connection failing (the client, a queue, a refusal).
        case other
    }

    /// What is known about the request and the failed attempt when the rule is asked.
    public struct Attempt: Sendable, Equatable {
        public var failure: Failure
        /// The attempt ran on a pooled connection that had served requests before.
        public var reusedConnection = false
        /// The same-connection retry was already made for this request.
        public var retriedOnFreshConnection = false
        /// A final response head arrived from the node (even if not yet sent on).
        public var responseHeadReceived = false
        /// Response bytes reached the client.
        public var responseStarted = false
        /// Request bytes were written to this attempt's connection.
        public var wroteRequest = false
        /// GET, HEAD, OPTIONS, TRACE, PUT, DELETE (RFC 9110 §9.2.2).
        public var idempotent = true
        /// The request visibly has no body (no Transfer-Encoding, no or a zero Content-Length).
        public var hasNoBody = true
        /// The whole body is still kept for a resend (within `retry_body_limit`).
        public var bodyKept = true
        /// Nodes already tried before this attempt's.
        public var nodesTried = 0
        /// Since the request's head arrived.
        public var elapsed: Duration = .zero

        public init(failure: Failure) {
            self.failure = failure
        }
    }

    public enum Verdict: Sendable, Equatable {
        /// Once more to the same node on a new connection: the pooled one was stale.
        case sameNodeFreshConnection
        /// To the next candidate node (the node choice again, with the nodes tried excluded).
        case anotherNode
        /// No retry: answer the failure, or cut the connection if the response has begun.
        case fail
    }

    public func verdict(_ attempt: Attempt) -> Verdict {
        if Self.staleConnection(attempt), !attempt.retriedOnFreshConnection, !attempt.responseStarted,
            attempt.hasNoBody, attempt.idempotent
        {
            return .sameNodeFreshConnection
        }
        guard attempt.nodesTried < retries, !attempt.responseStarted, !attempt.responseHeadReceived,
            attempt.elapsed < retryTimeout
        else { return .fail }
        switch attempt.failure {
        case .connectFailed:
            return .anotherNode
        case .connectionLost:
            return !attempt.wroteRequest || (attempt.idempotent && attempt.bodyKept) ? .anotherNode : .fail
        case .lostMidResponse, .timeout, .other:
            return .fail
        }
    }

    /// Whether the failure says the node is unwell (for passive detection). A pooled connection the
    /// node had closed while idle says nothing about the node: it is its keep-alive timeout.
    public func countsAgainstNode(_ attempt: Attempt) -> Bool {
        !Self.staleConnection(attempt)
    }

    /// A reused connection lost before any response: most likely closed by the node while idle.
    private static func staleConnection(_ attempt: Attempt) -> Bool {
        attempt.reusedConnection && !attempt.responseHeadReceived
            && (attempt.failure == .connectionLost || attempt.failure == .lostMidResponse)
    }
}
