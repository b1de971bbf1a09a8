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
/// message. A node's fields were parsed by ``HTTP1ResponseParser``, which takes no such bytes, so in
/// practice only a bad value from configuration could be caught here.
enum HTTPWire {
    static func write(_ head: HTTPResponseHead, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(head.version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeString(String(head.status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(head.status.reasonPhrase)
        buffer.writeStaticString("\r\n")
        write(head.headers, into: &buffer)
    }

    /// `METHOD target HTTP/1.1` and its CRLF: what a node is always sent.
    static func writeRequestLine(method: HTTPMethod, target: String, into buffer: inout ByteBuffer) {
        switch method {
        case .GET: buffer.writeStaticString("GET ")
        case .POST: buffer.writeStaticString("POST ")
        default:
            buffer.writeString(method.rawValue)
            buffer.writeStaticString(" ")
        }
        buffer.writeString(target)
        buffer.writeStaticString(" HTTP/1.1\r\n")
    }

    /// One field line, left out (as the whole head writer does) when the name is not a token or the
    /// value holds CR, LF or NUL.
    static func writeField(_ name: String, _ value: String, into buffer: inout ByteBuffer) {
        var name = name
        var value = value
        name.withUTF8 { name in
            value.withUTF8 { value in
                guard isValidName(name), isValidValue(value) else { return }
                // One reservation and one write for the line: each `ByteBuffer` write checks its
                // capacity and uniqueness again.
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: name.count + value.count + 4) { out in
                    var at = copy(name, to: out, at: 0)
                    out[at] = UInt8(ascii: ":")
                    out[at + 1] = UInt8(ascii: " ")
                    at = copy(value, to: out, at: at + 2)
                    out[at] = UInt8(ascii: "\r")
                    out[at + 1] = UInt8(ascii: "\n")
                    return at + 2
                }
            }
        }
    }

    /// The fields and the blank line that ends the head, copied in one pass into space reserved once
    /// (each `ByteBuffer` write is an exclusive access of its storage; four per field added up).
    static func write(_ headers: HTTPHeaders, into buffer: inout ByteBuffer) {
        var room = 2
        for (name, value) in headers { room += name.utf8.count + value.utf8.count + 4 }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { out in
            var at = 0
            for (name, value) in headers {
                var name = name
                var value = value
                name.withUTF8 { name in
                    value.withUTF8 { value in
                        guard isValidName(name), isValidValue(value) else { return }
                        at = copy(name, to: out, at: at)
                        out[at] = UInt8(ascii: ":")
                        out[at + 1] = UInt8(ascii: " ")
                        at = copy(value, to: out, at: at + 2)
                        out[at] = UInt8(ascii: "\r")
                        out[at + 1] = UInt8(ascii: "\n")
                        at += 2
                    }
                }
            }
            out[at] = UInt8(ascii: "\r")
            out[at + 1] = UInt8(ascii: "\n")
            return at + 2
        }
    }

    private static func copy(_ bytes: UnsafeBufferPointer<UInt8>, to out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        if let source = bytes.baseAddress, !bytes.isEmpty {
            (out.baseAddress! + offset).copyMemory(from: source, byteCount: bytes.count)
        }
        return offset + bytes.count
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
        !bytes.isEmpty && tokenBytes.withUnsafeBufferPointer { table in bytes.allSatisfy { table[Int($0)] } }
    }

    /// RFC 9110 §5.5: no CR, LF or NUL (obs-text and other bytes are relayed as received).
    static func isValidValue(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        !bytes.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
    }

    private static let tokenBytes: [Bool] = (0..<256).map { byte in
        switch UInt8(byte) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(UInt8(byte))
        }
    }
}

extension HTTPVersion {
    /// HTTP/1.0, whose rules differ (no Host required, keep-alive only when asked, no chunking, no
    /// 1xx); HTTP/1.1 and HTTP/2 requests (the latter from ``ProxyHandler``'s HTTP/2 streams) share the rest.
    var isHTTP10: Bool { major == 1 && minor == 0 }
}
