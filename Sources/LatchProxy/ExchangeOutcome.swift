import NIOCore
import NIOHTTP1

/// What one request came to, in the access log's terms: built once when it ends, whichever way it
/// ended (relayed, answered by Latch, refused before it parsed).
struct ExchangeOutcome {
    /// `nil` for bytes that never became a request (a parse error).
    var request: ClientRequestHead?
    var cluster: String?
    var node: String?
    var reason: String
    var retries = 0
    var status: Int?
    var bytes = 0
    var start: NIODeadline?
    var error: String?

    init(
        request: ClientRequestHead? = nil, cluster: String? = nil, node: String? = nil, reason: String, status: Int?,
        start: NIODeadline? = nil, error: String?
    ) {
        self.request = request
        self.cluster = cluster
        self.node = node
        self.reason = reason
        self.status = status
        self.start = start
        self.error = error
    }

    /// A relayed exchange, as its state machine left it.
    init(_ exchange: Exchange) {
        self.init(
            request: exchange.request,
            cluster: exchange.cluster.config.name,
            node: exchange.nodeConfig.name,
            reason: exchange.reason.rawValue,
            status: exchange.machine.responseStatus.map { Int($0.code) },
            start: exchange.start,
            error: exchange.machine.failure?.logDescription
        )
        retries = exchange.tried.count
        bytes = exchange.responseBytes
    }

    /// `end`: when it ended, on the clock `start` was read from (the event loop's).
    func entry(client: String, end: NIODeadline? = nil) -> AccessLog.Entry {
        AccessLog.Entry(
            client: client,
            method: request?.method.rawValue ?? "-",
            target: request?.target ?? "-",
            cluster: cluster,
            node: node,
            reason: reason,
            retries: retries,
            status: status,
            bytes: bytes,
            duration: start.map { (end ?? .now()) - $0 } ?? .zero,
            error: error,
            headers: request.map { AccessLogFormatter.ClientHeaders(referer: $0.first(.referer), userAgent: $0.first(.userAgent)) }
                ?? AccessLogFormatter.ClientHeaders(),
            version: request.map { "HTTP/\($0.version.major).\($0.version.minor)" } ?? "-"
        )
    }
}
