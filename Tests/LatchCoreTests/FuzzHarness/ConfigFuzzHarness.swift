import LatchCore

/// `ConfigLoader.parse` on any bytes: it returns a config that routes, or throws a `ConfigError` that
/// points into the file. Crashes and hangs are for libFuzzer to catch; this checks the rest.
///
/// Bytes are decoded as `String(decoding:as:)` does, so invalid UTF-8 reaches the parser as U+FFFD
/// (the loader itself rejects such files before parsing; the parser must still survive them).
public enum ConfigFuzzHarness {
    /// Named in every error; a directory part proves the whole path is kept, not just the last part.
    public static let file = "fuzz/lb.yaml"

    /// Found by this fuzzer and fixed: Yams hashes every mapping key in full to find duplicates, so a
    /// key that was an alias of a "billion laughs" tree made `Yams.compose` run for hours; the loader
    /// now refuses keys that are not plain text before composing (`ComplexKeyCheck`).
    public static func violations(bytes: [UInt8]) -> [String] {
        let yaml = String(decoding: bytes, as: UTF8.self)
        let config: LatchConfig
        do {
            config = try ConfigLoader.parse(yaml: yaml, file: file)
        } catch {
            return errorViolations(error, yaml: yaml)
        }
        return configViolations(config)
    }

    /// Every error names the file, and a real line and column in it, except the one about the file
    /// as a whole.
    static func errorViolations(_ error: ConfigError, yaml: String) -> [String] {
        var problems: [String] = []
        let text = error.description
        if error.file != file || !text.hasPrefix(file + ":") {
            problems.append("error does not name the file: \(text)")
        }
        guard let line = error.line else {
            return error.message.hasPrefix("the file is empty") ? problems : problems + ["error without a line: \(text)"]
        }
        // libyaml counts CR, LF, CRLF, NEL, LS and PS as line breaks; allow one line past the end.
        let breaks = yaml.unicodeScalars.filter { "\n\r\u{85}\u{2028}\u{2029}".unicodeScalars.contains($0) }.count
        if line < 1 || line > breaks + 2 {
            problems.append("line \(line) outside the file (\(breaks) line breaks): \(text)")
        }
        if let column = error.column, column < 1 || column > yaml.unicodeScalars.count + 2 {
            problems.append("column \(column) outside the file: \(text)")
        }
        if !text.hasPrefix("\(file):\(line)") {
            problems.append("description does not start with file:line: \(text)")
        }
        return problems
    }

    /// What the decoder promises of any config it accepts, and that the routing table builds from it.
    static func configViolations(_ config: LatchConfig) -> [String] {
        var problems: [String] = []
        if config.listeners.isEmpty { problems.append("accepted with no listeners") }
        if config.clusters.isEmpty { problems.append("accepted with no clusters") }
        for cluster in config.clusters {
            let names = cluster.nodes.map(\.name)
            if names.isEmpty { problems.append("cluster \(cluster.name) accepted with no nodes") }
            if Set(names).count != names.count { problems.append("cluster \(cluster.name) repeats a node name") }
            if cluster.session.cookie.isEmpty || cluster.session.separator.isEmpty {
                problems.append("cluster \(cluster.name) accepted with an empty cookie or separator")
            }
        }
        guard !config.clusters.isEmpty else { return problems }
        let table = RoutingTable(config: config)
        let routed = table.route(host: "example.com", target: "/;jsessionid=a.b?x=1", cookieHeaders: ["JSESSIONID=a.b"])
        if !config.clusters.indices.contains(routed.cluster) { problems.append("routed to no cluster") }
        _ = ConfigSummary.render(config)
        return problems
    }
}
