import AsyncHTTPClient
import Foundation
import LatchCore
import LatchProxy
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Latch on 127.0.0.1:0 in front of real ``TestBackend`` nodes, plus a real HTTP client.
/// Everything is torn down by ``withLatch(nodes:configure:reply:_:)`` whatever the test does.
struct LatchHarness {
    let group: MultiThreadedEventLoopGroup
    let backends: [TestBackend]
    let server: ProxyServer
    let client: HTTPClient
    let port: Int

    var baseURL: String { "http://127.0.0.1:\(port)" }

    func backend(_ name: String) -> TestBackend { backends.first { $0.name == name }! }
}

/// - Parameters:
///   - nodes: node names, each gets a backend.
///   - configure: adjust the generated config (timeouts, balance…).
func withLatch<T>(
    nodes: [String] = ["tomcat1", "tomcat2", "tomcat3"],
    threads: Int = 2,
    backendTLS: NIOSSLContext? = nil,
    configure: (inout LatchConfig) -> Void = { _ in },
    reply: @escaping @Sendable (String, HTTPRequestHead) -> BackendReply = { _, _ in .text(body: "hello") },
    _ body: (LatchHarness) async throws -> T
) async throws -> T {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    var backends: [TestBackend] = []
    for name in nodes {
        backends.append(try await TestBackend.start(name: name, group: group, tls: backendTLS) { head in reply(name, head) })
    }
    var config = LatchConfig(
        listeners: [ListenerConfig(address: HostPort(host: "127.0.0.1", port: 0))],
        clusters: [
            ClusterConfig(
                name: "shop",
                nodes: backends.map { NodeConfig(name: $0.name, address: HostPort(host: "127.0.0.1", port: $0.port)) }
            )
        ]
    )
    configure(&config)
    var logger = Logger(label: "latch-test")
    // LATCH_TEST_LOG=info (or debug…) shows Latch's own log lines and access lines while debugging a test.
    logger.logLevel = ProcessInfo.processInfo.environment["LATCH_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    // A test that names an access log file gets its lines (the access log writes at info and below).
    var accessLogger = logger
    if config.accessLog.path != nil { accessLogger.logLevel = min(logger.logLevel, .info) }
    let server = ProxyServer(config: config, group: group, logger: logger, accessLogger: accessLogger)
    let addresses = try await server.start()
    let client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: .init(timeout: .init(connect: .seconds(5), read: .seconds(60))))
    let harness = LatchHarness(group: group, backends: backends, server: server, client: client, port: addresses[0].port!)
    do {
        let result = try await body(harness)
        await teardown(harness)
        return result
    } catch {
        await teardown(harness)
        throw error
    }
}

private func teardown(_ harness: LatchHarness) async {
    try? await harness.client.shutdown()
    await harness.server.shutdown()
    for backend in harness.backends { await backend.close() }
    try? await harness.group.shutdownGracefully()
}


/// One answer through Latch, as the session tests read it.
struct Answer: Sendable {
    var status: HTTPResponseStatus
    /// The node that answered (`X-Backend-Node`, set by every ``TestBackend``).
    var node: String?
    /// The node Latch says answered (`X-Latch-Node`, added when a cluster sets `failover.node_header` to
    /// that name; none on Latch's own answers). Unlike ``node`` it names ``RawBackend`` nodes too.
    var latchNode: String? { headers.first(name: "X-Latch-Node") }
    var headers: HTTPHeaders
    /// The body as text (at most 1 MiB).
    var body: String

    /// The `JSESSIONID=<id>` pair of the answer's session `Set-Cookie`, if it has one (attributes cut).
    var sessionCookie: String? {
        headers["set-cookie"].first { $0.hasPrefix("JSESSIONID=") }.map { String($0.prefix { $0 != ";" }) }
    }
}

extension LatchHarness {
    /// A GET of `path` with one `Cookie` line (or none), its body read whole. The 20 s timeout leaves
    /// room for requests that wait in a node's queue or are retried elsewhere on a loaded machine.
    func get(_ path: String = "/", cookie: String? = nil, url base: String? = nil) async throws -> Answer {
        try await send(.GET, path, cookie: cookie, url: base)
    }

    /// `method` on `path` (of Latch, or of `base`, e.g. the admin listener): one `Cookie` line (or none)
    /// first, then `headers` in their order, then `body` with a known length; the answer's body read whole.
    func send(
        _ method: HTTPMethod,
        _ path: String = "/",
        cookie: String? = nil,
        headers: HTTPHeaders = [:],
        body: String? = nil,
        url base: String? = nil
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: (base ?? baseURL) + path)
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        request.headers.add(contentsOf: headers)
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(20))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Answer(
            status: response.status,
            node: response.headers.first(name: "X-Backend-Node"),
            headers: response.headers,
            body: String(buffer: body)
        )
    }
}

/// Polls `condition` every 10 ms: true as soon as it holds, false once `limit` has passed. The condition
/// may itself wait (a connect, a request); the limit counts that time too.
func eventually(within limit: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}
