import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP1

/// Why an HTTP/2 request's header block is malformed (RFC 9113 §8.1.1): the stream is answered 400
/// with these words (§8.1.1 allows a response before the stream ends), and nothing reaches a node.
struct HTTP2MalformedRequest: Error, Equatable {
    let message: String
}

extension ClientRequestHead {
    /// An HTTP/2 request's header block (RFC 9113 §8.3.1) checked and read into a head in one pass:
    /// the fields as an HTTP/2-to-HTTP/1 gateway hands them on — `Host` from `:authority` first
    /// when the block has none, `Content-Length: 0` or `Transfer-Encoding: chunked` for a method that
    /// expects a body and framed none — with the `Cookie` fields joined into one with "; " (§8.2.3:
    /// toward an HTTP/1.1 node they must be), and no NIOHTTP1 head and header list made in between.
    ///
    /// The block's rules are checked here, as the fields are read (swift-nio-http2's own check of the
    /// same rules cost more than an eighth of all Latch did per stream): pseudo-header fields known, each at
    /// most once and before the others (§8.3), `:method`, `:scheme` and `:path` present, `:path` not
    /// empty; names lower-case tokens and values without CR, LF or NUL (§8.2.1); no
    /// connection-specific field, and `TE` only as `trailers` (§8.2.2).
    ///
    /// A CONNECT with `:protocol: websocket` (RFC 8441 §4) becomes the GET of a WebSocket opening
    /// handshake (RFC 8441 §5: the node is spoken to in HTTP/1.1): `Connection: Upgrade`,
    /// `Upgrade: websocket`, and a `Sec-WebSocket-Key` of Latch's making, which HTTP/2 clients do not
    /// send (§5). Any other `:protocol` stays a CONNECT, which Latch refuses.
    convenience init(http2 block: HPACKHeaders, endStream: Bool) throws(HTTP2MalformedRequest) {
        var method: String?
        var scheme = false
        var path: String?
        var authority: String?
        var extendedProtocol: String?
        var host: String?
        var hasLength = false
        var cookies = 0
        var regular = false
        for (name, value, _) in block {
            guard name.utf8.first == UInt8(ascii: ":") else {
                regular = true
                switch name {
                case "host": if host == nil { host = value }
                case "content-length": hasLength = true
                case "cookie": cookies += 1
                default: break
                }
                continue
            }
            guard !regular else { throw HTTP2MalformedRequest(message: "the pseudo-header field \(name) after other fields (RFC 9113 §8.3)") }
            guard Self.isPseudoValue(value) else { throw HTTP2MalformedRequest(message: "CR, LF or NUL in \(name)") }
            func once<T>(_ seen: T?) throws(HTTP2MalformedRequest) {
                guard seen == nil else { throw HTTP2MalformedRequest(message: "\(name) more than once") }
            }
            switch name {
            case ":method":
                try once(method)
                method = value
            case ":path":
                try once(path)
                guard !value.isEmpty else { throw HTTP2MalformedRequest(message: "an empty :path") }
                path = value
            case ":scheme":
                try once(scheme ? true : nil)
                scheme = true
            case ":authority":
                try once(authority)
                authority = value
            case ":protocol":
                try once(extendedProtocol)
                extendedProtocol = value
            default:
                throw HTTP2MalformedRequest(message: "the unknown pseudo-header field \(name)")
            }
        }
        guard let method else { throw HTTP2MalformedRequest(message: "no :method") }
        if extendedProtocol != nil, method != "CONNECT" {
            throw HTTP2MalformedRequest(message: ":protocol in a \(method) request (RFC 8441 §4: CONNECT only)")
        }
        // A CONNECT without `:protocol` names only an authority (§8.5), its target; Latch is no
        // forward proxy and answers it 501 as on HTTP/1.1.
        let plainConnect = method == "CONNECT" && extendedProtocol == nil
        guard let path = plainConnect ? authority : path else {
            throw HTTP2MalformedRequest(message: plainConnect ? "CONNECT without :authority" : "no :path")
        }
        guard scheme || plainConnect else { throw HTTP2MalformedRequest(message: "no :scheme") }
        var verb = HTTPMethod(rawValue: method)
        var bytes = ByteBuffer()
        bytes.reserveCapacity(256)
        if host == nil, let authority { FieldLines.writeChecked(name: "host", value: authority, to: &bytes) }
        let webSocket = verb == .CONNECT && extendedProtocol?.lowercased() == "websocket"
        if webSocket {
            verb = .GET
            bytes.writeStaticString("connection: upgrade\r\nupgrade: websocket\r\n")
            FieldLines.write(name: "sec-websocket-key", value: Self.webSocketKey(), to: &bytes)
        }
        switch verb {
        case .GET, .HEAD, .DELETE, .CONNECT, .TRACE:
            break
        default:
            if !hasLength {
                if endStream {
                    bytes.writeStaticString("content-length: 0\r\n")
                } else {
                    bytes.writeStaticString("transfer-encoding: chunked\r\n")
                }
            }
        }
        var joined: [String] = []
        for (name, value, _) in block where name.utf8.first != UInt8(ascii: ":") {
            if cookies > 1, name == "cookie" {
                try Self.check(name: name, value: value)
                joined.append(value)
                continue
            }
            try Self.write(name: name, value: value, to: &bytes)
        }
        // Joined once, in linear time: a block of many small cookie fields must not cost their square.
        if !joined.isEmpty { FieldLines.writeChecked(name: "cookie", value: joined.joined(separator: "; "), to: &bytes) }
        let conflict = host.flatMap { host in authority.map { !Self.sameAuthority(host, $0) } } ?? false
        do {
            try self.init(
                version: HTTPVersion(major: 2, minor: 0), method: verb, target: path, unparsed: consume bytes, webSocketOverHTTP2: webSocket,
                authorityConflict: conflict)
        } catch {
            throw HTTP2MalformedRequest(message: ParseErrorAnswer(error).message)
        }
    }

