/// `host:port` as written in `lb.yaml`: `0.0.0.0:8080`, `[::1]:8080`, `app1.internal:8080`, `localhost:0`.
///
/// IPv6 literals must be bracketed (RFC 3986 §3.2.2) because otherwise the port cannot be told apart
/// from the address's last group. Port 0 is accepted here (an ephemeral listener, handy in tests);
/// whether it makes sense is for the caller to decide. Names are not resolved here.
public enum HostPortParser {
    /// Why a text is not a `host:port`, phrased to follow `invalid address "…": `.
    public struct Problem: Error, Equatable {
        public var reason: String
    }

    public static func parse(_ text: String) -> HostPort? {
        try? parseExplaining(text).get()
    }

    /// Like `parse`, but says what is wrong.
    public static func parseExplaining(_ text: String) -> Result<HostPort, Problem> {
        if text.isEmpty {
            return .failure(Problem(reason: "empty address; expected host:port, e.g. 10.0.0.11:8080"))
        }
        if text.unicodeScalars.contains(where: { $0.properties.isWhitespace }) {
            return .failure(Problem(reason: "contains a space"))
        }
        if text.contains("://") {
            return .failure(Problem(reason: "write host:port without a scheme such as http://"))
        }
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                return .failure(Problem(reason: "missing \"]\" after the IPv6 address"))
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                return .failure(Problem(reason: "missing port; expected [address]:port, e.g. [::1]:8080"))
            }
            guard rest.hasPrefix(":") else {
                return .failure(Problem(reason: "expected \":\" and a port after \"]\""))
            }
            port = rest.dropFirst()
            if host.isEmpty {
                return .failure(Problem(reason: "empty host between \"[\" and \"]\""))
            }
            guard isIPv6(host) else {
                return .failure(Problem(reason: "\"\(host)\" is not an IPv6 address"))
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                return .failure(Problem(reason: "missing port; expected host:port, e.g. 10.0.0.11:8080"))
            }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
            if host.contains(":") {
                return .failure(Problem(reason: "an IPv6 address must be in brackets, e.g. [::1]:8080"))
            }
            if host.isEmpty {
                return .failure(Problem(reason: "empty host; expected host:port, e.g. 10.0.0.11:8080"))
            }
            if let bad = host.unicodeScalars.first(where: { !isHostNameScalar($0) }) {
                return .failure(Problem(reason: "host \"\(host)\" contains \"\(bad)\"; "
                    + "use an IP address or a name of letters, digits, \"-\", \".\" and \"_\""))
            }
        }
        if port.isEmpty {
            return .failure(Problem(reason: "missing port after \":\""))
        }
        guard port.unicodeScalars.allSatisfy({ $0.properties.numericType == .decimal && $0.isASCII }) else {
            return .failure(Problem(reason: "port \"\(port)\" is not a number"))
        }
        guard port.count <= 5, let number = Int(port), number <= 65535 else {
            return .failure(Problem(reason: "port \(port) is out of range 0...65535"))
        }
        return .success(HostPort(host: String(host), port: number))
    }

    private static func isHostNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "-", ".", "_": return true
        default: return false
        }
    }

    /// A loose check (hex groups, colons, an embedded IPv4 tail, a `%zone`): enough to catch typos
    /// without duplicating `inet_pton`, which will reject the rest when the socket is opened.
    private static func isIPv6(_ host: Substring) -> Bool {
        let address = host.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)[0]
        return address.contains(":") && address.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isASCIIHexDigit || scalar == ":" || scalar == "."
        }
    }
}
