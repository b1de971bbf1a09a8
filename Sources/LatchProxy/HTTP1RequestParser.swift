import NIOCore
import NIOHTTP1

/// Latch's HTTP/1.1 request parser (RFC 9112): bytes in, request parts out. A value with no I/O;
/// ``ProxyHandler`` runs it on a client connection.
///
/// It is as strict as llhttp's strict mode, which it replaces, and fails with the same
/// `HTTPParserError`s (so ``ParseErrorAnswer`` gives the same status and text): a bare CR or LF,
/// obs-fold, whitespace before a colon, a name that is not a token, a control character in a value,
/// a version other than 1.0 and 1.1, a duplicate or malformed `Content-Length`, `Content-Length`
/// beside `Transfer-Encoding`, a `Transfer-Encoding` whose final coding is not `chunked`, a bad chunk
/// size, extension or chunk end, bytes after a request that closed the connection. Where it differs
/// on purpose (methods beyond llhttp's list, whitespace at the end of a value, chunk extensions by
/// the RFC's grammar), `HTTP1RequestParserTests` lists it.
///
/// Why not llhttp: NIOHTTP1 delivers each name and value through a C callback, copies it into a
/// buffer and builds a `String` from it; on a small keep-alive request that was more instructions
/// than routing it. This parser finds a head's end with one scan, checks and cuts it with a second,
/// and builds no `String` but the target's: the fields stay bytes (``FieldLines``).
struct HTTP1RequestParser {
    typealias Limits = HTTP1Fields.Limits

    private enum State {
        /// Between requests or in a head.
        case head
        case body(HTTP1Body)
        /// After an upgrade (or CONNECT) request: what follows is another protocol's, not parsed.
        case upgraded
        /// After a request that ends the connection (RFC 9112 §9.6): any byte more is an error, as
        /// llhttp has it, so a client that goes on sending is seen (and its bytes counted).
        case closed
    }

    let limits: Limits
    private var state = State.head
    /// Bytes of an unfinished head already searched for its end.
    private var scanned = 0
    private var budget: HTTP1Fields.Budget
    /// What follows the request being parsed: the next request, another protocol, or nothing.
    private var after = Next.request
    /// Where a head's line table comes from: the loop's spare ones (``LoopBuffers``), or a new one.
    var tables: LoopBuffers?

    private enum Next {
        case request, upgraded, closed

        var state: State {
            switch self {
            case .request: .head
            case .upgraded: .upgraded
            case .closed: .closed
            }
        }
    }

    init(limits: Limits) {
        self.limits = limits
        self.budget = HTTP1Fields.Budget(limits)
    }

    /// Parsing stopped after an upgrade (or CONNECT) request: what follows is another protocol's.
    var isUpgraded: Bool {
        if case .upgraded = state { return true }
        return false
    }

    /// Whether bytes of an unfinished request are buffered or expected: the connection may not end here.
    func isInMessage(buffered: Int) -> Bool {
        switch state {
        case .head: buffered > 0
        case .body(let body): !body.isComplete
        case .upgraded, .closed: false
        }
    }

