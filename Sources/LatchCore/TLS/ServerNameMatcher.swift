/// Which certificate answers a TLS client hello: the decision behind SNI, kept pure so it is
/// table-tested apart from any handshake.
///
/// The rules are those of RFC 6125 §6.4 as HAProxy and nginx apply them: names compare without
/// regard to ASCII case and a trailing dot; an exact name beats a wildcard; a wildcard `*.example.com`
/// covers exactly one more label (`a.example.com`, not `example.com` nor `a.b.example.com`); among
/// equals the certificate listed first wins; a hello without a server name, or with one no
/// certificate covers, gets the first (default) certificate.
public struct ServerNameMatcher: Sendable, Equatable {
    /// Per certificate, in lb.yaml order, the DNS names it is valid for, normalised.
    public let names: [[String]]

    public init(names: [[String]]) {
        self.names = names.map { $0.map(Self.normalise) }
    }

    /// The index of the certificate for `serverName`; 0 (the default) when none covers it.
    public func certificate(for serverName: String?) -> Int {
        guard let serverName, !serverName.isEmpty else { return 0 }
        let wanted = Self.normalise(serverName)
        if let exact = names.firstIndex(where: { $0.contains(wanted) }) { return exact }
        guard let dot = wanted.firstIndex(of: "."), wanted.index(after: dot) < wanted.endIndex else { return 0 }
        let wildcard = "*" + wanted[dot...]
        return names.firstIndex(where: { $0.contains(wildcard) }) ?? 0
    }

    /// Lower-cased ASCII without a trailing dot: `Shop.Example.COM.` is `shop.example.com`.
    static func normalise(_ name: String) -> String {
        var name = Substring(name)
        if name.hasSuffix(".") { name = name.dropLast() }
        return String(decoding: name.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
