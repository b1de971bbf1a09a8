import Foundation
import LatchCore
import LatchProxy
import Logging
import NIOCore
import NIOHTTP1

/// Latch plus its admin listener on 127.0.0.1:0, optionally with a token.
func withAdmin<T>(
    token: String? = nil,
    stateFile: String? = nil,
    reloadFrom configPath: String? = nil,
    configure: (inout LatchConfig) -> Void = { _ in },
    _ body: (LatchHarness, String) async throws -> T
) async throws -> T {
    let tokenPath = token.map { _ in FileManager.default.temporaryDirectory.appendingPathComponent("latch-token-\(UUID().uuidString)").path }
    if let token, let tokenPath { try "\(token)\n".write(toFile: tokenPath, atomically: true, encoding: .utf8) }
    defer { if let tokenPath { try? FileManager.default.removeItem(atPath: tokenPath) } }
    return try await withLatch(configure: { config in
        config.stateFile = stateFile
        config.clusters[0].failover.nodeHeader = "X-Latch-Node"
        config.clusters[0].nodes[0].replicas = ["tomcat2"]
        configure(&config)
    }) { h in
        var logger = Logger(label: "admin-test")
        logger.logLevel = .critical
        let admin = try AdminServer(
            server: h.server,
            config: AdminConfig(address: HostPort(host: "127.0.0.1", port: 0), tokenFile: tokenPath),
            logger: logger,
            reloader: configPath.map { Reloader(server: h.server, path: $0, logger: logger) }
        )
        let address = try await admin.start(group: h.group)
        do {
            let result = try await body(h, "http://127.0.0.1:\(address.port!)")
            await admin.stop()
            return result
        } catch {
            await admin.stop()
            throw error
        }
    }
}

func request(_ h: LatchHarness, _ url: String, method: HTTPMethod = .GET, body: String? = nil, token: String? = nil) async throws -> (HTTPResponseStatus, String) {
    var headers: HTTPHeaders = [:]
    if method == .POST { headers.add(name: "Content-Type", value: "application/json") }
    if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
    let answer = try await h.send(method, "", headers: headers, body: body, url: url)
    return (answer.status, answer.body)
}