    /// The next part the buffer holds, consuming its bytes; `nil` when more bytes are needed (or
    /// parsing has stopped after an upgrade request).
    mutating func next(_ buffer: inout ByteBuffer) throws(HTTPParserError) -> ClientRequestPart? {
        switch state {
        case .head:
            return try head(&buffer)
        case .body(var body):
            state = .upgraded  // a placeholder while `body` is out, so it is not copied on write
            defer { state = body.isComplete ? after.state : .body(body) }
            switch try body.next(&buffer, budget: &budget) {
            case .bytes(let bytes): return .body(bytes)
            case .end(let trailers): return .end(trailers)
            case nil: return nil
            }
        case .upgraded:
            return nil
        case .closed:
            // Line ends are tolerated there, as before a request line.
            while let byte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) {
                guard byte == .cr || byte == .lf else { throw .closedConnection }
                buffer.moveReaderIndex(forwardBy: 1)
            }
            return nil
        }
    }

    private mutating func head(_ buffer: inout ByteBuffer) throws(HTTPParserError) -> ClientRequestPart? {
        // RFC 9112 §2.2: empty lines before a request line are ignored (a bare LF among them too, as
        // llhttp does: they separate nothing).
        if scanned == 0 {
            while let byte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), byte == .cr || byte == .lf {
                buffer.moveReaderIndex(forwardBy: 1)
            }
        }
        guard buffer.readableBytes > 0 else { return nil }
        // Bytes that cannot start a request (a TLS handshake on a plain port, garbage) are refused at
        // once rather than when a blank line comes: the method is the first thing to check.
        try buffer.withUnsafeReadableBytes { bytes throws(HTTPParserError) in
            for byte in bytes.prefix(64) {
                if byte == .space { return }
                guard HTTPSyntax.isMethodByte(byte) else { throw .invalidMethod }
            }
        }
        budget = HTTP1Fields.Budget(limits)
        var scanned = self.scanned
        defer { self.scanned = scanned }
        let head = try HTTP1Fields.section(&buffer, scanned: &scanned, limits: limits) { bytes, section throws(HTTPParserError) in
            try parseHead(bytes, section)
        }
        return head.map { .head($0) }
    }

    private mutating func parseHead(_ bytes: UnsafeRawBufferPointer, _ section: ByteBuffer) throws(HTTPParserError) -> ClientRequestHead {
        var cursor = HeadCursor(bytes)
        // request-line = method SP request-target SP HTTP-version (RFC 9112 §3)
        let methodEnd = cursor.scan(while: HTTPSyntax.isMethodByte)
        guard methodEnd > 0, cursor.take(.space) else { throw .invalidMethod }
        let method = Self.method(cursor.bytes(0..<methodEnd))
        let targetStart = cursor.position
        let targetEnd = cursor.scan(while: { $0 > 0x20 && $0 < 0x7F })
        guard targetEnd > targetStart, cursor.take(.space) else { throw .invalidURL }
        guard let version = cursor.version(), cursor.takeCRLF() else { throw .invalidVersion }
        // The target counts toward max_request_head.
        try budget.spend(bytes: targetEnd - targetStart)
        let target = String(decoding: cursor.bytes(targetStart..<targetEnd), as: UTF8.self)

        var read: HTTP1Fields.Framing? = HTTP1Fields.Framing()
        let lines = try HTTP1Fields.read(&cursor, budget: &budget, framing: &read, into: tables?.takeTable() ?? LoopBuffers.newTable())
        let framing = read!
        if framing.transferEncoding {
            if framing.contentLength != nil { throw .unexpectedContentLength }
            // RFC 9112 §6.3: a request whose final transfer coding is not chunked cannot be framed.
            guard framing.chunkedLast else { throw .unknown }
        }
        if method.isCONNECT || (framing.upgrade && framing.connectionUpgrade) {
            after = .upgraded
        } else {
            after = framing.keepsAlive(version) ? .request : .closed
        }
        state = .body(HTTP1Body(framing.transferEncoding ? .chunked : .length(framing.contentLength ?? 0)))
        return ClientRequestHead(
            version: version, method: method, target: target, fields: FieldLines(bytes: Self.kept(section), lines: lines),
            framing: framing, requestLineChecked: true)
    }

    /// Read buffers larger than this are not kept for a head's fields (see ``kept(_:)``).
    static let largestSharedRead = 4096

    /// The head's bytes to keep for the exchange: the read's own storage when it is small, a copy when
    /// it is large. A head is kept until its response ends; sharing a large read (an upload's, which
    /// the receive allocator grows to 64 KiB) would hold all of it that long for a few hundred bytes.
    private static func kept(_ section: ByteBuffer) -> ByteBuffer {
        guard section.storageCapacity > largestSharedRead else { return section }
        var copy = ByteBufferAllocator().buffer(capacity: section.readableBytes)
        copy.writeImmutableBuffer(section)
        return copy
    }

    /// The method's bytes as NIOHTTP1's method, without building a `String` for the common ones.
    private static func method(_ bytes: UnsafeRawBufferPointer) -> HTTPMethod {
        switch bytes.count {
        case 3:
            if HTTPSyntax.equals(bytes, "GET") { return .GET }
            if HTTPSyntax.equals(bytes, "PUT") { return .PUT }
        case 4:
            if HTTPSyntax.equals(bytes, "POST") { return .POST }
            if HTTPSyntax.equals(bytes, "HEAD") { return .HEAD }
        default:
            break
        }
        return HTTPMethod(rawValue: String(decoding: bytes, as: UTF8.self))
    }
}
