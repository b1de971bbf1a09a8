/// The small cookie `failback: stay` sets on a failed-over response: it names the node that now owns
/// the session, bound to that session's id, so it takes precedence over the id's route suffix while the
/// owner is usable, and means nothing once the application issues a new id. No state is shared between
/// Latch instances: the client carries it.
///
/// Value: `<node>~<tag>`, where the tag is 16 hex digits of FNV-1a 64 over the session id. It is not a
/// secret: a client that forges it can only move its own session to another usable node, which it can
/// do by editing the route suffix anyway.
public enum OwnerCookie {
    public static func value(node: String, sessionID: String) -> String {
        "\(node)~\(tag(of: sessionID))"
    }

    /// The owner named by `value` if the value belongs to `sessionID`.
    public static func owner(in value: String, sessionID: String) -> String? {
        guard let separator = value.lastIndex(of: "~") else { return nil }
        let node = value[..<separator]
        let tag = value[value.index(after: separator)...]
        guard !node.isEmpty, tag == Self.tag(of: sessionID) else { return nil }
        return String(node)
    }

    /// The value of cookie `name` in any of the `Cookie` header lines (the first one wins).
    public static func find<Cookies: Sequence>(_ name: String, in cookieHeaders: Cookies) -> String? where Cookies.Element == String {
        for header in cookieHeaders {
            for pair in header.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " || $0 == "\t" }
                guard trimmed.hasPrefix(name), trimmed.dropFirst(name.count).first == "=" else { continue }
                return String(trimmed.dropFirst(name.count + 1)).trimmingSpaces()
            }
        }
        return nil
    }

    static func tag(of sessionID: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sessionID.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var s = self[...]
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
