import NIOCore
import NIOHTTP1

/// A client's request head as Latch reads it: the request line, the field lines kept as the bytes
/// they came in (``FieldLines``), and what they say about framing and the connection, noted by the
/// parser in the same pass. Validation, routing and the node's head (``HeaderRewriter``) read it
/// without a `String` per field; the lines that pass through are copied to the node as bytes.
///
/// A class, never changed once read: the head goes from the parser through the connection's state
/// machine to the exchange, the node's head and the access log, and a struct of this many references
/// cost a retain and a release of each at every hand-over.
final class ClientRequestHead: Equatable, Sendable {
    let version: HTTPVersion
    let method: HTTPMethod
    let target: String
    let fields: FieldLines
    let framing: HTTP1Fields.Framing
    /// The method and target came through ``HTTP1RequestParser``, which takes only a token method and
    /// a target of visible ASCII: ``RequestValidator`` need not look at them again.
    let requestLineChecked: Bool
    /// The first `Host` value: routing, validation and the node's head each read it, made a string once.
    let host: String?
    /// An HTTP/2 stream's extended CONNECT for a WebSocket (RFC 8441 §4), read as the HTTP/1.1
    /// opening handshake the node gets (RFC 6455 §4.1): the stream becomes the tunnel on a 101.
    let webSocketOverHTTP2: Bool
    /// An HTTP/2 request whose `Host` names another authority than its `:authority`: malformed
    /// (RFC 9113 §8.3.1), refused by ``RequestValidator``.
    let authorityConflict: Bool

    init(
        version: HTTPVersion, method: HTTPMethod, target: String, fields: consuming FieldLines, framing: HTTP1Fields.Framing,
        requestLineChecked: Bool = false, webSocketOverHTTP2: Bool = false, authorityConflict: Bool = false
    ) {
        self.version = version
        self.method = method
        self.target = target
        self.framing = framing
        self.requestLineChecked = requestLineChecked
        self.webSocketOverHTTP2 = webSocketOverHTTP2
        self.authorityConflict = authorityConflict
        // Not `.map(fields.value(of:))`: a partial application captures a copy of the lines.
        if let line = fields.lines.first(where: { $0.name == .host }) {
            self.host = fields.value(of: line)
        } else {
            self.host = nil
        }
        // Last, so the lines move in: a copy is a retain and a release of the bytes and of the table.
        self.fields = fields
    }

    /// A head given as NIOHTTP1's: an HTTP/2 stream's, or a test's. Its fields are written out as
    /// lines and read by the code that reads an HTTP/1 head's fields, so the same facts come of the
    /// same fields whichever protocol brought them, and a field line HTTP/1 would refuse (a control
    /// character in a value, a second `Content-Length`) is refused here too. A name that is not a
    /// token, or a value with CR, LF or NUL, is left out as it would be on the wire
    /// (``FieldLines/init(_:)``). The rules on the head as a whole (`Transfer-Encoding` beside
    /// `Content-Length`, a final coding other than `chunked`) are ``HTTP1RequestParser``'s for HTTP/1;
    /// for HTTP/2, ``ClientRequestHead/check(name:value:)`` refuses `transfer-encoding` and
    /// ``RequestValidator`` checks the rest.
    convenience init(_ head: HTTPRequestHead) throws(HTTPParserError) {
        try self.init(version: head.version, method: head.method, target: head.uri, unparsed: FieldLines(head.headers).bytes)
    }

    /// Field lines written by Latch (without the blank line) read as an HTTP/1 head's are.
    convenience init(
        version: HTTPVersion, method: HTTPMethod, target: String, unparsed: consuming ByteBuffer, webSocketOverHTTP2: Bool = false,
        authorityConflict: Bool = false
    ) throws(HTTPParserError) {
        // Consumed, not copied: the caller's bytes are not used again, and a copy here would copy
        // the storage when the blank line is written.
        var bytes = consume unparsed
        bytes.writeStaticString("\r\n")
        var framing: HTTP1Fields.Framing? = HTTP1Fields.Framing()
        // The HPACK decoder bounds an HTTP/2 header list (`max_request_head`); this budget only has to not overflow.
        var budget = HTTP1Fields.Budget(HTTP1Fields.Limits(maxHead: Int(Int32.max), maxFields: Int(Int32.max)))
        let lines = try bytes.withUnsafeReadableBytes { raw throws(HTTPParserError) in
            var cursor = HeadCursor(raw)
            return try HTTP1Fields.read(&cursor, budget: &budget, framing: &framing)
        }
        self.init(
            version: version, method: method, target: target, fields: FieldLines(bytes: bytes, lines: lines), framing: framing!,
            webSocketOverHTTP2: webSocketOverHTTP2, authorityConflict: authorityConflict)
    }

    /// Whether the connection stays open after this request (RFC 9112 §9.3).
    var isKeepAlive: Bool { framing.keepsAlive(version) }

    /// The first value of `name`.
    func first(_ name: FieldName) -> String? {
        guard let line = fields.lines.first(where: { $0.name == name }) else { return nil }
        return fields.value(of: line)
    }

    func values(_ name: FieldName) -> [String] { fields.values(name) }

    func contains(_ name: FieldName) -> Bool { fields.contains(name) }
}

extension ClientRequestHead {
    static func == (lhs: ClientRequestHead, rhs: ClientRequestHead) -> Bool {
        lhs.version == rhs.version && lhs.method == rhs.method && lhs.target == rhs.target && lhs.fields == rhs.fields
            && lhs.framing == rhs.framing
    }
}

/// What ``HTTP1RequestParser`` makes of a client's bytes (and ``ProxyHandler`` of an HTTP/2 stream's
/// parts). Not NIOHTTP1's generic `HTTPPart`: copies of a generic enum went through runtime
/// metadata on every hand-over.
enum ClientRequestPart: Equatable {
    case head(ClientRequestHead)
    case body(ByteBuffer)
    case end(HTTPHeaders?)
}
