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
        var seconds = defaultSeconds
        for parameter in DemoQuery.parameters(of: uri) where parameter.name == "seconds" {
            guard let value = parameter.value.flatMap({ Int($0) }), (1...maxSeconds).contains(value) else { return nil }
            seconds = value
        }
        return seconds
    }
}

/// `POST /demo/announce?state=draining`: the switch that makes a demo node announce its own state in
/// its health check (`X-Node-State`), as an application's deploy hook would, so a node draining itself
/// can be watched through the balancer. Parsing only; `DemoNode` keeps the state.
public enum DemoAnnounceRequest {
    static let path = "/demo/announce"
    /// The response header of the demo nodes' `/health` that `latch demo` reads (`health.state_header`).
    public static let header = "X-Node-State"
    static let states = ["active", "draining", "maintenance"]

    /// The state the request asks for, from `state=` in the query; nil when absent or not one of ``states``.
    static func state(in uri: String) -> String? {
        guard let value = DemoQuery.parameters(of: uri).first(where: { $0.name == "state" && $0.value != nil })?.value else {
            return nil
        }
        return states.first { $0 == value }
    }
}

/// The `name=value` pairs of a request target's query (after `?`, before any `#`), in order; `value` is
/// nil for a bare name.
enum DemoQuery {
    static func parameters(of uri: String) -> [(name: Substring, value: Substring?)] {
        guard let question = uri.firstIndex(of: "?") else { return [] }
        var query = uri[uri.index(after: question)...]
        if let hash = query.firstIndex(of: "#") { query = query[..<hash] }
        return query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (parts[0], parts.count == 2 ? parts[1] : nil)
        }
    }
}
