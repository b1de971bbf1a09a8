/// Whether a request's `Upgrade` is passed to the node, and which protocols: the decision behind
/// WebSocket pass-through, kept pure so it is table-tested apart from the sockets.
///
/// `Upgrade` is hop-by-hop (RFC 9110 §7.6.1): Latch removes it unless the request is one it can
/// turn into a tunnel once the node answers `101 Switching Protocols`. That takes:
/// - HTTP/1.1 or later: a server must ignore `Upgrade` in an HTTP/1.0 request (RFC 9110 §7.8);
/// - `upgrade` among the `Connection` tokens, which is what makes `Upgrade` apply to this hop;
/// - no request body: the node's 101 would have to come before a body Latch is still relaying,
///   and WebSocket's opening handshake is a bodiless GET (RFC 6455 §4.1);
/// - not `CONNECT`, which Latch refuses anyway;
/// - protocols other than `h2c`: an `h2c` upgrade through a proxy is the known way to smuggle
///   HTTP/2 requests past the proxy's rules ("h2c smuggling"), so it is dropped from the list, as
///   nginx never forwards it and HAProxy refuses it.
public enum UpgradeOffer {
    public enum Outcome: Equatable, Sendable {
        /// Forward `Connection: Upgrade` and `Upgrade: <protocols>`; a 101 opens a tunnel.
        case forward(protocols: String)
        /// Forward the request without `Upgrade`; why, for the debug log.
        case strip(String)
        /// No `Upgrade` in the request.
        case none
    }

    /// - Parameters:
    ///   - connectionTokens: the `Connection` field's tokens, lower-cased.
    ///   - upgradeValues: every `Upgrade` field value, as received.
    public static func evaluate(
        versionMinor: Int,
        versionMajor: Int = 1,
        method: String,
        connectionTokens: [String],
        upgradeValues: [String],
        hasBody: Bool
    ) -> Outcome {
        guard !upgradeValues.isEmpty else { return .none }
        guard versionMajor == 1 else { return .strip("HTTP/\(versionMajor) has no Upgrade (RFC 9113 §8.6)") }
        guard versionMinor >= 1 else { return .strip("an HTTP/1.0 request cannot upgrade") }
        guard connectionTokens.contains("upgrade") else { return .strip("Upgrade without Connection: upgrade") }
        guard method != "CONNECT" else { return .strip("CONNECT") }
        guard !hasBody else { return .strip("an upgrade request with a body") }
        let protocols = upgradeValues
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingASCIISpaces() }
            .filter { !$0.isEmpty && !Self.isH2C($0) }
        guard !protocols.isEmpty else { return .strip("only h2c, which is never passed on") }
        guard protocols.allSatisfy(isProtocol) else { return .strip("a malformed Upgrade value") }
        return .forward(protocols: protocols.joined(separator: ", "))
    }

    /// `h2c`, any case, with or without a version.
    static func isH2C(_ token: Substring) -> Bool {
        let name = token.split(separator: "/", maxSplits: 1).first ?? ""
        return name.lowercased() == "h2c"
    }

    /// `protocol-name ["/" protocol-version]`, both tokens (RFC 9110 §7.8).
    static func isProtocol(_ text: Substring) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        return (1...2).contains(parts.count) && parts.allSatisfy { !$0.isEmpty && NameRules.firstNonTokenCharacter(in: String($0)) == nil }
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (optional whitespace, RFC 9110 §5.6.3).
    func trimmingASCIISpaces() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