    /// A trailer block (RFC 9113 §8.1): the same rules as a head's fields, and no pseudo-header field.
    static func http2Trailers(_ block: HPACKHeaders) throws(HTTP2MalformedRequest) -> HTTPHeaders {
        var trailers = HTTPHeaders()
        for (name, value, _) in block {
            guard name.utf8.first != UInt8(ascii: ":") else {
                throw HTTP2MalformedRequest(message: "the pseudo-header field \(name) in trailers (RFC 9113 §8.1)")
            }
            try check(name: name, value: value)
            trailers.add(name: name, value: value)
        }
        return trailers
    }

    /// One field line of the head, checked as it is written.
    private static func write(name: String, value: String, to bytes: inout ByteBuffer) throws(HTTP2MalformedRequest) {
        try check(name: name, value: value)
        FieldLines.writeChecked(name: name, value: value, to: &bytes)
    }

    /// §8.2.1 and §8.2.2 on one field.
    static func check(name: String, value: String) throws(HTTP2MalformedRequest) {
        var name = name
        var value = value
        let nameValid = name.withUTF8 { bytes in !bytes.isEmpty && bytes.allSatisfy(isLowerCaseTokenByte) }
        guard nameValid else {
            throw HTTP2MalformedRequest(message: "the field name \"\(name)\", not a lower-case token (RFC 9113 §8.2.1)")
        }
        guard value.withUTF8(HTTPWire.isValidValue) else { throw HTTP2MalformedRequest(message: "CR, LF or NUL in the field \(name)") }
        switch name {
        case "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade":
            throw HTTP2MalformedRequest(message: "the connection-specific field \(name) (RFC 9113 §8.2.2)")
        case "te" where value != "trailers":
            throw HTTP2MalformedRequest(message: "TE other than \"trailers\" (RFC 9113 §8.2.2)")
        default:
            break
        }
    }

    /// A token byte that is not an upper-case letter (RFC 9113 §8.2.1; RFC 9110 §5.6.2).
    static func isLowerCaseTokenByte(_ byte: UInt8) -> Bool {
        HTTPSyntax.isTokenByte(byte) && !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    /// Pseudo-header values become the request line toward the node: no CR, LF or NUL.
    private static func isPseudoValue(_ value: String) -> Bool {
        var value = value
        return value.withUTF8(HTTPWire.isValidValue)
    }

    /// A WebSocket opening handshake's nonce: 16 random bytes, base64 (RFC 6455 §4.1).
    static func webSocketKey() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
    }

    /// The same authority, any case, with or without the `https` default port (RFC 3986 §6.2.3).
    static func sameAuthority(_ a: String, _ b: String) -> Bool {
        func normal(_ text: String) -> Substring {
            let lower = text.lowercased()[...]
            return lower.hasSuffix(":443") ? lower.dropLast(4) : lower
        }
        return a == b || normal(a) == normal(b)
    }
}
