import NIOCore

/// Below the HTTP/2 connection handler: the flushes of every stream answered in one event-loop tick
/// become one, at the end of the tick, so their frames leave as one TLS record and one write where
/// they fit rather than a record and a system call per stream. Answers to streams arrive from
/// their node connections' reads, not the client connection's, so nothing else gathers them;
/// HAProxy and nginx batch the same way. The flush still happens in the tick that asked for it.
final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = NIOAny

    private var pending = false
    private var removed = false

    func flush(context: ChannelHandlerContext) {
        guard !pending else { return }
        pending = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (coalescer, context) = bound.value
            coalescer.pending = false
            // Removed meanwhile: its context is no longer part of the pipeline, and the removal
            // passed the flush on (below).
            guard !coalescer.removed else { return }
            context.flush()
        }
    }

    /// Everything written goes out before a close: NIOSSL's close sends close_notify without writing
    /// what was never flushed, so a GOAWAY (idle timeout, shutdown) or the last stream's END_STREAM
    /// written just before would be lost. Unconditional: the write that precedes a close may not have
    /// asked for its flush yet.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        context.flush()
        context.close(mode: mode, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
        if pending { context.flush() }
    }
}
