import NIOCore
import NIOEmbedded
import Testing

@testable import LatchProxy

/// The flushes of one event-loop tick become one, at the end of the tick.
@Suite("Flush coalescing below HTTP/2")
struct FlushCoalescerTests {
    /// Counts the flushes that reach the channel's end of the pipeline.
    final class FlushCounter: ChannelOutboundHandler {
        typealias OutboundIn = NIOAny
        var flushes = 0
        func flush(context: ChannelHandlerContext) {
            flushes += 1
            context.flush()
        }
    }

    @Test("three answers in one tick leave in one flush, after the tick's work, with every byte")
    func flushesOfATickBecomeOne() throws {
        let counter = FlushCounter()
        let channel = EmbeddedChannel(handlers: [counter, FlushCoalescer()])
        defer { _ = try? channel.finish() }
        for text in ["one", "two", "three"] {
            channel.write(ByteBuffer(string: text), promise: nil)
            channel.flush()
        }
        #expect(counter.flushes == 0, "nothing flushed before the tick's work is done")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1)
        var written = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written += String(buffer: buffer) }
        #expect(written == "onetwothree")

        // The next tick's flush is its own.
        channel.write(ByteBuffer(string: "four"), promise: nil)
        channel.flush()
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 2)
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "four")
    }

    @Test("a write's promise completes once the coalesced flush has written it")
    func promisesCompleteAtTheFlush() throws {
        let channel = EmbeddedChannel(handler: FlushCoalescer())
        defer { _ = try? channel.finish() }
        let written = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(ByteBuffer(string: "x"), promise: written)
        var done = false
        // On the embedded loop's own thread: the callback runs in `run()`, never concurrently.
        written.futureResult.assumeIsolated().whenSuccess { done = true }
        #expect(!done)
        channel.embeddedEventLoop.run()
        #expect(done)
    }

    /// Records flushes and closes in the order they reach it.
    final class Recorder: ChannelOutboundHandler {
        typealias OutboundIn = NIOAny
        var events: [String] = []
        func flush(context: ChannelHandlerContext) {
            events.append("flush")
            context.flush()
        }
        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            events.append("close")
            context.close(mode: mode, promise: promise)
        }
    }

    @Test("a close goes out after a flush of everything written, asked for or not (a GOAWAY before an idle close)")
    func closeFlushesFirst() throws {
        for askedForFlush in [true, false] {
            let recorder = Recorder()
            let channel = EmbeddedChannel(handlers: [recorder, FlushCoalescer()])
            channel.write(ByteBuffer(string: "goaway"), promise: nil)
            if askedForFlush { channel.flush() }
            _ = channel.close()
            #expect(recorder.events == ["flush", "close"], "flush asked for: \(askedForFlush)")
            channel.embeddedEventLoop.run()
            _ = try? channel.finish()
        }
    }

    @Test("removed with a flush pending, it passes the flush on at once")
    func removalFlushes() throws {
        let counter = FlushCounter()
        let coalescer = FlushCoalescer()
        let channel = EmbeddedChannel(handlers: [counter, coalescer])
        defer { _ = try? channel.finish() }
        channel.write(ByteBuffer(string: "late"), promise: nil)
        channel.flush()
        try channel.pipeline.syncOperations.removeHandler(coalescer).wait()
        #expect(counter.flushes == 1)
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1, "the task that was pending does not flush again")
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "late")
    }
}
