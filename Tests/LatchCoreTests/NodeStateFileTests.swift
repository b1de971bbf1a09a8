import Foundation
import Testing

@testable import LatchCore

struct NodeStateFileTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("latch-state-\(UUID().uuidString).json").path
    }

    @Test func roundTripThroughTheFile() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = NodeStateFile(states: ["shop": ["tomcat1": .draining, "tomcat3": .maintenance], "api": ["a1": .active]])
        try file.save(path: path)
        #expect(try NodeStateFile.load(path: path) == file)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("\"tomcat1\" : \"draining\""))
    }

    @Test func missingFileIsEmpty() throws {
        #expect(try NodeStateFile.load(path: "/nonexistent/latch-state.json") == NodeStateFile())
    }

    @Test(arguments: [
        ("[]", "expected a JSON object"),
        ("{\"nodes\": {}}", "expected \"version\": 1"),
        ("{\"version\": 1}", "expected \"nodes\": {cluster: {node: state}}"),
        ("{\"version\": 1, \"nodes\": {\"shop\": {\"t1\": \"asleep\"}}}", "unknown state \"asleep\" for shop/t1"),
        ("{\"version\": 1, \"nodes\": {\"shop\": [1]}}", "\"shop\" must map node names to states"),
    ])
    func invalidFiles(text: String, reason: String) throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: NodeStateFile.LoadError.invalid(path: path, reason: reason)) {
            try NodeStateFile.load(path: path)
        }
    }

    @Test func appliedOverTheConfigForNodesThatStillExist() {
        let config = LatchConfig(
            listeners: [ListenerConfig(address: HostPort(host: "127.0.0.1", port: 0))],
            clusters: [
                ClusterConfig(
                    name: "shop",
                    nodes: [
                        NodeConfig(name: "tomcat1", address: HostPort(host: "127.0.0.1", port: 1)),
                        NodeConfig(name: "tomcat2", address: HostPort(host: "127.0.0.1", port: 2), state: .draining),
                    ]
                )
            ]
        )
        let kept = NodeStateFile(states: ["shop": ["tomcat1": .maintenance, "gone": .draining], "old": ["x": .draining]])
        let applied = kept.applied(to: config)
        #expect(applied.clusters[0].nodes.map(\.state) == [.maintenance, .draining])
    }
}
