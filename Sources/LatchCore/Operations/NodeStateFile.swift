import Foundation

/// The runtime node states kept on disk so they survive a restart (httpd's balancer-manager and mod_jk's
/// status worker lose them). Only states an operator set at runtime are written; on start they take
/// precedence over lb.yaml for nodes that still exist, and entries for removed nodes are ignored.
///
/// Format (JSON, small and hand-editable):
/// `{"version": 1, "nodes": {"shop": {"tomcat1": "draining"}}}`
public struct NodeStateFile: Sendable, Equatable {
    /// cluster name → node name → state.
    public var states: [String: [String: NodeState]]

    public init(states: [String: [String: NodeState]] = [:]) {
        self.states = states
    }

    public enum LoadError: Error, Equatable, CustomStringConvertible {
        case unreadable(path: String, reason: String)
        case invalid(path: String, reason: String)

        public var description: String {
            switch self {
            case .unreadable(let path, let reason): "cannot read state file \(path): \(reason)"
            case .invalid(let path, let reason): "state file \(path) is not valid: \(reason)"
            }
        }
    }

    /// Reads the file; a file that does not exist yet is an empty state.
    public static func load(path: String) throws(LoadError) -> NodeStateFile {
        guard FileManager.default.fileExists(atPath: path) else { return NodeStateFile() }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: error.localizedDescription)
        }
        return try decode(data, path: path)
    }

    static func decode(_ data: Data, path: String) throws(LoadError) -> NodeStateFile {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw .invalid(path: path, reason: "expected a JSON object")
        }
        guard (object["version"] as? Int) == 1 else {
            throw .invalid(path: path, reason: "expected \"version\": 1")
        }
        guard let nodes = object["nodes"] as? [String: Any] else {
            throw .invalid(path: path, reason: "expected \"nodes\": {cluster: {node: state}}")
        }
        var states: [String: [String: NodeState]] = [:]
        for (cluster, value) in nodes {
            guard let byNode = value as? [String: String] else {
                throw .invalid(path: path, reason: "\"\(cluster)\" must map node names to states")
            }
            for (node, raw) in byNode {
                guard let state = NodeState(rawValue: raw) else {
                    throw .invalid(path: path, reason: "unknown state \"\(raw)\" for \(cluster)/\(node)")
                }
                states[cluster, default: [:]][node] = state
            }
        }
        return NodeStateFile(states: states)
    }

    /// JSON with sorted keys, so the file diffs cleanly.
    public func encoded() -> Data {
        let object: [String: Any] = [
            "version": 1,
            "nodes": states.mapValues { $0.mapValues(\.rawValue) },
        ]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data()
    }

    /// Writes atomically (a temporary file renamed over the old one), so a crash never leaves half a file.
    public func save(path: String) throws {
        try encoded().write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// lb.yaml's node states with the kept runtime states laid over them.
    public func applied(to config: LatchConfig) -> LatchConfig {
        var config = config
        for c in config.clusters.indices {
            guard let kept = states[config.clusters[c].name] else { continue }
            for n in config.clusters[c].nodes.indices {
                if let state = kept[config.clusters[c].nodes[n].name] {
                    config.clusters[c].nodes[n].state = state
                }
            }
        }
        return config
    }
}
