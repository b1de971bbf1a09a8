import NIOHTTP1

/// A read position in a complete head (it ends with CRLF CRLF, and every CR in it is followed by LF).
struct HeadCursor {
    private let base: UnsafeRawBufferPointer
    private(set) var position = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.base = bytes
    }

    /// The head's length in bytes.
    var count: Int { base.count }

    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: base[range])
    }

    /// Advances past the bytes that satisfy `accept`; returns the position after them.
    mutating func scan(while accept: (UInt8) -> Bool) -> Int {
        while position < base.count, accept(base[position]) { position += 1 }
        return position
    }

    /// Advances past token bytes (tchar, RFC 9110 §5.6.2); returns the position after them. The
    /// position lives in a local while scanning: stored back per byte, it was a third of the loop.
    ///
    /// Field names are nearly all letters, digits and `-`: those are skipped eight at a time, and the
    /// bytes from the first other one on (the `:`, or a rarer tchar) are checked one by one.
    @inline(__always)
    mutating func scanToken() -> Int {
        var index = position
        let count = base.count
        if let start = base.baseAddress {
            while index + 8 <= count {
                let word = UInt64(littleEndian: start.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                let others = ~Self.alphanumericOrDash(word) & 0x8080_8080_8080_8080
                guard others != 0 else {
                    index += 8
                    continue
                }
                index += others.trailingZeroBitCount >> 3
                break
            }
            while index < count, HTTPSyntax.isTokenByte(start.load(fromByteOffset: index, as: UInt8.self)) { index += 1 }
        }
        position = index
        return index
    }

    /// The high bit of each of a word's bytes that is an ASCII letter, a digit or `-`, and of no
    /// other: exact per byte, with no carry between bytes (`hasbetween`, Bit Twiddling Hacks).
    @inline(__always)
    static func alphanumericOrDash(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        /// The high bit of each byte of `x` strictly between `low` and `high` (both at most 128).
        func between(_ x: UInt64, _ low: UInt64, _ high: UInt64) -> UInt64 {
            let low7 = x & (ones &* 0x7F)
            return (ones &* (127 + high) &- low7) & ~x & (low7 &+ ones &* (127 - low)) & (ones &* 0x80)
        }
        // ASCII case folded by setting 0x20: only letters land in a...z.
        let letters = between(word | ones &* 0x20, 0x60, 0x7B)
        let digits = between(word, 0x2F, 0x3A)
        let dashes = between(word, 0x2C, 0x2E)
        return letters | digits | dashes
    }

    @inline(__always)
    mutating func take(_ byte: UInt8) -> Bool {
        guard position < base.count, base[position] == byte else { return false }
        position += 1
        return true
    }

    @inline(__always)
    mutating func takeCRLF() -> Bool {
        guard position + 1 < base.count, base[position] == .cr, base[position + 1] == .lf else { return false }
        position += 2
        return true
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while position < base.count, base[position] == .space || base[position] == .tab { position += 1 }
    }

    /// `HTTP/1.1` or `HTTP/1.0` (RFC 9112 §2.3; Latch speaks no other).
    mutating func version() -> HTTPVersion? {
        guard position + 8 <= base.count else { return nil }
        let name = UnsafeRawBufferPointer(rebasing: base[position..<position + 7])
        guard HTTPSyntax.equals(name, "HTTP/1.") else { return nil }
        let minor = base[position + 7]
        guard minor == UInt8(ascii: "1") || minor == UInt8(ascii: "0") else { return nil }
        position += 8
        return minor == UInt8(ascii: "1") ? .http1_1 : .http1_0
    }

    /// Moves to the CR that ends a field value and returns where the value ends without its trailing
    /// whitespace. field-value = *( field-vchar / SP / HTAB ), obs-text allowed (RFC 9110 §5.5); any
    /// other control character (NUL, DEL…) is refused.
    ///
    /// This loop sees most of a head's bytes: eight at a time while all eight are visible (the usual
    /// case inside a cookie or a token), byte by byte through a word with a blank or a control
    /// character in it.
    mutating func fieldValueEnd() throws(HTTPParserError) -> Int {
        var index = position
        var end = index
        let count = base.count
        guard let start = base.baseAddress else { throw .lfExpected }
        while true {
            if index + 8 <= count, Self.allVisible(start.loadUnaligned(fromByteOffset: index, as: UInt64.self)) {
                index += 8
                end = index
                continue
            }
            guard index < count else { break }
            let stop = Swift.min(index + 8, count)
            while index < stop {
                let byte = base[index]
                if byte > 0x20, byte != 0x7F {
                    index += 1
                    end = index
                    continue
                }
                if byte == .cr {
                    position = index
                    return end
                }
                guard byte == .space || byte == .tab else {
                    position = index
                    throw .invalidHeaderToken
                }
                index += 1
            }
        }
        position = index
        throw .lfExpected
    }

    /// Whether none of a word's eight bytes is a blank, a control character or DEL: no byte below
    /// 0x21 and none equal to 0x7F (bytes from 0x80 up, obs-text, pass). Both tests are the exact
    /// word-at-a-time forms of "has a byte less than n" and "has a zero byte" (Bit Twiddling Hacks).
    @inline(__always)
    static func allVisible(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let below21 = (word &- ones &* 0x21) & ~word & highs
        let del = word ^ (ones &* 0x7F)
        let hasDEL = (del &- ones) & ~del & highs
        return below21 | hasDEL == 0
    }
}

