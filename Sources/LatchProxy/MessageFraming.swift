import NIOHTTP1

/// Where HTTP/1.1 messages end (RFC 9112 §6): the rules Latch applies to requests and responses, in
/// one place.
enum MessageFraming {
    /// The head says a body follows — `Transfer-Encoding`, or a `Content-Length` other than 0 — which
    /// is known before the body has been read (RFC 9112 §6.3).
    static func requestHasBody(_ head: HTTPRequestHead) -> Bool {
        head.headers.contains(name: "transfer-encoding")
            || (head.headers.first(name: "content-length").map { $0 != "0" } ?? false)
    }

    /// The response's body is delimited by the connection closing (RFC 9112 §6.3 rule 8): such a
    /// connection can never be reused.
    static func isCloseDelimited(_ status: HTTPResponseStatus, _ fields: ResponseFields, requestMethod: HTTPMethod) -> Bool {
        if requestMethod.isHEAD || !status.mayHaveResponseBody { return false }
        return fields.contentLength == nil && !fields.transferEncoding
    }

    /// Whether the client can be told where the response body ends without a close: an HTTP/1.0
    /// client cannot be sent chunks, so a body of unknown length ends with the connection.
    static func clientCanFrame(_ status: HTTPResponseStatus, _ fields: ResponseFields, request: HTTPRequestHead) -> Bool {
        !request.version.isHTTP10 || fields.contentLength != nil || request.method.isHEAD || !status.mayHaveResponseBody
    }

    /// A request that asks to switch protocols (RFC 9110 §7.8) or CONNECT: the request parser stops
    /// parsing the connection after it, so the client connection must close after the answer.
    static func asksForUpgrade(_ head: HTTPRequestHead) -> Bool {
        head.method.isCONNECT || head.headers.contains(name: "upgrade")
    }
}

/// What the framing and persistence rules need from a node's response head, found in one pass over its
/// fields (each name compared as bytes, ``FieldName``) instead of a case-insensitive search per rule.
struct ResponseFields: Equatable {
    /// The first `Content-Length` value.
    var contentLength: String?
    var transferEncoding = false
    var setCookie = false
    /// `Connection` tokens (RFC 9112 §9.3, §9.6).
    var close = false
    var keepAlive = false

    init(_ headers: HTTPHeaders) {
        for (name, value) in headers {
            switch FieldName(name) {
            case .contentLength: if contentLength == nil { contentLength = value }
            case .transferEncoding: transferEncoding = true
            case .setCookie: setCookie = true
            case .connection:
                var value = value
                value.withUTF8 { bytes in
                    for token in bytes.split(separator: UInt8(ascii: ",")) {
                        let token = UnsafeBufferPointer(rebasing: token).trimmingBlanks
                        if equalsIgnoringASCIICase(token, "close") { close = true }
                        if equalsIgnoringASCIICase(token, "keep-alive") { keepAlive = true }
                    }
                }
            default: break
            }
        }
    }

    /// Whether the node keeps the connection open after this response (RFC 9112 §9.3), as NIOHTTP1
    /// decides it: `close` wins, then `keep-alive`; without either, HTTP/1.1 does and HTTP/1.0 does not.
    func isKeepAlive(_ version: HTTPVersion) -> Bool {
        if close { return false }
        return keepAlive || (version.major == 1 && version.minor >= 1)
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// Without leading and trailing spaces and tabs (RFC 9110 §5.6.1's optional whitespace).
    var trimmingBlanks: UnsafeBufferPointer<UInt8> {
        var first = startIndex
        var last = endIndex
        while first < last, self[first] == UInt8(ascii: " ") || self[first] == UInt8(ascii: "\t") { first += 1 }
        while last > first, self[last - 1] == UInt8(ascii: " ") || self[last - 1] == UInt8(ascii: "\t") { last -= 1 }
        return UnsafeBufferPointer(rebasing: self[first..<last])
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
    static func frame(_ head: inout HTTPResponseHead, requestMethod: HTTPMethod, hasContentLength: Bool) -> ResponseFraming {
        var framing = ResponseFraming(suppressBody: requestMethod.isHEAD)
        if !head.status.mayHaveResponseBody {
            head.headers.remove(name: "content-length")
            head.headers.remove(name: "transfer-encoding")
            framing.suppressBody = true
        } else if hasContentLength {
            // Nothing to remove: the head comes from ``HeaderRewriter``, which drops Transfer-Encoding.
        } else if head.version.minor >= 1 {
            head.headers.replaceOrAdd(name: "transfer-encoding", value: "chunked")
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
    case length(String)
    case chunked

    /// - Parameters:
    ///   - chunked: the client's body came chunked.
    ///   - contentLength: the client's `Content-Length`, as the parser validated it.
    static func framing(method: HTTPMethod, chunked: Bool, contentLength: String?) -> RequestFraming {
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
