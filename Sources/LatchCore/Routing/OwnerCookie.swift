/// The small cookie `failback: stay` sets on a failed-over response: it names the node that now owns
/// the session, bound to that session's id, so it takes precedence over the id's route suffix while the
/// owner is usable, and means nothing once the application issues a new id. No state is shared between
/// Latch instances: the client carries it.
///
/// Value: `<node>~<tag>`, where the tag is 16 hex digits of FNV-1a 64 over the session id. It is not a
/// secret: a client that forges it can only move its own session to another usable node, which it can
/// do by editing the route suffix anyway.
///
/// Reading it (``find(_:in:)``, ``owner(in:sessionID:)``) runs on every sticky request of a
/// `failback: stay` cluster and allocates nothing for plain ASCII cookies (what browsers send): it
/// answers with slices of the header. Other bytes take the original `Character`-based reading.
public enum OwnerCookie {
    public static func value<ID: StringProtocol>(node: String, sessionID: ID) -> String {
        "\(node)~\(tag(of: sessionID))"
    }

    /// The owner named by `value` if the value belongs to `sessionID`.
    public static func owner<ID: StringProtocol>(in value: String, sessionID: ID) -> Substring? {
        owner(in: value[...], sessionID: sessionID)
    }

    /// The owner named by `value` if the value belongs to `sessionID`: a slice of `value`.
    public static func owner<ID: StringProtocol>(in value: Substring, sessionID: ID) -> Substring? {
        var slice = value
        let hash = fnv1a(sessionID)
        // nil: not plain ASCII; .some(nil): no owner; .some(range): the node's UTF-8 offsets.
        let fast = slice.withUTF8 { bytes -> Range<Int>?? in
            guard PlainASCII.contains(bytes) else { return nil }
            guard let separator = bytes.lastIndex(of: UInt8(ascii: "~")), separator > 0,
                tagMatches(UnsafeBufferPointer(rebasing: bytes[(separator + 1)...]), hash)
            else { return .some(nil) }
            return .some(0..<separator)
        }
        switch fast {
        case .some(.some(let node)):
            let utf8 = slice.utf8
            return Substring(utf8[utf8.startIndex..<utf8.index(utf8.startIndex, offsetBy: node.upperBound)])
        case .some(.none):
            return nil
        case .none:
            return characterOwner(in: String(value), sessionID: sessionID)
        }
    }

    /// The value of cookie `name` in any of the `Cookie` header lines (the first one wins): a slice of
    /// that line, its trailing blanks cut.
    public static func find<Cookies: Sequence>(_ name: String, in cookieHeaders: Cookies) -> Substring? where Cookies.Element == String {
        // An array is walked as a buffer: see RouteExtractor (generic iteration allocates per element).
        let fromBuffer = cookieHeaders.withContiguousStorageIfAvailable { headers -> Substring? in
            for header in headers {
                if let value = find(name, inLine: header) { return value }
            }
            return nil
        }
        if let fromBuffer { return fromBuffer }
        for header in cookieHeaders {
            if let value = find(name, inLine: header) { return value }
        }
        return nil
    }

    static func tag<ID: StringProtocol>(of sessionID: ID) -> String {
        let hex = String(fnv1a(sessionID), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    // MARK: - Reading

    private static func fnv1a<ID: StringProtocol>(_ sessionID: ID) -> UInt64 {
        // Over the buffer when there is one: a generic `utf8` walk from outside the module goes
        // through a protocol witness per byte.
        if let hash = sessionID.utf8.withContiguousStorageIfAvailable({ fnv1a(bytes: $0) }) { return hash }
        return fnv1a(bytes: sessionID.utf8)
    }

    private static func fnv1a<Bytes: Sequence<UInt8>>(bytes: Bytes) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return hash
    }

    /// Whether `bytes` are ``tag(of:)`` of the id with this hash: 16 lower-case hex digits.
    private static func tagMatches(_ bytes: UnsafeBufferPointer<UInt8>, _ hash: UInt64) -> Bool {
        guard bytes.count == 16 else { return false }
        for k in 0..<16 {
            let nibble = UInt8(truncatingIfNeeded: hash >> UInt64(60 - 4 * k)) & 0xF
            let digit = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
            if bytes[k] != digit { return false }
        }
        return true
    }

    /// One `Cookie` line.
    private static func find(_ name: String, inLine header: String) -> Substring? {
        var line = header
        var wanted = name
        // nil: not plain ASCII; .some(nil): not here; .some(range): the value's UTF-8 offsets.
        let fast = line.withUTF8 { bytes in
            wanted.withUTF8 { name -> Range<Int>?? in
                guard PlainASCII.contains(bytes), PlainASCII.contains(name) else { return nil }
                return .some(valueRange(of: name, in: bytes))
            }
        }
        switch fast {
        case .some(.some(let range)):
            let utf8 = line.utf8
            let lower = utf8.index(utf8.startIndex, offsetBy: range.lowerBound)
            return Substring(utf8[lower..<utf8.index(lower, offsetBy: range.count)])
        case .some(.none):
            return nil
        case .none:
            return characterFind(name, inLine: header)
        }
    }

    /// The `Character`-based reading below, on plain ASCII bytes, where a `Character` is a byte: pairs
    /// split at `;`, leading blanks dropped, `name=` exactly, trailing blanks cut from the value.
    private static func valueRange(of name: UnsafeBufferPointer<UInt8>, in bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var found: Range<Int>?
        CookiePairs.scan(bytes) { nameStart, pairEnd in
            let eq = nameStart + name.count
            guard eq < pairEnd, bytes[eq] == UInt8(ascii: "="),
                UnsafeBufferPointer(rebasing: bytes[nameStart..<eq]).elementsEqual(name)
            else { return false }
            var valueEnd = pairEnd
            while valueEnd > eq + 1, CookiePairs.isBlank(bytes[valueEnd - 1]) { valueEnd -= 1 }
            found = (eq + 1)..<valueEnd
            return true
        }
        return found
    }

    // MARK: - Any other bytes: by Characters, on fresh strings, as always

    private static func characterOwner<ID: StringProtocol>(in value: String, sessionID: ID) -> Substring? {
        guard let separator = value.lastIndex(of: "~") else { return nil }
        let node = value[..<separator]
        let tag = value[value.index(after: separator)...]
        guard !node.isEmpty, tag == Self.tag(of: sessionID) else { return nil }
        return String(node)[...]
    }

    private static func characterFind(_ name: String, inLine header: String) -> Substring? {
        for pair in header.split(separator: ";") {
            let trimmed = pair.drop { $0 == " " || $0 == "\t" }
            guard trimmed.hasPrefix(name), trimmed.dropFirst(name.count).first == "=" else { continue }
            var value = String(trimmed.dropFirst(name.count + 1))[...]
            while value.last == " " || value.last == "\t" { value = value.dropLast() }
            return String(value)[...]
        }
        return nil
    }
}
