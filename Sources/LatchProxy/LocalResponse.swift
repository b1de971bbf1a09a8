import LatchCore
import NIOCore
import NIOHTTP1

/// An answer Latch gives itself — a refusal, an error in place of the node's response, a redirect: a
/// short plain-text body such as `502 Bad Gateway: the application server failed to answer`. The
/// texts are short and stable; details (node, address, errno) go to the log, not to the internet.
struct LocalResponse {
    var status: HTTPResponseStatus
    var detail: String
    /// The connection stays open after it.
    var keepAlive: Bool
    /// A response to HEAD carries the fields a GET would have had, without the body (RFC 9110 §9.3.2).
    var headRequest = false
    var extraHeaders: [(String, String)] = []

    var body: String { "\(status.code) \(status.reasonPhrase): \(detail)\n" }

    /// The head, in the client's HTTP version (1.0 or 1.1).
    func head(clientVersion: HTTPVersion) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if clientVersion.isHTTP10 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        return HTTPResponseHead(version: clientVersion.isHTTP10 ? .http1_0 : .http1_1, status: status, headers: headers)
    }

    /// The answer to an exchange that failed before its response began.
    static func replacing(_ failure: UpstreamFailure, status: HTTPResponseStatus, keepAlive: Bool, headRequest: Bool) -> LocalResponse {
        var detail = message(for: status)
        if case .clientRejected(_, let why) = failure { detail = why }
        if failure == .queueTimedOut { detail = busyMessage }
        return LocalResponse(status: status, detail: detail, keepAlive: keepAlive, headRequest: headRequest)
    }

    /// What a failure becomes for the client when nothing of the response was written yet.
    static func status(for failure: UpstreamFailure) -> HTTPResponseStatus {
        switch failure {
        case .timeout, .connectTimedOut: .gatewayTimeout
        case .clientTimedOut: .requestTimeout
        case .clientRejected(let refusal, _): refusal
        case .rejectedAfterFailure, .queueTimedOut: .serviceUnavailable
        default: .badGateway
        }
    }

    static func message(for status: HTTPResponseStatus) -> String {
        switch status {
        case .badGateway: "the application server failed to answer"
        case .gatewayTimeout: "the application server did not answer in time"
        case .serviceUnavailable: "no application server is available"
        case .requestTimeout: "the request body stopped arriving"
        case .payloadTooLarge: "the request body is too large"
        default: status.reasonPhrase
        }
    }

    /// A node at `max_connections` with a full queue, or no slot within `queue_timeout`.
    static let busyMessage = "the application server is busy, try again shortly"

    /// `308 Permanent Redirect` to the same host and target on https: 308 rather than 301 so a POST
    /// stays a POST (RFC 9110 §15.4.9). Without a Host there is nowhere to send the client: 400.
    static func redirect(_ head: ClientRequestHead, toHTTPSPort port: Int) -> (response: LocalResponse, reason: String) {
        guard let location = HTTPSRedirect.location(host: head.host, target: head.target, port: port) else {
            return (LocalResponse(status: .badRequest, detail: "a redirect to https needs the Host header", keepAlive: false), "rejected")
        }
        return (
            LocalResponse(status: .permanentRedirect, detail: "moved to \(location)", keepAlive: true, extraHeaders: [("Location", location)]),
            "redirect"
        )
    }
}
