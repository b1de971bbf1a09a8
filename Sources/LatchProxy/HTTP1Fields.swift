#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1

/// The parts of an HTTP/1.1 message that requests and responses share (RFC 9112 §2, §5): finding
/// where a head (or a trailer section) ends, and reading its field lines — strictly, as llhttp's
/// strict mode does, which ``HTTP1RequestParser`` and ``HTTP1ResponseParser`` replace.
enum HTTP1Fields {
    /// Limits of one message's fields, counted across its head and trailers.
    struct Limits: Sendable, Equatable {
        /// The request target plus every field's name and value, in bytes; also the limit of a
        /// single field (`limits.max_request_head` for requests).
        var maxHead: Int
        /// Fields in one message, trailers included (`limits.max_headers` for requests).
        var maxFields: Int

        /// Bytes a head may take on the wire before it is refused unseen (as soon as they are
        /// buffered, not when the blank line comes): the counted bytes plus a field's `: ` and
        /// CRLF for each field, and room for the start line's other parts and padding.
        var maxRawHead: Int { maxHead + 4 * maxFields + 256 }
    }

    /// What is used of a message's limits so far.
    struct Budget {
        let limits: Limits
        private(set) var fields = 0
        private(set) var bytes = 0

        init(_ limits: Limits) {
            self.limits = limits
        }

        mutating func spend(fields: Int = 0, bytes: Int) throws(HTTPParserError) {
            self.fields += fields
            self.bytes += bytes
            if self.fields > limits.maxFields || self.bytes > limits.maxHead { throw .headerOverflow }
        }
    }

    /// What a head's fields say about its framing and connection.
    struct Framing: Equatable {
        var contentLength: Int?
        var transferEncoding = false
        /// `chunked` is the final transfer coding (RFC 9112 §6.3).
        var chunkedLast = false
        var upgrade = false
        var connectionUpgrade = false
        var connectionClose = false
        var connectionKeepAlive = false
        /// Not framing, but found in the same pass: a `Set-Cookie` (in a response, a session being issued).
        var setCookie = false

        /// Whether the message leaves the connection open (RFC 9112 §9.3).
        func keepsAlive(_ version: HTTPVersion) -> Bool {
            version == .http1_1 ? !connectionClose : connectionKeepAlive && !connectionClose
        }
    }

    /// Where a head or trailer section ends (after its blank line), or where to resume the search
    /// once more bytes have come. Every LF must follow a CR (RFC 9112 §2.2; Latch, like llhttp's
    /// strict mode, takes no bare LF), so the search refuses one at once instead of waiting for a
    /// blank line that never comes; a bare CR is refused when the lines are read. The section starts
    /// with something other than a line end (the callers skip or take those), so a blank line is an
    /// LF with CR LF CR before it. The LFs are found with `memchr`, many bytes at a time.
    static func endOfSection(_ bytes: UnsafeRawBufferPointer, from start: Int) throws(HTTPParserError) -> (end: Int?, resume: Int) {
        guard let base = bytes.baseAddress else { return (nil, start) }
        let count = bytes.count
        var i = start
        while i < count, let found = memchr(base + i, 0x0A, count - i) {
            let lf = base.distance(to: UnsafeRawPointer(found))
            guard lf > 0, bytes[lf - 1] == .cr else { throw .lfExpected }
            if lf >= 3, bytes[lf - 2] == .lf, bytes[lf - 3] == .cr { return (lf + 1, 0) }
            i = lf + 1
        }
        return (nil, count)
    }

