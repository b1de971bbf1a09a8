/// Where a plain listener with `redirect_to_https` sends a request: the same host and target on https.
public enum HTTPSRedirect {
    /// `https://shop.example.com/cart?x=1` for Host `shop.example.com:8080`, target `/cart?x=1`,
    /// port 443; the port is written when it is not 443. An absolute-form target
    /// (`http://host/path`, RFC 9112 §3.2.2) keeps its path and query. `nil`: no usable Host.
    public static func location(host: String?, target: String, port: Int) -> String? {
        guard let host, let name = hostName(host) else { return nil }
        let portPart = port == 443 ? "" : ":\(port)"
        return "https://\(name)\(portPart)\(path(of: target))"
    }

    /// The host of a Host header without its port: `[::1]:8080` → `[::1]`, `a.example:80` → `a.example`.
    /// `nil` for an empty host or one with characters a URL authority cannot hold.
    static func hostName(_ host: String) -> String? {
        var name = Substring(host)
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return nil }
            name = name[...close]
        } else if let colon = name.firstIndex(of: ":") {
            name = name[..<colon]
        }
        guard !name.isEmpty, name.utf8.allSatisfy(isAuthorityByte) else { return nil }
        return String(name)
    }

    /// The path and query of a target: origin-form as it is, absolute-form from its first `/` after
    /// the authority, `*` and an empty path as `/`.
    static func path(of target: String) -> Substring {
        if target.hasPrefix("/") { return Substring(target) }
        guard let scheme = target.range(of: "://") else { return "/" }
        let afterAuthority = target[scheme.upperBound...]
        guard let slash = afterAuthority.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return "/" }
        let rest = afterAuthority[slash...]
        return rest.hasPrefix("?") ? Substring("/" + rest) : rest
    }

    /// Letters, digits and `-._~!$&'()*+,;=:[]%` (RFC 3986 §3.2.2 reg-name, IP literals).
    private static func isAuthorityByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "-._~!$&'()*+,;=:[]%".utf8.contains(byte)
        }
    }
}
