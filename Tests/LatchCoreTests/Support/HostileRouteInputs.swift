import LatchCore

/// Seeded generators of hostile requests in the route fuzzer's byte layout (`RouteFuzzInput`), for the
/// bounded property tests: a failing case prints bytes that can be saved into the route corpus as is.
enum HostileRouteInputs {
    /// Pieces that mean something to the extractor or the cluster selector, plus a few that mean
    /// something to `Character` but not to bytes (a combining mark, U+FFFD, an invalid byte).
    static let tokens: [[UInt8]] = [
        "JSESSIONID", "jsessionid", "SID", "s", "sid", "=", ";", "; ", "&", "?", "#", "/", ".", "!", "~~", ":",
        "\"", " ", "\t", "tomcat1", "tomcat2", "node.dc1", "n.n", "x~~y", "L", "a", "0", "%2e", "%3B",
        "http://", "HTTPS://", "x.example.com", "[::1]", "/app", "/b", "\u{301}", "\u{FFFD}", "<", "'",
    ].map { Array($0.utf8) } + [[0xFF], [0xC3], [0x00], [0x0D]]

    /// One input: random bytes a third of the time, otherwise lines built from `tokens`.
    static func next(using random: inout SplitMix64) -> [UInt8] {
        var bytes: [UInt8] = [UInt8.random(in: 0x30...0x8F, using: &random), UInt8.random(in: 0x30...0x57, using: &random)]
        if Int.random(in: 0..<3, using: &random) == 0 {
            for _ in 0..<Int.random(in: 0...512, using: &random) { bytes.append(UInt8.random(in: 0...255, using: &random)) }
            return bytes
        }
        let lines = Int.random(in: 1...6, using: &random)
        for line in 0..<lines {
            if line > 0 { bytes.append(UInt8(ascii: "\n")) }
            for _ in 0..<Int.random(in: 0...24, using: &random) {
                let token = tokens.randomElement(using: &random)!
                bytes += Array(repeating: token, count: Int.random(in: 0...9, using: &random) == 0 ? 40 : 1).joined()
            }
        }
        return bytes
    }

    /// Megabyte-sized and many-piece inputs: each would show a quadratic scan as minutes, not milliseconds.
    static var huge: [(label: String, input: RouteFuzzInput)] {
        let mebibyte = 1 << 20
        let session = SessionConfig()
        let tilde = SessionConfig(separator: "~~")
        let nodes = RouteFuzzInput.nodeSets[0]
        func cookies(_ headers: [String], _ session: SessionConfig = session, target: String = "/") -> RouteFuzzInput {
            RouteFuzzInput(session: session, nodeNames: nodes, target: target, cookieHeaders: headers)
        }
        return [
            ("1 MiB session id", cookies(["JSESSIONID=" + String(repeating: "A", count: mebibyte) + ".tomcat1"])),
            ("1 MiB unknown route", cookies(["JSESSIONID=a." + String(repeating: "r", count: mebibyte)])),
            ("1 MiB of separators", cookies(["JSESSIONID=" + String(repeating: ".", count: mebibyte)])),
            ("1 MiB of half separators", cookies(["JSESSIONID=" + String(repeating: "~", count: mebibyte) + "~~tomcat1"], tilde)),
            ("1 MiB of semicolons", cookies([String(repeating: ";", count: mebibyte) + "JSESSIONID=a.tomcat2"],
                                            target: "/" + String(repeating: ";", count: mebibyte))),
            ("1 MiB of cookie names", cookies([String(repeating: "JSESSIONID", count: mebibyte / 10)])),
            ("10 000 cookies", cookies([(0..<10_000).map { "c\($0)=\($0)" }.joined(separator: "; ") + "; JSESSIONID=a.tomcat2"])),
            ("10 000 cookie lines", cookies(Array(repeating: "JSESSIONID=a.nope", count: 10_000) + ["JSESSIONID=a.tomcat1"])),
            ("70 000 path parameters", cookies([], target: "/" + String(repeating: ";jsessionid=a.x", count: 70_000))),
            ("100 000 query parameters", cookies([], target: "/?" + String(repeating: "jsessionid=.&", count: 100_000))),
        ]
    }
}
