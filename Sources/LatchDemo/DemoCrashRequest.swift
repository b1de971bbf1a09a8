/// `POST /demo/crash?seconds=N`: the switch that makes a demo node fail like a crashed JVM, so failover
/// can be watched through the balancer. Parsing only; `DemoNode` does the crashing.
enum DemoCrashRequest {
    static let path = "/demo/crash"
    /// Long enough to reload a few times on the replica before the node returns.
    static let defaultSeconds = 20
    /// A forgotten node must come back within minutes, not stay down for the rest of the demo.
    static let maxSeconds = 300

    /// The downtime the request asks for: `seconds` from the query (1...300), or the default when absent;
    /// nil when it is not a whole number in range.
    static func seconds(in uri: String) -> Int? {
        guard let question = uri.firstIndex(of: "?") else { return defaultSeconds }
        var query = uri[uri.index(after: question)...]
        if let hash = query.firstIndex(of: "#") { query = query[..<hash] }
        var seconds = defaultSeconds
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts[0] == "seconds" else { continue }
            guard parts.count == 2, let value = Int(parts[1]), (1...maxSeconds).contains(value) else { return nil }
            seconds = value
        }
        return seconds
    }
}
