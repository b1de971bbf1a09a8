// The floor under Latch: a bare SwiftNIO byte relay, swift-nio-examples' GlueHandler. Each client
// connection gets one connection of its own to an upstream (round robin over those given, by
// connection), and bytes go both ways with backpressure, nothing parsed. `Scripts/bench` runs it
// beside Latch, HAProxy and nginx, so every table shows what SwiftNIO itself costs per request:
// what Latch spends above this row is Latch's.
//
//   Floor <listen port> <upstream port>...     (127.0.0.1 only; one event-loop thread)
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Joins two channels: what one reads the other writes; each reads only while its partner can write.
final class GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    static func matchedPair() -> (GlueHandler, GlueHandler) {
        let first = GlueHandler()
        let second = GlueHandler()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    private func partnerWrite(_ data: NIOAny) { context?.write(data, promise: nil) }
    private func partnerFlush() { context?.flush() }
    private func partnerWriteEOF() { context?.close(mode: .output, promise: nil) }
    private func partnerCloseFull() { context?.close(promise: nil) }
    private var partnerWritable: Bool { context?.channel.isWritable ?? false }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { partner?.partnerWrite(data) }
    func channelReadComplete(context: ChannelHandlerContext) { partner?.partnerFlush() }
    func channelInactive(context: ChannelHandlerContext) { partner?.partnerCloseFull() }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            partner?.partnerWriteEOF()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
    }

    func read(context: ChannelHandlerContext) {
        if let partner, partner.partnerWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }
}

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
guard arguments.count >= 2 else {
    print("usage: Floor <listen port> <upstream port>...")
    exit(2)
}
let listenPort = arguments[0]
let upstreams = Array(arguments.dropFirst())
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let next = NIOLockedValueBox(0)

let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelOption(.autoRead, value: false)
    .childChannelInitializer { client in
        let port = next.withLockedValue { index -> Int in
            defer { index += 1 }
            return upstreams[index % upstreams.count]
        }
        return ClientBootstrap(group: client.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: "127.0.0.1", port: port)
            .flatMapThrowing { upstream in
                // Both channels are on the client's event loop, where this runs.
                let (ours, theirs) = GlueHandler.matchedPair()
                try client.pipeline.syncOperations.addHandler(ours)
                try upstream.pipeline.syncOperations.addHandler(theirs)
                // Reads start only now, so nothing the client sends arrives before the glue is in place.
                try client.syncOptions?.setOption(.autoRead, value: true)
            }
    }
    .bind(host: "127.0.0.1", port: listenPort)
    .wait()
print("floor: relaying 127.0.0.1:\(server.localAddress?.port ?? listenPort) to \(upstreams)")
try server.closeFuture.wait()
