import NIOCore
import NIOHTTP2

/// Looks after one HTTP/2 connection as a whole: closes it after `idle` with no open stream, and on
/// shutdown (`ChannelShouldQuiesceEvent`) sends GOAWAY (RFC 9113 §6.8) — no new streams — and closes
/// once the streams in flight are done.
///
/// swift-nio-http2's `NIOHTTP2ServerConnectionManagementHandler` does the same, but asserts (in debug
/// builds) when a stream it never saw open is closed, which is what a malformed request is: its stream
/// is reset before it opens. This one counts only what it saw.
final class HTTP2ConnectionKeeper: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let idle: TimeAmount
    private var context: ChannelHandlerContext?
    private var open: Set<HTTP2StreamID> = []
    private var lastStreamID = HTTP2StreamID.rootStream
    private var quiescing = false
    private var idleTimer: Scheduled<Void>?

    init(idle: TimeAmount) {
        self.idle = idle
    }

    /// For `configureHTTP2Pipeline(streamDelegate:)`: the multiplexer reports streams here.
    func streamDelegate(on loop: any EventLoop) -> some NIOHTTP2StreamDelegate {
        Delegate(keeper: NIOLoopBound(self, eventLoop: loop))
    }

    private struct Delegate: NIOHTTP2StreamDelegate {
        let keeper: NIOLoopBound<HTTP2ConnectionKeeper>

        func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
            keeper.value.streamCreated(id)
        }

        func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
            keeper.value.streamClosed(id)
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        startIdleTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        self.context = nil
    }

    private func streamCreated(_ id: HTTP2StreamID) {
        open.insert(id)
        lastStreamID = max(lastStreamID, id)
        idleTimer?.cancel()
        idleTimer = nil
    }

    private func streamClosed(_ id: HTTP2StreamID) {
        open.remove(id)
        guard open.isEmpty else { return }
        if quiescing {
            context?.close(promise: nil)
        } else {
            startIdleTimer()
        }
    }

    private func startIdleTimer() {
        guard let context else { return }
        idleTimer?.cancel()
        // Strong, not weak: a weak reference gives the keeper a side table, and every retain of it
        // (the stream delegate's, per stream) then takes the runtime's slow path. The timer is
        // cancelled when the connection goes, so it keeps nothing alive.
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: idle) {
            guard self.open.isEmpty else { return }
            self.goAway()
            self.context?.close(promise: nil)
        }
    }

    private func goAway() {
        guard let context else { return }
        let frame = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            guard !quiescing else { return }
            quiescing = true
            goAway()
            if open.isEmpty { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        context.fireChannelInactive()
    }
}
