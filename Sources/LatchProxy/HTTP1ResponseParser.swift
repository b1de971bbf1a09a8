import NIOCore
import NIOHTTP1

/// Latch's HTTP/1.1 response parser (RFC 9112), for a node's connection: bytes in, response parts
/// out. A value with no I/O; ``UpstreamHandler`` runs it.
///
/// The same strictness as ``HTTP1RequestParser`` (and llhttp's strict mode before it): a response
/// Latch cannot frame beyond doubt is an error, answered 502 and never reused. Framing follows
/// RFC 9112 §6.3: no body after `HEAD`, 1xx, 204 and 304; chunked when it is the final transfer
/// coding; else the connection's end when a transfer coding is present or no length is; else
/// `Content-Length`.
///
/// Unlike a request stream, a node's connection carries exactly one response per request: the parser
/// is told when a request went out (``requestSent(method:)``) and takes no byte before that or after
/// the response's end — those would be read as the answer to the *next* request, another client's.
struct HTTP1ResponseParser {
    private enum State {
        /// No request is outstanding: any byte is one too many.
        case idle
        /// A request went out; its response's head (or a 1xx before it) is awaited.
        case head
        case body(HTTP1Body)
        /// After a 101: the connection carries another protocol.
        case switched
    }

    static let limits = HTTP1Fields.Limits(maxHead: 80 * 1024, maxFields: 10_000)

    private var state = State.idle
    private var requestMethod = HTTPMethod.GET
    private var scanned = 0
    private var budget = HTTP1Fields.Budget(limits)
    /// Where a head's line table comes from: the loop's spare ones (``LoopBuffers``), or a new one.
    var tables: LoopBuffers?

    /// Whether the response awaited has ended, so that any further byte is unsolicited.
    var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    var hasSwitchedProtocols: Bool {
        if case .switched = state { return true }
        return false
    }

    /// A request went to the node: its response is parsed accordingly (no body for `HEAD`).
    mutating func requestSent(method: HTTPMethod) {
        requestMethod = method
        state = .head
        scanned = 0
    }

    /// The next part the buffer holds, consuming its bytes; `nil` when more bytes are needed, or
    /// when none are expected (idle, switched) — the caller looks at what is left.
    mutating func next(_ buffer: inout ByteBuffer) throws(HTTPParserError) -> NodeResponsePart? {
        switch state {
        case .idle, .switched:
            return nil
        case .head:
            // Line ends before a status line are skipped, as llhttp does (and RFC 9112 §2.2 for requests).
            if scanned == 0 {
                while let byte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), byte == .cr || byte == .lf {
                    buffer.moveReaderIndex(forwardBy: 1)
                }
            }
            // A node that answers with something other than HTTP/1 is found out at its first bytes,
            // not when a blank line comes (or the watchdog fires).
            try buffer.withUnsafeReadableBytes { bytes throws(HTTPParserError) in
                let expected: StaticString = "HTTP/1."
                for i in 0..<min(bytes.count, expected.utf8CodeUnitCount) where bytes[i] != expected.utf8Start[i] {
                    throw .invalidVersion
                }
            }
            budget = HTTP1Fields.Budget(Self.limits)
            var scanned = self.scanned
            defer { self.scanned = scanned }
            let head = try HTTP1Fields.section(&buffer, scanned: &scanned, limits: Self.limits) { bytes, section throws(HTTPParserError) in
                try parseHead(bytes, section)
            }
            return head.map { .head($0) }
        case .body(var body):
            state = .idle  // a placeholder while `body` is out, so it is not copied on write
            defer { state = body.isComplete ? .idle : .body(body) }
            switch try body.next(&buffer, budget: &budget) {
            case .bytes(let bytes): return .body(bytes)
            case .end(let trailers): return .end(trailers)
            case nil: return nil
            }
        }
    }

    /// The node closed its side: the end of a body that runs until then; an error if a response was
    /// cut short. A connection that closes before any byte of a response is no parse error: the
    /// handler sees it close.
    mutating func inputEnded(buffered: Int) throws(HTTPParserError) -> NodeResponsePart? {
        switch state {
        case .idle, .switched:
            return nil
        case .head:
            if buffered > 0 { throw .invalidEOFState }
            return nil
        case .body(var body):
            let event = try body.inputEnded()
            state = .idle
            if case .end(let trailers) = event { return .end(trailers) }
            return nil
        }
    }

    private mutating func parseHead(_ bytes: UnsafeRawBufferPointer, _ section: ByteBuffer) throws(HTTPParserError) -> NodeResponseHead {
        var cursor = HeadCursor(bytes)
        // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4)
        guard let version = cursor.version(), cursor.take(.space) else { throw .invalidVersion }
        let codeStart = cursor.position
        let codeEnd = cursor.scan(while: { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        guard codeEnd - codeStart == 3, let code = HTTPSyntax.decimal(cursor.bytes(codeStart..<codeEnd)), code >= 100 else {
            throw .invalidStatus
        }
        // The reason phrase means nothing (RFC 9112 §4) and is not read: the client gets the code's
        // standard phrase. A node that leaves out even the space before it is still understood, as
        // llhttp does.
        if cursor.take(.space) { _ = cursor.scan(while: { $0 != .cr }) }
        guard cursor.takeCRLF() else { throw .invalidStatus }

        var read: HTTP1Fields.Framing? = HTTP1Fields.Framing()
        let lines = try HTTP1Fields.read(&cursor, budget: &budget, framing: &read, into: tables?.takeTable() ?? LoopBuffers.newTable())
        let framing = read!
        if framing.transferEncoding, framing.contentLength != nil { throw .unexpectedContentLength }

        switch code {
        case 101:
            state = .switched
        case 100..<200:
            // Informational: the final response is still to come.
            state = .head
        case 204, 304:
            state = .body(HTTP1Body(.length(0)))
        default:
            if requestMethod.isHEAD {
                state = .body(HTTP1Body(.length(0)))
            } else if framing.transferEncoding {
                state = .body(HTTP1Body(framing.chunkedLast ? .chunked : .untilClose))
            } else if let length = framing.contentLength {
                state = .body(HTTP1Body(.length(length)))
            } else {
                state = .body(HTTP1Body(.untilClose))
            }
        }
        return NodeResponseHead(
            version: version, status: HTTPResponseStatus(statusCode: code), fields: FieldLines(bytes: section, lines: lines),
            facts: ResponseFields(framing))
    }
}
