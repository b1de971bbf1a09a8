import LatchCore

/// One request as the route fuzzer sees it, decoded from raw bytes.
///
/// The same layout is read by the `FuzzRouteExtractor` libFuzzer target, by `FuzzCorpusTests` and
/// by the files in `Tests/LatchCoreTests/Corpus/route-extractor/`, so any input the fuzzer saves
/// replays unchanged in the normal test suite:
///
/// - byte 0 picks the session settings (bit 6: ranked routes), byte 1 the node names and the cluster
///   layout. Both are read as `byte - 0x30` (wrapping), so the digit `0` is the default and corpus
///   files stay readable;
/// - the rest is split at every `\n`, which neither a request target nor a header value can hold:
///   line 1 is the request target, line 2 the `Host` header (empty: none), and every further line
///   is one `Cookie` header line.
///
/// Text is decoded as NIO does, with `String(decoding:as:)`, so invalid UTF-8 becomes U+FFFD.
///
/// Declarations are `public` because the fuzz package compiles this file into its own module.
public struct RouteFuzzInput: Sendable {
    public var session: SessionConfig
    public var nodeNames: [String]
    /// Which of ``RouteFuzzInput/clusterLayouts`` the `RoutingTable` check uses.
    public var layout: Int
    public var target: String
    public var host: String?
    public var cookieHeaders: [String]

    public init(session: SessionConfig, nodeNames: [String], layout: Int = 0, target: String,
                host: String? = nil, cookieHeaders: [String]) {
        self.session = session
        self.nodeNames = nodeNames
        self.layout = layout
        self.target = target
        self.host = host
        self.cookieHeaders = cookieHeaders
    }

    public init(bytes: [UInt8]) {
        let sessionByte = bytes.count > 0 ? bytes[0] &- 0x30 : 0
        let nodesByte = bytes.count > 1 ? bytes[1] &- 0x30 : 0
        session = SessionConfig(
            cookie: Self.cookieNames[Int(sessionByte & 3)],
            pathParameter: Self.parameterNames[Int(sessionByte >> 4 & 3)],
            separator: Self.separators[Int(sessionByte >> 2 & 3)],
            routes: sessionByte & 0x40 == 0 ? .single : .ranked)
        nodeNames = Self.nodeSets[Int(nodesByte & 7)]
        layout = Int(nodesByte >> 3 & 3)
        let lines = bytes.dropFirst(2).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let text = lines.map { String(decoding: $0, as: UTF8.self) }
        target = text.first ?? ""
        host = text.count > 1 && !text[1].isEmpty ? text[1] : nil
        cookieHeaders = Array(text.dropFirst(2))
    }

    // MARK: - Tables

    /// Bits 0–1 of byte 0. Case matters (`jsessionid` is not `JSESSIONID`); `s` matches inside other names.
    public static let cookieNames = ["JSESSIONID", "jsessionid", "SID", "s"]
    /// Bits 2–3 of byte 0: Tomcat, WebLogic, a two-byte one, and one that also appears in hosts.
    public static let separators = [".", "!", "~~", ":"]
    /// Bits 4–5 of byte 0; `nil` turns URL routing off.
    public static let parameterNames: [String?] = ["jsessionid", "JSESSIONID", "sid", nil]
    /// Bits 0–2 of byte 1. Includes names containing separators, prefixes of each other, a repeat
    /// (the first must win), one longer than the reported-route cut, and none at all.
    public static let nodeSets: [[String]] = [
        ["tomcat1", "tomcat2", "node.dc1"],
        ["a", "b"],
        ["n", "n.n", "n.n.n"],
        ["x~~y", "x", "x!y", "x:y"],
        ["1"],
        ["tomcat1", "tomcat1"],
        [String(repeating: "L", count: 100), "tomcat2"],
        [],
    ]
    /// Bits 3–4 of byte 1: how many clusters the `RoutingTable` has and what they match.
    public static let clusterLayouts = ["one cluster", "by host", "wildcard host and path prefix", "three sessions"]
}
