/// Whether a request to the admin listener names it by a name the operator gave it: the guard against
/// DNS rebinding. A web page at `evil.example` can make its name resolve to 127.0.0.1 and then read
/// `http://evil.example:9090/api/status` as same-origin, or post to it; the browser still sends
/// `Host: evil.example:9090`, which is what gives it away.
///
/// Allowed: an IP address (a rebinding needs a DNS name), `localhost`, the admin address's own host
/// name, and the names in `admin.hosts`; compared without regard to ASCII case, a trailing dot or the
/// port. A request without `Host` (HTTP/1.0, not a browser) passes.
public enum AdminHostCheck {
    public static func allows(host header: String?, listenHost: String, extra: [String]) -> Bool {
        guard let header else { return true }
        guard let name = hostName(header) else { return false }
        if name.hasPrefix("[") || isIPv4(name) { return true }
        let allowed = ["localhost", listenHost] + extra
        return allowed.contains { normalise($0) == name }
    }

    /// The Host value's host, normalised: `Shop.Example.:9090` → `shop.example`, `[::1]:9090` → `[::1]`.
    static func hostName(_ header: String) -> String? {
        var text = Substring(header.trimmingASCIIWhitespace())
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            text = text[...close]
        } else if let colon = text.firstIndex(of: ":") {
            text = text[..<colon]
        }
        let name = normalise(String(text))
        return name.isEmpty ? nil : name
    }

    static func normalise(_ name: String) -> String {
        var name = Substring(name)
        if name.hasSuffix(".") { name = name.dropLast() }
        return String(decoding: name.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
    }

    static func isIPv4(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCIIDigit) && Int(part)! <= 255
        }
    }
}

extension String {
    func trimmingASCIIWhitespace() -> Substring {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
