import NIOHTTP1

/// The header fields Latch treats specially, recognised by comparing bytes without regard to ASCII
/// case (RFC 9110 §5.1: field names are case-insensitive). Classifying a name this way allocates
/// nothing, where `name.lowercased()` and a `Set<String>` lookup per field cost a string and a hash.
enum FieldName: Equatable {
    case connection, keepAlive, proxyConnection, te, transferEncoding, upgrade, contentLength
    case host, via, expect, forwarded, xRealIP, xForwardedFor, xForwardedProto, xForwardedHost
    case other

    init(_ name: String) {
        var name = name
        self = name.withUTF8 { FieldName.classify($0) }
    }

    /// Fields that are meaningful only for one connection (RFC 9110 §7.6.1). `Transfer-Encoding` and
    /// `Content-Length` count too: Latch frames every message it sends itself.
    var isHopByHop: Bool {
        switch self {
        case .connection, .keepAlive, .proxyConnection, .te, .transferEncoding, .upgrade, .contentLength: true
        default: false
        }
    }

    private static let known: [(String, FieldName)] = [
        ("connection", .connection), ("keep-alive", .keepAlive), ("proxy-connection", .proxyConnection),
        ("te", .te), ("transfer-encoding", .transferEncoding), ("upgrade", .upgrade),
        ("content-length", .contentLength), ("host", .host), ("via", .via), ("expect", .expect),
        ("forwarded", .forwarded), ("x-real-ip", .xRealIP), ("x-forwarded-for", .xForwardedFor),
        ("x-forwarded-proto", .xForwardedProto), ("x-forwarded-host", .xForwardedHost),
    ]

    private static func classify(_ name: UnsafeBufferPointer<UInt8>) -> FieldName {
        for (candidate, field) in known where candidate.utf8.count == name.count {
            if equalsIgnoringASCIICase(name, candidate) { return field }
        }
        return .other
    }
}

/// Whether `bytes` spell `lowercase` (which must be lower-case ASCII) in any ASCII case.
func equalsIgnoringASCIICase(_ bytes: UnsafeBufferPointer<UInt8>, _ lowercase: String) -> Bool {
    guard bytes.count == lowercase.utf8.count else { return false }
    var i = 0
    for expected in lowercase.utf8 {
        var byte = bytes[i]
        if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte |= 0x20 }
        if byte != expected { return false }
        i += 1
    }
    return true
}

extension String {
    /// Whether this string spells `lowercase` (lower-case ASCII) in any ASCII case, without allocating.
    func equalsIgnoringASCIICase(_ lowercase: String) -> Bool {
        guard utf8.count == lowercase.utf8.count else { return false }
        var copy = self
        return copy.withUTF8 { LatchProxy.equalsIgnoringASCIICase($0, lowercase) }
    }
}

extension HTTPHeaders {
    /// The values of the fields named `lowercaseName`, lazily: no array is built.
    func values(of lowercaseName: String) -> some Sequence<String> {
        lazy.filter { $0.name.equalsIgnoringASCIICase(lowercaseName) }.map(\.value)
    }
}
