import LatchCore
import LatchProxy
import NIOCore
import NIOHTTP1
import NIOPosix

/// A ``LatchHarness`` whose cluster mixes ``RawBackend`` nodes (scripted bytes, every byte recorded)
/// with ordinary ``TestBackend`` nodes.
struct RawLatchHarness {
    let latch: LatchHarness
    let rawBackends: [RawBackend]

    var port: Int { latch.port }
    var group: MultiThreadedEventLoopGroup { latch.group }
    var server: ProxyServer { latch.server }
    var baseURL: String { latch.baseURL }

    func raw(_ name: String) -> RawBackend { rawBackends.first { $0.name == name }! }
    func backend(_ name: String) -> TestBackend { latch.backend(name) }

    /// Sends `bytes` on a new client connection and returns everything received until Latch closed it.
    func untilClosed(_ bytes: String) async throws -> String {
        try await latch.exchange(bytes)
    }
}

/// ``withLatch(nodes:threads:configure:reply:_:)`` with the nodes named in `raw` played by
/// ``RawBackend``s running `script` (on an event loop group of their own). The cluster's nodes keep
/// the order of `nodes`, so `usableNodes` and `stats` index them as listed.
func withLatch<T>(
    nodes: [String] = ["tomcat1", "tomcat2", "tomcat3"],
    raw: Set<String>,
    threads: Int = 2,
    script: @escaping @Sendable (String, RawRequest) -> [RawStep] = { _, _ in [.send(RawBackend.ok("hello"))] },
    configure: (inout LatchConfig) -> Void = { _ in },
    reply: @escaping @Sendable (String, HTTPRequestHead) -> BackendReply = { _, _ in .text(body: "hello") },
    _ body: (RawLatchHarness) async throws -> T
) async throws -> T {
    let rawGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var rawBackends: [RawBackend] = []
    do {
        for name in nodes where raw.contains(name) {
            rawBackends.append(try await RawBackend.start(name: name, group: rawGroup, script: { request in script(name, request) }))
        }
        let ports = Dictionary(uniqueKeysWithValues: rawBackends.map { ($0.name, $0.port) })
        let result = try await withLatch(
            nodes: nodes.filter { !raw.contains($0) },
            threads: threads,
            configure: { config in
                let http = config.clusters[0].nodes
                config.clusters[0].nodes = nodes.map { name in
                    if let port = ports[name] { return NodeConfig(name: name, address: HostPort(host: "127.0.0.1", port: port)) }
                    return http.first { $0.name == name }!
                }
                configure(&config)
            },
            reply: reply
        ) { h in
            try await body(RawLatchHarness(latch: h, rawBackends: rawBackends))
        }
        for backend in rawBackends { await backend.close() }
        try? await rawGroup.shutdownGracefully()
        return result
    } catch {
        for backend in rawBackends { await backend.close() }
        try? await rawGroup.shutdownGracefully()
        throw error
    }
}