/// Byte-level rules of HTTP's syntax that the parsers share (RFC 9110 §5.6).
enum HTTPSyntax {
    /// tchar (RFC 9110 §5.6.2): a bit per ASCII byte in two literal words, so a check is a shift and
    /// a mask with no lazily initialised table to guard (`swift_once` on every call).
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        if byte < 64 { return (0x03FF_6CFA_0000_0000 as UInt64) >> UInt64(byte) & 1 == 1 }
        if byte < 128 { return (0x57FF_FFFF_C7FF_FFFE as UInt64) >> UInt64(byte - 64) & 1 == 1 }
        return false
    }

    /// A method Latch takes: upper-case letters, `-` and `_`, as nginx (RFC 9110 §9.1 allows any
    /// token, but methods are case-sensitive, and a node that reads `get` as `GET` would disagree
    /// with Latch about whether the request is safe to retry).
    @inline(__always)
    static func isMethodByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }

    static func equals(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        let expected = literal.utf8Start
        for i in 0..<bytes.count where bytes[i] != expected[i] { return false }
        return true
    }

    /// ASCII case-insensitive comparison with a lower-case literal.
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercased: StaticString) -> Bool {
        guard bytes.count == lowercased.utf8CodeUnitCount else { return false }
        let expected = lowercased.utf8Start
        for i in 0..<bytes.count where bytes[i] | 0x20 != expected[i] { return false }
        return true
    }

    /// 1*DIGIT as an `Int`, `nil` when empty, not all digits, or beyond `Int.max`.
    static func decimal(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return value
    }

    /// The position after a quoted-string starting at `start` (RFC 9110 §5.6.4), `nil` if it has not
    /// ended yet; a control character in it is an error.
    static func quotedStringEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) throws(HTTPParserError) -> Int? {
        var i = start + 1
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "\""):
                return i + 1
            case UInt8(ascii: "\\"):
                guard i + 1 < bytes.count else { return nil }
                let escaped = bytes[i + 1]
                guard escaped == .tab || (escaped >= 0x20 && escaped != 0x7F) else { throw .invalidChunkSize }
                i += 2
            case .tab, 0x20...0x7E, 0x80...0xFF:
                i += 1
            default:
                throw .invalidChunkSize
            }
        }
        return nil
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The last non-empty element of a comma-separated list (RFC 9110 §5.6.1), whitespace trimmed.
    static func lastListElement(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var last: UnsafeRawBufferPointer?
        forEachListElement(bytes) { last = $0 }
        return last
    }

    /// Calls `body` with each non-empty element of a comma-separated list, whitespace trimmed.
    static func forEachListElement(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ",") { end += 1 }
            var lower = start
            var upper = end
            while lower < upper, bytes[lower] == .space || bytes[lower] == .tab { lower += 1 }
            while upper > lower, bytes[upper - 1] == .space || bytes[upper - 1] == .tab { upper -= 1 }
            if upper > lower { body(UnsafeRawBufferPointer(rebasing: bytes[lower..<upper])) }
            start = end + 1
        }
    }
}

extension UInt8 {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
}

extension HTTPMethod {
    /// Case tests without `==`, which for `HTTPMethod` compares the two methods' raw strings (it is
    /// `RawRepresentable`): this runs several times per request.
    var isHEAD: Bool {
        if case .HEAD = self { return true }
        return false
    }

    var isCONNECT: Bool {
        if case .CONNECT = self { return true }
        return false
    }
}
