import NIOCore
import NIOHTTP1

/// The body of one HTTP/1.1 message, framed as its head said (RFC 9112 §6): a known length, chunked
/// (§7.1), or until the connection closes (responses only). Bytes in, body slices and the end out;
/// the slices share the read buffer's storage.
struct HTTP1Body {
    enum Framing: Equatable {
        case length(Int)
        case chunked
        /// A response with neither length nor chunked coding: its end is the connection's.
        case untilClose
    }

    enum Event {
        case bytes(ByteBuffer)
        case end(HTTPHeaders?)
    }

    private enum State {
        case fixed(remaining: Int)
        /// Expecting a chunk-size line.
        case chunkSize
        case chunkData(remaining: Int)
        /// The CRLF after a chunk's data.
        case chunkDataEnd
        /// After the last chunk: trailer fields, then a blank line.
        case trailers
        case untilClose
        case ended
    }

    private var state: State
    /// Bytes of an unfinished trailer section already searched for its end.
    private var scanned = 0

    init(_ framing: Framing) {
        switch framing {
        case .length(let length): state = length > 0 ? .fixed(remaining: length) : .ended
        case .chunked: state = .chunkSize
        case .untilClose: state = .untilClose
        }
    }

    /// Whether the body has ended: its `.end` was returned.
    private(set) var isComplete = false

    /// The next body slice or the end; `nil` when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer, budget: inout HTTP1Fields.Budget) throws(HTTPParserError) -> Event? {
        while true {
            switch state {
            case .ended:
                guard !isComplete else { return nil }
                isComplete = true
                return .end(nil)
            case .fixed(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let length = min(remaining, buffer.readableBytes)
                state = length == remaining ? .ended : .fixed(remaining: remaining - length)
                return .bytes(buffer.readSlice(length: length)!)
            case .untilClose:
                guard buffer.readableBytes > 0 else { return nil }
                return .bytes(buffer.readSlice(length: buffer.readableBytes)!)
            case .chunkData(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let length = min(remaining, buffer.readableBytes)
                state = length == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - length)
                return .bytes(buffer.readSlice(length: length)!)
            case .chunkDataEnd:
                guard buffer.readableBytes >= 2 else {
                    if buffer.readableBytes == 1, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) != .cr {
                        throw .invalidChunkSize
                    }
                    return nil
                }
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw .invalidChunkSize }
                state = .chunkSize
            case .chunkSize:
                let line = try buffer.withUnsafeReadableBytes { bytes throws(HTTPParserError) in try Self.chunkSizeLine(bytes) }
                guard let line else {
                    // A chunk-size line has no business being long: a size and perhaps a short extension.
                    if buffer.readableBytes > 4096 { throw .invalidChunkSize }
                    return nil
                }
                buffer.moveReaderIndex(forwardBy: line.length)
                state = line.size == 0 ? .trailers : .chunkData(remaining: line.size)
            case .trailers:
                guard buffer.readableBytes >= 2 else { return nil }
                // Usually none: the last chunk is followed by the blank line at once.
                if buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
                    buffer.moveReaderIndex(forwardBy: 2)
                    state = .ended
                    isComplete = true
                    return .end(nil)
                }
                var none: HTTP1Fields.Framing? = nil
                let trailers = try HTTP1Fields.section(&buffer, scanned: &scanned, limits: budget.limits) {
                    bytes, section throws(HTTPParserError) in
                    var cursor = HeadCursor(bytes)
                    return FieldLines(bytes: section, lines: try HTTP1Fields.read(&cursor, budget: &budget, framing: &none)).headers
                }
                guard let trailers else { return nil }
                state = .ended
                isComplete = true
                return .end(trailers)
            }
        }
    }

    /// The connection ended: the end of a body that runs until then, an error for any other unfinished body.
    mutating func inputEnded() throws(HTTPParserError) -> Event? {
        switch state {
        case .untilClose:
            state = .ended
            isComplete = true
            return .end(nil)
        case .ended:
            return nil
        default:
            throw .invalidEOFState
        }
    }

    /// `chunk-size [ chunk-ext ] CRLF`: the line's length and the size, or `nil` until the line is whole.
    private static func chunkSizeLine(_ bytes: UnsafeRawBufferPointer) throws(HTTPParserError) -> (length: Int, size: Int)? {
        var size: UInt64 = 0
        var i = 0
        while i < bytes.count, let digit = HTTPSyntax.hexValue(bytes[i]) {
            // Up to 2^64 - 1, as llhttp: such a chunk never ends, and max_body cuts it long before.
            guard size >> 60 == 0 else { throw .invalidChunkSize }
            size = size << 4 | UInt64(digit)
            i += 1
        }
        guard i < bytes.count else { return nil }
        guard i > 0 else { throw .invalidChunkSize }
        // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val = token / quoted-string.
        // Latch does not read extensions (it drops them), but a malformed one is a malformed body.
        while true {
            let whitespaceStart = i
            while i < bytes.count, bytes[i] == .space || bytes[i] == .tab { i += 1 }
            guard i < bytes.count else { return nil }
            if bytes[i] == .cr {
                guard i + 1 < bytes.count else { return nil }
                guard bytes[i + 1] == .lf else { throw .lfExpected }
                // Whitespace is BWS before a ";", never at the end of the line.
                if i > whitespaceStart { throw .invalidChunkSize }
                return (i + 2, Int(clamping: size))
            }
            guard bytes[i] == UInt8(ascii: ";") else { throw .invalidChunkSize }
            i += 1
            while i < bytes.count, bytes[i] == .space || bytes[i] == .tab { i += 1 }
            let nameStart = i
            while i < bytes.count, HTTPSyntax.isTokenByte(bytes[i]) { i += 1 }
            guard i < bytes.count else { return nil }
            guard i > nameStart else { throw .invalidChunkSize }
            var j = i
            while j < bytes.count, bytes[j] == .space || bytes[j] == .tab { j += 1 }
            guard j < bytes.count else { return nil }
            guard bytes[j] == UInt8(ascii: "=") else { continue }
            i = j + 1
            while i < bytes.count, bytes[i] == .space || bytes[i] == .tab { i += 1 }
            guard i < bytes.count else { return nil }
            if bytes[i] == UInt8(ascii: "\"") {
                guard let end = try HTTPSyntax.quotedStringEnd(bytes, from: i) else { return nil }
                i = end
            } else {
                // An empty value is tolerated, as llhttp does.
                while i < bytes.count, HTTPSyntax.isTokenByte(bytes[i]) { i += 1 }
                guard i < bytes.count else { return nil }
            }
        }
    }
}