    /// Waits for a whole section in `buffer` (searching on from `scanned`), then hands its bytes to
    /// `parse`, both to read and as a slice of `buffer` to keep.
    static func section<Result>(
        _ buffer: inout ByteBuffer,
        scanned: inout Int,
        limits: Limits,
        _ parse: (UnsafeRawBufferPointer, ByteBuffer) throws(HTTPParserError) -> Result
    ) throws(HTTPParserError) -> Result? {
        let search = try buffer.withUnsafeReadableBytes { bytes throws(HTTPParserError) in
            try endOfSection(bytes, from: scanned)
        }
        guard let end = search.end else {
            scanned = search.resume
            if buffer.readableBytes > limits.maxRawHead { throw .headerOverflow }
            return nil
        }
        if end > limits.maxRawHead { throw .headerOverflow }
        scanned = 0
        let section = buffer.readSlice(length: end)!
        return try section.withUnsafeReadableBytes { bytes throws(HTTPParserError) in try parse(bytes, section) }
    }

    /// Field lines up to the blank line that ends them (RFC 9112 §5), as offsets into the bytes
    /// `cursor` reads, appended to `lines` (an empty table, from ``LoopBuffers`` when there is one).
    /// `framing`, when given, learns what they say about the message's length and connection
    /// (trailers frame nothing, RFC 9110 §6.5.1).
    static func read(
        _ cursor: inout HeadCursor, budget: inout Budget, framing: inout Framing?,
        into lines: consuming [FieldLines.Line] = LoopBuffers.newTable()
    ) throws(HTTPParserError) -> [FieldLines.Line] {
        // Offsets are stored as Int32: checked once here rather than five times per line.
        guard cursor.count <= Int(Int32.max) else { throw .headerOverflow }
        while !cursor.takeCRLF() {
            let nameStart = cursor.position
            let nameEnd = cursor.scanToken()
            // An empty name is obs-fold (a line starting with whitespace) or a stray byte; a name
            // followed by anything but a colon (whitespace before it, RFC 9112 §5.1) is refused too.
            guard nameEnd > nameStart, cursor.take(.colon) else { throw .invalidHeaderToken }
            cursor.skipWhitespace()
            let valueStart = cursor.position
            let valueEnd = try cursor.fieldValueEnd()
            guard cursor.takeCRLF() else { throw .lfExpected }
            try budget.spend(fields: 1, bytes: (nameEnd - nameStart) + (valueEnd - valueStart))
            let name = FieldName(cursor.bytes(nameStart..<nameEnd).assumingMemoryBound(to: UInt8.self))
            if framing != nil { try note(name, value: cursor.bytes(valueStart..<valueEnd), into: &framing!) }
            lines.append(
                FieldLines.Line(
                    start: Int32(truncatingIfNeeded: nameStart), nameEnd: Int32(truncatingIfNeeded: nameEnd),
                    valueStart: Int32(truncatingIfNeeded: valueStart), valueEnd: Int32(truncatingIfNeeded: valueEnd),
                    end: Int32(truncatingIfNeeded: cursor.position), name: name))
        }
        return lines
    }

    private static func note(_ name: FieldName, value: UnsafeRawBufferPointer, into framing: inout Framing) throws(HTTPParserError) {
        switch name {
        case .contentLength:
            // RFC 9112 §6.3: one length, digits only; a repeated field (even with the same value)
            // is refused, as llhttp does, rather than guessing which one the other side believes.
            guard framing.contentLength == nil, let length = HTTPSyntax.decimal(value) else { throw .invalidContentLength }
            framing.contentLength = length
        case .transferEncoding:
            // Several Transfer-Encoding fields are one list (RFC 9110 §5.3); only its last coding counts.
            framing.transferEncoding = true
            if let last = HTTPSyntax.lastListElement(value) {
                framing.chunkedLast = HTTPSyntax.equalsIgnoringCase(last, "chunked")
            }
        case .upgrade:
            framing.upgrade = true
        case .connection:
            HTTPSyntax.forEachListElement(value) { option in
                if HTTPSyntax.equalsIgnoringCase(option, "upgrade") { framing.connectionUpgrade = true }
                if HTTPSyntax.equalsIgnoringCase(option, "close") { framing.connectionClose = true }
                if HTTPSyntax.equalsIgnoringCase(option, "keep-alive") { framing.connectionKeepAlive = true }
            }
        case .setCookie:
            framing.setCookie = true
        default:
            break
        }
    }
}
