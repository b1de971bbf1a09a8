import NIOCore
import NIOHPACK

/// Writes response header blocks in HPACK (RFC 7541) the way nginx and HAProxy do: names from the
/// static table where it has them, values as plain literals, and nothing ever added to the dynamic
/// table. A block then costs a few hundred instructions instead of swift-nio-http2's encoder's
/// thousands (a linear search of both tables per field), the connection keeps no encoder state, and
/// no value Latch sends can be recovered by a client that makes it compress guesses beside it
/// (§7.1.3). The price is bytes: a field repeated on every response is sent whole each time.
///
/// `set-cookie` goes "never indexed" (§6.2.3), so no intermediary indexes a session id either.
enum H2HeaderEncoder {
    /// A block to write: a response head straight from its lines, or fields as a list.
    enum Block {
        case head(ClientResponseHead)
        case fields(HPACKHeaders)
    }

    static func encode(_ block: Block, into out: inout ByteBuffer) {
        switch block {
        case .head(let head):
            status(Int(head.status.code), into: &out)
            head.relayed.forEachKept { line, name, value in
                guard line.name == .contentLength || !line.name.isHopByHop else { return }
                field(name: name, value: value, into: &out)
            }
            if var via = head.via { via.withUTF8 { field(name: "via", value: UnsafeRawBufferPointer($0), into: &out) } }
            for (name, value) in head.added {
                var name = name
                var value = value
                name.withUTF8 { name in
                    let name = UnsafeRawBufferPointer(name)
                    guard !isConnectionSpecific(name) else { return }
                    value.withUTF8 { field(name: name, value: UnsafeRawBufferPointer($0), into: &out) }
                }
            }
        case .fields(let fields):
            for (name, value, indexing) in fields {
                var name = name
                var value = value
                if name == ":status" {
                    status(Int(value) ?? 0, value: value, into: &out)
                    continue
                }
                name.withUTF8 { name in
                    value.withUTF8 {
                        field(name: UnsafeRawBufferPointer(name), value: UnsafeRawBufferPointer($0), neverIndexed: indexing == .neverIndexed, into: &out)
                    }
                }
            }
        }
    }

    /// A dynamic table size update to 0 (§6.3): the first block after the client set its table's
    /// size says this encoder uses none (a decoder whose table was made smaller waits for it).
    static func noDynamicTable(into out: inout ByteBuffer) {
        out.writeInteger(UInt8(0x20))
    }

    /// `:status`, indexed when the static table has the code (§6.1), else a literal with its name
    /// indexed.
    static func status(_ code: Int, value: String? = nil, into out: inout ByteBuffer) {
        switch code {
        case 200: out.writeInteger(UInt8(0x80 | 8))
        case 204: out.writeInteger(UInt8(0x80 | 9))
        case 206: out.writeInteger(UInt8(0x80 | 10))
        case 304: out.writeInteger(UInt8(0x80 | 11))
        case 400: out.writeInteger(UInt8(0x80 | 12))
        case 404: out.writeInteger(UInt8(0x80 | 13))
        case 500: out.writeInteger(UInt8(0x80 | 14))
        default:
            var text = value ?? String(code)
            text.withUTF8 { literal(nameIndex: 8, neverIndexed: false, value: UnsafeRawBufferPointer($0), into: &out) }
        }
    }

