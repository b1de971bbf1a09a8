import NIOCore
import NIOHTTP1

/// Writes HTTP/1.1 message heads and body framing straight into `ByteBuffer`s (RFC 9112 §2–§7).
///
/// Latch used NIOHTTP1's encoders for this, with its header validator in front: three handlers every
/// response part crossed as a type-erased `NIOAny`, and a write per part (a response went out as a
/// three-buffer `writev`). Writing the bytes here, a small response leaves as one buffer. Latch decides
/// the framing itself anyway (``ResponseFraming``), so nothing of the encoders' logic is lost.
///
/// A field whose name is not a token (RFC 9110 §5.1) or whose value holds CR, LF or NUL (§5.5) is left
/// out, as NIOHTTP1's validator refused it: nothing Latch forwards may split into a second field or
/// message. The lines relayed from a head (``FieldLines``) are copied without a second look: only the
/// parsers, which take no such bytes, and ``FieldLines/init(_:)``, which leaves them out, make them.
enum HTTPWire {
    static func write(_ head: HTTPResponseHead, into buffer: inout ByteBuffer) {
        writeStatusLine(head.version, head.status, into: &buffer)
        write(head.headers, into: &buffer)
    }

    /// A relayed response: the node's kept lines copied as they came, then Latch's fields, all in one
    /// pass through a pointer into room reserved once (each `ByteBuffer` write checks its capacity and
    /// uniqueness again: ~150 instructions apiece, more than copying a line).
    static func write(_ head: ClientResponseHead, into buffer: inout ByteBuffer) {
        var reason = head.status.reasonPhrase
        var room = 20 + reason.utf8.count + head.relayed.keptByteCount + 2
        if let via = head.via { room += 7 + via.utf8.count }
        for (name, value) in head.added { room += name.utf8.count + value.utf8.count + 4 }
        if let connection = head.connection { room += 14 + connection.utf8.count }
        if head.chunked { room += 28 }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { out in
            var wire = WireCursor(out)
            wire.write(head.version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
            let code = Int(head.status.code)
            if (100...999).contains(code) {
                wire.write(UInt8(ascii: "0") + UInt8(code / 100))
                wire.write(UInt8(ascii: "0") + UInt8(code / 10 % 10))
                wire.write(UInt8(ascii: "0") + UInt8(code % 10))
            } else {
                wire.write(String(code))
            }
            wire.write(" ")
            reason.withUTF8 { wire.write($0) }
            wire.write("\r\n")
            wire.at = head.relayed.copyKept(to: out, at: wire.at)
            if let via = head.via { wire.writeField("Via", value: via) }
            for (name, value) in head.added { wire.writeField(name, value) }
            if let connection = head.connection { wire.writeField("Connection", value: connection) }
            if head.chunked { wire.write("Transfer-Encoding: chunked\r\n") }
            wire.write("\r\n")
            return wire.at
        }
    }

    /// `HTTP/1.x code reason` and its CRLF (RFC 9112 §4), the reason being the code's standard phrase.
    private static func writeStatusLine(_ version: HTTPVersion, _ status: HTTPResponseStatus, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeString(String(status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\n")
    }

    /// The fields and the blank line that ends the head, copied in one pass into space reserved once.
    static func write(_ headers: HTTPHeaders, into buffer: inout ByteBuffer) {
        var room = 2
        for (name, value) in headers { room += name.utf8.count + value.utf8.count + 4 }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { out in
            var wire = WireCursor(out)
            for (name, value) in headers { wire.writeField(name, value) }
            wire.write("\r\n")
            return wire.at
        }
    }

    /// One chunk of a chunked body (RFC 9112 §7.1): size in hex, the bytes, CRLF. An empty part writes
    /// nothing: a zero-size chunk would end the body.
    static func writeChunk(_ body: ByteBuffer, into buffer: inout ByteBuffer) {
        guard body.readableBytes > 0 else { return }
        writeChunkSize(body.readableBytes, into: &buffer)
        buffer.writeImmutableBuffer(body)
        buffer.writeStaticString("\r\n")
    }

    /// The line that opens a chunk: its size in hex. For a large part the caller writes the part itself
    /// after it, uncopied, then ``chunkEnd``.
    static func writeChunkSize(_ size: Int, into buffer: inout ByteBuffer) {
        buffer.writeString(String(size, radix: 16))
        buffer.writeStaticString("\r\n")
    }

    /// The CRLF that closes a chunk's data.
    static let chunkEnd = ByteBuffer(staticString: "\r\n")

    /// The last chunk and the trailer section (RFC 9112 §7.1.2).
    static func writeLastChunk(trailers: HTTPHeaders?, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("0\r\n")
        write(trailers ?? [:], into: &buffer)
    }

    /// RFC 9110 §5.1: a token, one or more of `!#$%&'*+-.^_`|~`, digits and letters.
    static func isValidName(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        !bytes.isEmpty && bytes.allSatisfy(HTTPSyntax.isTokenByte)
    }

    /// RFC 9110 §5.5: no CR, LF or NUL (obs-text and other bytes are relayed as received).
    static func isValidValue(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        !bytes.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
    }
}

/// Writes through a pointer into room reserved beforehand (``HTTPWire``).
struct WireCursor {
    let out: UnsafeMutableRawBufferPointer
    var at = 0

    init(_ out: UnsafeMutableRawBufferPointer) {
        self.out = out
    }

    mutating func write(_ byte: UInt8) {
        out[at] = byte
        at += 1
    }

    mutating func write(_ literal: StaticString) {
        (out.baseAddress! + at).copyMemory(from: literal.utf8Start, byteCount: literal.utf8CodeUnitCount)
        at += literal.utf8CodeUnitCount
    }

    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        if let source = bytes.baseAddress, !bytes.isEmpty {
            (out.baseAddress! + at).copyMemory(from: source, byteCount: bytes.count)
        }
        at += bytes.count
    }

    mutating func write(_ string: String) {
        Self.withBytes(of: string) { write($0) }
    }

    /// `string`'s UTF-8 in place (native strings, small ones included), or copied when it has none.
    private static func withBytes(of string: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        if string.utf8.withContiguousStorageIfAvailable(body) == nil { Array(string.utf8).withUnsafeBufferPointer(body) }
    }

    /// `Content-Length: n` and its CRLF, the digits written without a `String`.
    mutating func writeContentLength(_ length: Int) {
        write("Content-Length: ")
        var digits = 1
        var rest = length / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        var value = length
        for index in (0..<digits).reversed() {
            out[at + index] = UInt8(ascii: "0") + UInt8(value % 10)
            value /= 10
        }
        at += digits
        write("\r\n")
    }

    /// `name: value` and its CRLF; left out when the name is not a token or the value holds CR, LF or
    /// NUL (RFC 9110 §5.1, §5.5), as ``HTTPWire`` leaves such fields out everywhere.
    mutating func writeField(_ name: String, _ value: String) {
        var valid = false
        Self.withBytes(of: name) { valid = HTTPWire.isValidName($0) }
        guard valid else { return }
        Self.withBytes(of: name) { name in
            Self.withBytes(of: value) { value in writeLine(name, value) }
        }
    }

    /// A field Latch names itself (a token by construction): only the value is checked.
    mutating func writeField(_ name: StaticString, value: String) {
        Self.withBytes(of: value) { value in
            writeLine(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value)
        }
    }

    /// One field line, unless the value could end it early; its separators stored byte by byte.
    private mutating func writeLine(_ name: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>) {
        guard HTTPWire.isValidValue(value) else { return }
        write(name)
        out[at] = UInt8(ascii: ":")
        out[at + 1] = UInt8(ascii: " ")
        at += 2
        write(value)
        out[at] = UInt8(ascii: "\r")
        out[at + 1] = UInt8(ascii: "\n")
        at += 2
    }
}

extension HTTPVersion {
    /// HTTP/1.0, whose rules differ (no Host required, keep-alive only when asked, no chunking, no
    /// 1xx); HTTP/1.1 and HTTP/2 requests (the latter from ``ProxyHandler``'s HTTP/2 streams) share the rest.
    var isHTTP10: Bool { major == 1 && minor == 0 }
}
