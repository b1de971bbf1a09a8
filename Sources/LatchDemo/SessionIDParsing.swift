import NIOHTTP1

/// Where a Tomcat-like node finds the session id a client presents, and how it reads the request path.
///
/// Kept free of I/O so the rules can be read (and tested) on their own.
enum SessionIDParsing {
    /// Tomcat's default session cookie name; cookie names are case-sensitive (RFC 6265).
    static let cookieName = "JSESSIONID"
    /// Tomcat's URL-rewriting path parameter, e.g. `/cart;jsessionid=ABC.tomcat1?x=1`.
    static let pathParameter = ";jsessionid="

    /// Every session id the request offers, cookies first (in header order), then the path parameter.
    /// The caller takes the first one it knows, so a stale cookie does not hide a valid one after it.
    static func candidates(headers: HTTPHeaders, uri: String) -> [String] {
        // Raw header lines, not `headers[canonicalForm:]`: that splits on commas, which `Cookie` does not use.
        var result = cookieValues(named: cookieName, in: headers["cookie"])
        if let fromPath = pathParameterValue(in: uri) {
            result.append(fromPath)
        }
        return result
    }

    /// Values of every cookie called `name` in the given `Cookie` header lines. A client may send several
    /// `Cookie` headers (HTTP/2 gateways split them) and several `name=value` pairs per header.
    static func cookieValues(named name: String, in headerLines: [String]) -> [String] {
        var values: [String] = []
        for line in headerLines {
            for pair in line.split(separator: ";", omittingEmptySubsequences: true) {
                guard let equals = pair.firstIndex(of: "=") else { continue }
                let key = trimmed(pair[..<equals])
                guard key == name else { continue }
                let value = unquoted(trimmed(pair[pair.index(after: equals)...]))
                if !value.isEmpty { values.append(String(value)) }
            }
        }
        return values
    }

    /// The `;jsessionid=` path parameter in the path part of `uri` (before `?` or `#`), if any.
    static func pathParameterValue(in uri: String) -> String? {
        let path = pathAndParameters(of: uri)
        guard let start = path.firstRange(of: pathParameter) else { return nil }
        let rest = path[start.upperBound...]
        let end = rest.firstIndex(where: { $0 == ";" || $0 == "/" }) ?? rest.endIndex
        let value = rest[..<end]
        return value.isEmpty ? nil : String(value)
    }

    /// The request path with query, fragment and `;parameters` removed, as a servlet container would
    /// route it: `/health;jsessionid=X?probe=1` is `/health`.
    static func routedPath(of uri: String) -> String {
        let path = pathAndParameters(of: uri)
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
            segments.append(segment.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        }
        let joined = segments.joined(separator: "/")
        return joined.isEmpty ? "/" : joined
    }

    /// The path of `uri` with its `;parameters` but without query or fragment. An absolute-form target
    /// (`http://host:port/path`, as some proxies send) is reduced to its path first.
    private static func pathAndParameters(of uri: String) -> Substring {
        var target = Substring(uri)
        for scheme in ["http://", "https://"] where target.lowercased().hasPrefix(scheme) {
            target = target.dropFirst(scheme.count)
            target = target.firstIndex(of: "/").map { target[$0...] } ?? "/"
        }
        let end = target.firstIndex(where: { $0 == "?" || $0 == "#" }) ?? target.endIndex
        return target[..<end]
    }

    private static func trimmed(_ text: Substring) -> Substring {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isBlank($0) }),
            let last = text.lastIndex(where: { !isBlank($0) })
        else { return "" }
        return text[first...last]
    }

    /// RFC 6265 allows a cookie value wrapped in double quotes; the quotes are not part of the id.
    private static func unquoted(_ text: Substring) -> Substring {
        if text.count >= 2, text.first == "\"", text.last == "\"" {
            return text.dropFirst().dropLast()
        }
        return text
    }
}
