import LatchCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// Just enough HTTP/1.1 client for the admin API: one request on a connection of its own, the answer
/// read whole. The admin listener speaks plain HTTP only, on loopback or a management network.
enum AdminClient {
    struct Answer: Sendable {
        var status: HTTPResponseStatus
        var body: String
    }

    /// Sends `method path` to `address` with `Host` naming it (the admin listener refuses other
    /// names: its DNS rebinding guard), the bearer `token` if any, and `json` as a JSON body if any.
    /// Throws the connection's error; gives up after 5 s to connect and 30 s for the answer.
    static func send(_ method: HTTPMethod, _ path: String, to address: HostPort, token: String? = nil, json: String? = nil) async throws -> Answer {
        let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Answer.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(Collector(promise: promise))
                    }
                }
                .connect(host: address.host, port: address.port).get()
        } catch {
            // Completed either way: a promise dropped unfulfilled is a crash in debug builds.
            promise.fail(error)
            throw error
        }
        var headers = HTTPHeaders([("Host", address.description), ("Connection", "close")])
        if let json {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(json.utf8.count)")
        }
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)), promise: nil)
        if let json { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: json))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(30)) { promise.fail(NoAnswer()) }
        defer { timeout.cancel() }
        do {
            let answer = try await promise.futureResult.get()
            try? await channel.close()
            return answer
        } catch {
            try? await channel.close()
            throw error
        }
    }

    struct NoAnswer: Error, CustomStringConvertible {
        var description: String { "no answer within 30 s" }
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<Answer>
        var status: HTTPResponseStatus = .ok
        var body = ""

        init(promise: EventLoopPromise<Answer>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = head.status
            case .body(let buffer): body += String(buffer: buffer)
            case .end: promise.succeed(Answer(status: status, body: body))
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
