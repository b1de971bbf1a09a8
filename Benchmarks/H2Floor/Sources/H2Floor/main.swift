// The HTTP/2 floor under Latch: TLS with ALPN h2, swift-nio-http2's connection handler with no stream
// multiplexer (frames in and out on the connection's own pipeline, no channel per stream), and each
// stream's request sent to a node over a kept-alive HTTP/1.1 connection through NIOHTTP1's client
// codec. Bodiless requests only (the bench's GETs); nothing routed, validated beyond what the
// libraries do, limited or logged. `Scripts/bench` runs it beside Latch, HAProxy and nginx in the h2
// table: what Latch spends per stream above this row is Latch's.
//
//   H2Floor <listen port> <certificate chain PEM> <key PEM> <upstream port>...   (127.0.0.1, one event loop)
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// One client connection's streams: each request goes to an idle node connection, or a new one.
final class StreamRelay: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let upstreams: [Int]
    private var next = 0
    private var idle: [NodeConnection] = []
    private var context: ChannelHandlerContext?
    /// Answers written since the last flush: they go out together once the event loop has handled
    /// what it read, as one TLS record and one write where they fit (HAProxy batches the same way).
    private var flushPending = false

    init(upstreams: [Int]) { self.upstreams = upstreams }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        for connection in idle { connection.close() }
        idle = []
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard case .headers(let headers) = frame.payload else { return }
        var method = HTTPMethod.GET
        var uri = "/"
        var fields = HTTPHeaders()
        for (name, value, _) in headers.headers {
            switch name {
            case ":method": method = HTTPMethod(rawValue: value)
            case ":path": uri = value
            case ":authority": fields.replaceOrAdd(name: "host", value: value)
            case ":scheme": break
            default: fields.add(name: name, value: value)
            }
        }
        send(HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: fields), stream: frame.streamID)
    }

    private func send(_ head: HTTPRequestHead, stream: HTTP2StreamID) {
        if let connection = idle.popLast() {
            connection.send(head, stream: stream)
            return
        }
        guard let context else { return }
        let port = upstreams[next % upstreams.count]
        next += 1
        let relay = NIOLoopBound(self, eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(NodeConnection(relay: relay.value))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .assumeIsolated()
            .whenComplete { result in
                guard case .success(let channel) = result,
                      let connection = try? channel.pipeline.syncOperations.handler(type: NodeConnection.self)
                else {
                    relay.value.answer(stream: stream, status: "502", body: nil)
                    return
                }
                connection.send(head, stream: stream)
            }
    }

    /// The node's answer, as one HEADERS frame and one DATA frame that ends the stream.
    func answer(stream: HTTP2StreamID, status: String, headers: HTTPHeaders = [:], body: ByteBuffer?) {
        guard let context else { return }
        var fields = HPACKHeaders([(":status", status)])
        for (name, value) in headers {
            let lower = name.lowercased()
            if lower == "connection" || lower == "keep-alive" || lower == "transfer-encoding" { continue }
            fields.add(name: lower, value: value)
        }
        let data = body ?? context.channel.allocator.buffer(capacity: 0)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: fields)))), promise: nil)
        context.write(wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .data(.init(data: .byteBuffer(data), endStream: true)))), promise: nil)
        guard !flushPending else { return }
        flushPending = true
        let relay = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            relay.value.flushPending = false
            relay.value.context?.flush()
        }
    }

    func finished(_ connection: NodeConnection) { idle.append(connection) }
}

/// A kept-alive HTTP/1.1 connection to a node, carrying one stream's exchange at a time.
final class NodeConnection: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let relay: StreamRelay
    private var context: ChannelHandlerContext?
    private var stream: HTTP2StreamID?
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?

    init(relay: StreamRelay) { self.relay = relay }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func send(_ head: HTTPRequestHead, stream: HTTP2StreamID) {
        self.stream = stream
        context?.write(wrapOutboundOut(.head(head)), promise: nil)
        context?.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func close() { context?.close(promise: nil) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body(var buffer):
            if body == nil { body = buffer } else { body!.writeBuffer(&buffer) }
        case .end:
            guard let stream, let head else { return }
            relay.answer(stream: stream, status: String(head.status.code), headers: head.headers, body: body)
            self.stream = nil
            self.head = nil
            self.body = nil
            relay.finished(self)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 4, let listenPort = Int(arguments[0]) else {
    print("usage: H2Floor <listen port> <certificate chain PEM> <key PEM> <upstream port>...")
    exit(2)
}
let upstreams = arguments.dropFirst(3).compactMap { Int($0) }
var tls = TLSConfiguration.makeServerConfiguration(
    certificateChain: try NIOSSLCertificate.fromPEMFile(arguments[1]).map { .certificate($0) },
    privateKey: .privateKey(try NIOSSLPrivateKey(file: arguments[2], format: .pem))
)
tls.applicationProtocols = ["h2"]
let context = try NIOSSLContext(configuration: tls)
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(NIOSSLServerHandler(context: context))
            try sync.addHandler(NIOHTTP2Handler(
                mode: .server,
                initialSettings: [HTTP2Setting(parameter: .maxConcurrentStreams, value: 100)]
            ))
            try sync.addHandler(StreamRelay(upstreams: upstreams))
        }
    }
    .bind(host: "127.0.0.1", port: listenPort)
    .wait()
print("h2floor: relaying https://127.0.0.1:\(server.localAddress?.port ?? listenPort) to \(upstreams)")
try server.closeFuture.wait()
