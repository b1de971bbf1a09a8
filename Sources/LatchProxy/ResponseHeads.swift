import NIOCore
import NIOHPACK
import NIOHTTP1

/// A node's response head as ``HTTP1ResponseParser`` read it: its field lines kept as bytes, and what
/// they say about framing and persistence. A class, never changed, for the reason
/// ``ClientRequestHead`` is one: it is handed over several times, each a single retain.
final class NodeResponseHead: Sendable {
    let version: HTTPVersion
    let status: HTTPResponseStatus
    let fields: FieldLines
    let facts: ResponseFields

    init(version: HTTPVersion, status: HTTPResponseStatus, fields: consuming FieldLines, facts: ResponseFields) {
        self.version = version
        self.status = status
        self.fields = fields
        self.facts = facts
    }
}

/// What ``HTTP1ResponseParser`` makes of a node's bytes.
enum NodeResponsePart {
    case head(NodeResponseHead)
    case body(ByteBuffer)
    case end(HTTPHeaders?)
}

/// What the framing and persistence rules need from a node's response head, noted by the parser in
/// its one pass over the fields.
struct ResponseFields: Equatable {
    var contentLength: Int?
    var transferEncoding = false
    var setCookie = false
    /// `Connection` tokens (RFC 9112 §9.3, §9.6).
    var close = false
    var keepAlive = false

    init() {}

    init(_ framing: HTTP1Fields.Framing) {
        contentLength = framing.contentLength
        transferEncoding = framing.transferEncoding
        setCookie = framing.setCookie
        close = framing.connectionClose
        keepAlive = framing.connectionKeepAlive
    }

    /// Whether the node keeps the connection open after this response (RFC 9112 §9.3), as NIOHTTP1
    /// decides it: `close` wins, then `keep-alive`; without either, HTTP/1.1 does and HTTP/1.0 does not.
    func isKeepAlive(_ version: HTTPVersion) -> Bool {
        if close { return false }
        return keepAlive || (version.major == 1 && version.minor >= 1)
    }
}

/// A response head on its way to the client: the node's field lines that go on (copied as the bytes
/// they came in), then the fields Latch adds. ``HTTPWire`` writes it as HTTP/1.1 bytes; an HTTP/2
/// stream gets it as `HTTPHeaders` (``headers``). A class with one owner at a time (the rewriter, then
/// the exchange until it is written): as a struct of this many references, each hand-over copied it.
final class ClientResponseHead {
    var version: HTTPVersion
    var status: HTTPResponseStatus
    /// The node's fields, hop-by-hop ones dropped.
    var relayed: FieldLines
    /// This hop's `Via` (RFC 9110 §7.6.3), with the node's entries before it.
    var via: String?
    /// Latch's own fields (the node-name header, the owner cookie, `Upgrade`), in order.
    var added: [(String, String)] = []
    /// The client connection's persistence, when it must be said (RFC 9112 §9.3).
    var connection: String?
    /// The body goes chunked (RFC 9112 §7.1): `Transfer-Encoding: chunked` is added.
    var chunked = false

    init(version: HTTPVersion, status: HTTPResponseStatus, relayed: consuming FieldLines = FieldLines(), via: String? = nil) {
        self.version = version
        self.status = status
        self.relayed = relayed
        self.via = via
    }

    /// Sets `name` to `value` alone, whether the node sent it or not.
    func replaceOrAdd(name: String, value: String) {
        relayed.drop(named: name)
        added.removeAll { $0.0.lowercased() == name.lowercased() }
        added.append((name, value))
    }

    /// All fields as pairs, in the order HTTP/1.1 writes them.
    var headers: HTTPHeaders {
        var headers = relayed.headers
        if let via { headers.add(name: "Via", value: via) }
        headers.add(contentsOf: added)
        if let connection { headers.add(name: "Connection", value: connection) }
        if chunked { headers.add(name: "Transfer-Encoding", value: "chunked") }
        return headers
    }
}
