import NIOHTTP1

/// Where HTTP/1.1 messages end (RFC 9112 §6): the rules Latch applies to requests and responses, in
/// one place.
enum MessageFraming {
    /// The head says a body follows — `Transfer-Encoding`, or a `Content-Length` other than 0 — which
    /// is known before the body has been read (RFC 9112 §6.3).
    static func requestHasBody(_ head: ClientRequestHead) -> Bool {
        head.framing.transferEncoding || (head.framing.contentLength ?? 0) != 0
    }

    /// The response's body is delimited by the connection closing (RFC 9112 §6.3 rule 8): such a
    /// connection can never be reused.
    static func isCloseDelimited(_ status: HTTPResponseStatus, _ fields: ResponseFields, requestMethod: HTTPMethod) -> Bool {
        if requestMethod.isHEAD || !status.mayHaveResponseBody { return false }
        return fields.contentLength == nil && !fields.transferEncoding
    }

    /// Whether the client can be told where the response body ends without a close: an HTTP/1.0
    /// client cannot be sent chunks, so a body of unknown length ends with the connection.
    static func clientCanFrame(_ status: HTTPResponseStatus, _ fields: ResponseFields, request: ClientRequestHead) -> Bool {
        !request.version.isHTTP10 || fields.contentLength != nil || request.method.isHEAD || !status.mayHaveResponseBody
    }

    /// A request that asks to switch protocols (RFC 9110 §7.8) or CONNECT: the request parser stops
    /// parsing the connection after it, so the client connection must close after the answer.
    static func asksForUpgrade(_ head: ClientRequestHead) -> Bool {
        head.method.isCONNECT || head.framing.upgrade
    }
}

/// How a response's body goes to the client, decided from its head as NIOHTTP1's encoder did
/// (RFC 9112 §6.1–§6.3): no body for 1xx, 204 and 304 (their length fields are dropped); the node's
/// `Content-Length` when it sent one; otherwise chunked for an HTTP/1.1 client, and delimited by closing
/// the connection for an HTTP/1.0 one. A response to `HEAD` keeps the fields a `GET` would have had but
/// sends no body bytes and no last chunk.
struct ResponseFraming {
    var chunked = false
    var suppressBody = false

    /// Adjusts `head`'s framing fields and returns how its body is to be sent. `hasContentLength`:
    /// the head carries `Content-Length` (``ResponseFields``, as ``HeaderRewriter`` keeps it).
    static func frame(_ head: ClientResponseHead, requestMethod: HTTPMethod, hasContentLength: Bool) -> ResponseFraming {
        var framing = ResponseFraming(suppressBody: requestMethod.isHEAD)
        if !head.status.mayHaveResponseBody {
            head.relayed.drop { line, _, _ in line.name == .contentLength || line.name == .transferEncoding }
            framing.suppressBody = true
        } else if hasContentLength {
            // Nothing to remove: the head comes from ``HeaderRewriter``, which drops Transfer-Encoding.
        } else if head.version.minor >= 1 {
            head.chunked = true
            framing.chunked = !framing.suppressBody
        }
        return framing
    }
}

/// How a request body goes to a node (RFC 9112 §6.1–§6.3, RFC 9110 §9.3.8), as NIOHTTP1's request
/// encoder decided it: TRACE carries none (its length fields are dropped); `Content-Length` is kept;
/// `chunked` is kept; a POST, PUT or PATCH with neither is sent chunked (and ends with an empty last
/// chunk). Pure.
enum RequestFraming: Equatable {
    case none
    case length(Int)
    case chunked

    /// - Parameters:
    ///   - chunked: the client's body came chunked.
    ///   - contentLength: the client's `Content-Length`, as the parser validated it.
    static func framing(method: HTTPMethod, chunked: Bool, contentLength: Int?) -> RequestFraming {
        switch method {
        case .TRACE:
            return .none
        case .POST, .PUT, .PATCH:
            if !chunked, let contentLength { return .length(contentLength) }
            return .chunked
        default:
            if chunked { return .chunked }
            return contentLength.map { .length($0) } ?? .none
        }
    }
}
