import ArgumentParser
import Foundation
import LatchCore
import LatchProxy
import NIOCore
import NIOHTTP1
import NIOPosix

struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Check lb.yaml, then ask the running Latch to apply it (through its admin API).",
        discussion: """
            The file is validated here first, so a broken file is reported at once with its line and column
            and nothing is sent. The running Latch is reached at the file's admin address, with the bearer
            token from admin.token_file. Without an admin listener, send SIGHUP instead: kill -HUP <pid>.
            """
    )

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try options.load()
        guard let admin = config.admin else {
            printError("error: latch reload talks to the admin API, and \(options.path) has no `admin:` block; add one, or send SIGHUP to the latch process (kill -HUP <pid>)")
            throw ExitCode.failure
        }
        var token: String?
        if let path = admin.tokenFile {
            token = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // A wildcard listen address is reached through loopback.
        var host = admin.address.host
        if host == "0.0.0.0" { host = "127.0.0.1" } else if host == "::" { host = "::1" }
        let status: HTTPResponseStatus
        let body: String
        do {
            (status, body) = try await AdminClient.post(host: host, port: admin.address.port, path: "/api/reload", token: token)
        } catch {
            if isConnectionRefused(error) {
                printError("error: no Latch is listening at \(admin.address), the admin address \(options.path) names (connection refused); is it running, with this file?")
            } else {
                printError("error: cannot reach the admin API at \(admin.address): \(describeNetworkError(error))")
            }
            throw ExitCode.failure
        }
        let said = Self.said(in: body)
        switch status.code {
        case 200:
            print("reloaded: \(said)")
        case 401:
            let hint = admin.tokenFile.map { "\($0) does not hold the running Latch's token" } ?? "\(options.path) names no admin.token_file"
            printError("error: the running Latch refused the request (401 Unauthorized): \(hint)")
            throw ExitCode.failure
        case 422:
            printError("error: the running Latch rejected the file and keeps its configuration: \(said)")
            throw ExitCode.failure
        default:
            printError("error: the admin API at \(admin.address) answered \(status.code) \(status.reasonPhrase): \(said)")
            throw ExitCode.failure
        }
    }

    /// What an admin answer says in words: its `message` or `error`, else the body as it came.
    static func said(in body: String) -> String {
        let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        let text = object?["message"] as? String ?? object?["error"] as? String ?? body
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Just enough HTTP/1.1 client for one admin request.
enum AdminClient {
    static func post(host: String, port: Int, path: String, token: String?) async throws -> (HTTPResponseStatus, String) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }
        let promise = group.next().makePromise(of: (HTTPResponseStatus, String).self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(Collector(promise: promise))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            // Completed either way: a promise dropped unfulfilled is a crash in debug builds.
            promise.fail(error)
            throw error
        }
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var headers = HTTPHeaders([
            ("Host", hostHeader), ("Content-Type", "application/json"), ("Content-Length", "2"), ("Connection", "close"),
        ])
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: "{}"))), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(30)) { promise.fail(ChannelError.connectTimeout(.seconds(30))) }
        defer { timeout.cancel() }
        let result = try await promise.futureResult.get()
        try? await channel.close()
        return result
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<(HTTPResponseStatus, String)>
        var status: HTTPResponseStatus = .ok
        var body = ""

        init(promise: EventLoopPromise<(HTTPResponseStatus, String)>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = head.status
            case .body(let buffer): body += String(buffer: buffer)
            case .end: promise.succeed((status, body))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.ioOnClosedChannel)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}