    /// One field as a literal without indexing (§6.2.2), or never indexed (§6.2.3) for `set-cookie`;
    /// its name lower-cased as written (RFC 9113 §8.2) and taken from the static table if there.
    /// Written in one pass into reserved space: a `writeInteger` per byte cost more than the rest.
    static func field(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, neverIndexed: Bool = false, into out: inout ByteBuffer) {
        let index = staticIndex(of: name)
        let flags: UInt8 = neverIndexed || index == 55 ? 0x10 : 0x00
        // Each integer takes at most 1 + 10 bytes (§5.1: 7 bits per continuation byte).
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: name.count + value.count + 33) { raw in
            var at = 0
            if let index {
                integer(index, prefix: 4, flags: flags, into: raw, at: &at)
            } else {
                raw[at] = flags
                at += 1
                integer(name.count, prefix: 7, flags: 0, into: raw, at: &at)
                for byte in name {
                    raw[at] = byte &+ (byte >= 0x41 && byte <= 0x5A ? 0x20 : 0)
                    at += 1
                }
            }
            // The value: a string literal, not Huffman-coded (§5.2).
            integer(value.count, prefix: 7, flags: 0, into: raw, at: &at)
            UnsafeMutableRawBufferPointer(rebasing: raw[at..<(at + value.count)]).copyMemory(from: value)
            return at + value.count
        }
    }

    /// `:status` as a literal with its name indexed (8), for a code the static table does not have.
    private static func literal(nameIndex: Int, neverIndexed: Bool, value: UnsafeRawBufferPointer, into out: inout ByteBuffer) {
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: value.count + 22) { raw in
            var at = 0
            integer(nameIndex, prefix: 4, flags: neverIndexed ? 0x10 : 0x00, into: raw, at: &at)
            integer(value.count, prefix: 7, flags: 0, into: raw, at: &at)
            UnsafeMutableRawBufferPointer(rebasing: raw[at..<(at + value.count)]).copyMemory(from: value)
            return at + value.count
        }
    }

    /// An integer in an N-bit prefix, continued in 7-bit groups (§5.1).
    static func integer(_ value: Int, prefix: Int, flags: UInt8, into raw: UnsafeMutableRawBufferPointer, at: inout Int) {
        let limit = (1 << prefix) - 1
        guard value >= limit else {
            raw[at] = flags | UInt8(value)
            at += 1
            return
        }
        raw[at] = flags | UInt8(limit)
        at += 1
        var rest = value - limit
        while rest >= 128 {
            raw[at] = UInt8(rest & 0x7f | 0x80)
            at += 1
            rest >>= 7
        }
        raw[at] = UInt8(rest)
        at += 1
    }

    private static func isConnectionSpecific(_ name: UnsafeRawBufferPointer) -> Bool {
        for candidate in connectionSpecific where equalIgnoringCase(name, candidate) { return true }
        return false
    }

    private static let connectionSpecific: [[UInt8]] = ["connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"].map { Array($0.utf8) }

    /// The static table's index for a field name (§A), any case; `nil` if it has none. The names
    /// are looked up by length, then compared: a field costs a few comparisons, no hashing.
    static func staticIndex(of name: UnsafeRawBufferPointer) -> Int? {
        guard name.count < byLength.count else { return nil }
        for (candidate, index) in byLength[name.count] where equalIgnoringCase(name, candidate) { return index }
        return nil
    }

    private static func equalIgnoringCase(_ name: UnsafeRawBufferPointer, _ lower: [UInt8]) -> Bool {
        guard name.count == lower.count else { return false }
        for (byte, wanted) in zip(name, lower) where byte != wanted && byte | 0x20 != wanted { return false }
        return true
    }

    /// RFC 7541 Appendix A's names with the index of their first entry.
    static let names: [(String, Int)] = [
        (":authority", 1), (":method", 2), (":path", 4), (":scheme", 6), (":status", 8), ("accept-charset", 15),
        ("accept-encoding", 16), ("accept-language", 17), ("accept-ranges", 18), ("accept", 19), ("access-control-allow-origin", 20),
        ("age", 21), ("allow", 22), ("authorization", 23), ("cache-control", 24), ("content-disposition", 25), ("content-encoding", 26),
        ("content-language", 27), ("content-length", 28), ("content-location", 29), ("content-range", 30), ("content-type", 31),
        ("cookie", 32), ("date", 33), ("etag", 34), ("expect", 35), ("expires", 36), ("from", 37), ("host", 38), ("if-match", 39),
        ("if-modified-since", 40), ("if-none-match", 41), ("if-range", 42), ("if-unmodified-since", 43), ("last-modified", 44),
        ("link", 45), ("location", 46), ("max-forwards", 47), ("proxy-authenticate", 48), ("proxy-authorization", 49), ("range", 50),
        ("referer", 51), ("refresh", 52), ("retry-after", 53), ("server", 54), ("set-cookie", 55), ("strict-transport-security", 56),
        ("transfer-encoding", 57), ("user-agent", 58), ("vary", 59), ("via", 60), ("www-authenticate", 61),
    ]

    private static let byLength: [[([UInt8], Int)]] = {
        var table = [[([UInt8], Int)]](repeating: [], count: 28)
        for (name, index) in names { table[name.utf8.count].append((Array(name.utf8), index)) }
        return table
    }()
}

extension H2HeaderEncoder {
    static func field(name: StaticString, value: UnsafeRawBufferPointer, into out: inout ByteBuffer) {
        field(name: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value: value, into: &out)
    }
}
