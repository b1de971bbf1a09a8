import NIOHTTP1

/// The header fields Latch treats specially, recognised by comparing bytes without regard to ASCII
/// case (RFC 9110 §5.1: field names are case-insensitive). Classifying a name this way allocates
/// nothing, where `name.lowercased()` and a `Set<String>` lookup per field cost a string and a hash.
enum FieldName: UInt8, Equatable {
    case connection, keepAlive, proxyConnection, te, transferEncoding, upgrade, contentLength
    case host, via, expect, forwarded, xRealIP, xForwardedFor, xForwardedProto, xForwardedHost
    case setCookie, cookie, referer, userAgent
    case other

    init(_ name: UnsafeBufferPointer<UInt8>) {
        self = FieldName.classify(name)
    }

    /// Fields that are meaningful only for one connection (RFC 9110 §7.6.1). `Transfer-Encoding` and
    /// `Content-Length` count too: Latch frames every message it sends itself.
    var isHopByHop: Bool {
        FieldNames.hopByHop.contains(self)
    }

    /// By length first, so most names are told apart by one comparison of their size.
    private static func classify(_ name: UnsafeBufferPointer<UInt8>) -> FieldName {
        func isName(_ lowercase: StaticString) -> Bool { equalsIgnoringASCIICase(name, lowercase) }
        switch name.count {
        case 2: return isName("te") ? .te : .other
        case 3: return isName("via") ? .via : .other
        case 4: return isName("host") ? .host : .other
        case 6: return isName("cookie") ? .cookie : isName("expect") ? .expect : .other
        case 7: return isName("upgrade") ? .upgrade : isName("referer") ? .referer : .other
        case 9: return isName("forwarded") ? .forwarded : isName("x-real-ip") ? .xRealIP : .other
        case 10:
            return isName("connection") ? .connection : isName("keep-alive") ? .keepAlive : isName("set-cookie") ? .setCookie
                : isName("user-agent") ? .userAgent : .other
        case 14: return isName("content-length") ? .contentLength : .other
        case 15: return isName("x-forwarded-for") ? .xForwardedFor : .other
        case 16: return isName("proxy-connection") ? .proxyConnection : isName("x-forwarded-host") ? .xForwardedHost : .other
        case 17: return isName("transfer-encoding") ? .transferEncoding : isName("x-forwarded-proto") ? .xForwardedProto : .other
        default: return .other
        }
    }
}

/// A set of ``FieldName``s, a bit each: which names a head holds, or which a rule drops, tested
/// against a line's name in one instruction.
struct FieldNames: OptionSet, Equatable {
    let rawValue: UInt32

    init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    init(_ name: FieldName) {
        self.rawValue = 1 << UInt32(name.rawValue)
    }

    /// Up to seven names, without the array a literal or a variadic list would build on each use.
    init(
        _ a: FieldName, _ b: FieldName, _ c: FieldName? = nil, _ d: FieldName? = nil, _ e: FieldName? = nil,
        _ f: FieldName? = nil, _ g: FieldName? = nil
    ) {
        func bit(_ name: FieldName?) -> UInt32 { name.map { 1 << UInt32($0.rawValue) } ?? 0 }
        self.rawValue = bit(a) | bit(b) | bit(c) | bit(d) | bit(e) | bit(f) | bit(g)
    }

    func contains(_ name: FieldName) -> Bool {
        rawValue >> UInt32(name.rawValue) & 1 == 1
    }

    /// Fields that are meaningful only for one connection (RFC 9110 §7.6.1), ``FieldName/isHopByHop``.
    /// Computed, not stored: a stored static is initialised lazily, a check on every use, where this
    /// folds to a constant.
    static var hopByHop: FieldNames {
        FieldNames(.connection, .keepAlive, .proxyConnection, .te, .transferEncoding, .upgrade, .contentLength)
    }
}

/// Whether `bytes` spell `lowercase` (which must be lower-case ASCII) in any ASCII case. The name is
/// a `StaticString`: its bytes are a constant in the binary, read through a pointer, where a
/// `String`'s UTF-8 view costs a few dozen instructions per byte visited.
func equalsIgnoringASCIICase(_ bytes: UnsafeBufferPointer<UInt8>, _ lowercase: StaticString) -> Bool {
    guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
    let expected = lowercase.utf8Start
    for i in 0..<bytes.count {
        var byte = bytes[i]
        if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte |= 0x20 }
        if byte != expected[i] { return false }
    }
    return true
}
