#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOCore

/// The first handler of a listening socket's channel: whether it accepts, for two reasons that must
/// not undo each other — a take-over has paused it (``ProxyServer/pauseAccepting()``), or an accept
/// failed for want of resources and it waits a second.
///
/// At the descriptor limit (EMFILE, ENFILE) the listening socket stays readable while every accept
/// fails, and SwiftNIO keeps its interest in reading after a failed accept: without a pause the loop
/// tries again at once, spins a core at 100 % and starves the connections it already serves
/// (measured: 300 ticks of CPU in 3 s with `ulimit -n 48` and 80 clients; SwiftNIO's
/// `AcceptBackoffHandler`, which only delays the next `read()`, did not stop it). Turning `autoRead`
/// off removes the interest; nginx likewise stops accepting for a while on the same errors. The
/// failure is logged in words, at most once per 10 s, with what an operator can do about it.
final class AcceptControl: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Never

    /// Sent through the pipeline by a take-over: accept or not.
    struct Accepting: Sendable {
        let on: Bool
    }

    static let backoff = TimeAmount.seconds(1)

    private var paused: Bool
    private var backingOff = false
    private let listener: String
    private let logger: Logger
    private let throttle = LogThrottle()

    /// - Parameter paused: a socket taken over starts paused (the old process still accepts).
    init(paused: Bool, listener: String, logger: Logger) {
        self.paused = paused
        self.listener = listener
        self.logger = logger
    }

    private func apply(_ context: ChannelHandlerContext) {
        try? context.channel.syncOptions?.setOption(.autoRead, value: !paused && !backingOff)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let accepting = event as? Accepting else { return context.fireUserInboundEventTriggered(event) }
        paused = !accepting.on
        apply(context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let io = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(io.errnoCode) else {
            return context.fireErrorCaught(error)
        }
        if throttle.allows() {
            let hint = [EMFILE, ENFILE].contains(io.errnoCode)
                ? "; raise the descriptor limit (LimitNOFILE= in the unit, ulimit -n) or lower limits.max_client_connections" : ""
            logger.error(
                "cannot accept a connection: \(describeNetworkError(error)); accepting again in 1 s\(hint)",
                metadata: ["listener": "\(listener)"])
        }
        guard !backingOff else { return }
        backingOff = true
        apply(context)
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.backoff) { [self] in
            backingOff = false
            if context.channel.isActive { apply(context) }
        }
    }
}

extension AcceptControl {
    /// Pauses or resumes accepting on `channel`, whose first handler is an ``AcceptControl``;
    /// returns once its loop has done so.
    static func set(_ accepting: Bool, on channel: any Channel) async {
        try? await channel.eventLoop.submit {
            channel.pipeline.syncOperations.fireUserInboundEventTriggered(Accepting(on: accepting))
        }.get()
    }
}
