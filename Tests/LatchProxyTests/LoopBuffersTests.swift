import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import LatchProxy

@Suite("LoopBuffers")
struct LoopBuffersTests {
    @Test("a buffer given back is handed out again, empty, with its storage")
    func reuse() {
        let buffers = LoopBuffers()
        var used = ByteBufferAllocator().buffer(capacity: 2048)
        used.writeString("HTTP/1.1 200 OK\r\n\r\n")
        used.moveReaderIndex(forwardBy: 5)
        let capacity = used.capacity
        buffers.giveBack(used)
        used = ByteBuffer()  // the pool's reference is now the only one
        #expect(buffers.spareCount == 1)
        let taken = buffers.take(capacity: 100, allocator: ByteBufferAllocator())
        #expect(taken.readableBytes == 0)
        #expect(taken.readerIndex == 0)
        #expect(taken.capacity == capacity)
        #expect(buffers.spareCount == 0)
    }

    @Test("a buffer still held elsewhere keeps its bytes when handed out again")
    func stillQueued() {
        let buffers = LoopBuffers()
        let queued = ByteBuffer(string: "bytes a channel has not written yet")
        buffers.giveBack(queued)
        var taken = buffers.take(capacity: 8, allocator: ByteBufferAllocator())
        taken.writeString("the next head")
        #expect(String(buffer: queued) == "bytes a channel has not written yet")
        #expect(String(buffer: taken) == "the next head")
    }

    @Test("at most `limit` buffers of at most `largest` bytes are kept")
    func bounds() {
        let buffers = LoopBuffers()
        buffers.giveBack(ByteBufferAllocator().buffer(capacity: LoopBuffers.largest + 1))
        #expect(buffers.spareCount == 0)
        for _ in 0..<(LoopBuffers.limit + 3) { buffers.giveBack(ByteBufferAllocator().buffer(capacity: 64)) }
        #expect(buffers.spareCount == LoopBuffers.limit)
        let empty = LoopBuffers()
        let fresh = empty.take(capacity: 300, allocator: ByteBufferAllocator())
        #expect(fresh.capacity >= 300)
    }

    /// A request parser's heads, their line tables from `buffers`.
    static func heads(_ raw: String, tables: LoopBuffers) throws -> [ClientRequestHead] {
        var parser = HTTP1RequestParser(limits: .init(maxHead: 8192, maxFields: 100))
        parser.tables = tables
        var bytes = ByteBuffer(string: raw)
        var heads: [ClientRequestHead] = []
        while let part = try parser.next(&bytes) {
            if case .head(let head) = part { heads.append(head) }
        }
        return heads
    }

    static func address(_ lines: [FieldLines.Line]) -> UnsafeRawPointer? {
        lines.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
    }

    @Test("a head's line table, given back once its exchange is over, lists the next head's lines")
    func tablesAreReused() throws {
        let tables = LoopBuffers()
        let storage: UnsafeRawPointer?
        do {
            let first = try #require(try Self.heads("GET /a HTTP/1.1\r\nHost: a\r\nCookie: x=1\r\n\r\n", tables: tables).first)
            storage = Self.address(first.fields.lines)
            tables.giveBack(table: first.fields.lines)
        }
        #expect(tables.spareTableCount == 1)
        let second = try #require(try Self.heads("GET /b HTTP/1.1\r\nHost: b\r\n\r\n", tables: tables).first)
        #expect(Self.address(second.fields.lines) == storage, "the first head is gone: its table is used again")
        #expect(second.host == "b" && second.fields.lines.count == 1)
    }

    @Test("a table given back while its head is still held leaves that head's lines alone")
    func tablesStillHeld() throws {
        let tables = LoopBuffers()
        let first = try #require(try Self.heads("GET /a HTTP/1.1\r\nHost: a\r\nX-One: 1\r\n\r\n", tables: tables).first)
        tables.giveBack(table: first.fields.lines)
        let second = try #require(try Self.heads("GET /b HTTP/1.1\r\nHost: b\r\n\r\n", tables: tables).first)
        #expect(first.fields.lines.count == 2 && first.host == "a")
        #expect(first.fields.value(of: first.fields.lines[1]) == "1")
        #expect(second.fields.lines.count == 1 && second.host == "b")
        // Too small (a head built without the parser) or too large to keep: not kept.
        tables.giveBack(table: [])
        var large = LoopBuffers.newTable()
        large.reserveCapacity(LoopBuffers.largestTable + 1)
        tables.giveBack(table: large)
        #expect(tables.spareTableCount == 0)
    }

    /// The context a writer needs, from a handler that does nothing else.
    final class Context: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var context: ChannelHandlerContext?
        func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    }

    @Test("an HTTP/1 writer gives its buffer back after the flush, and the next response is whole in it")
    func writerReusesItsBuffer() throws {
        let channel = EmbeddedChannel()
        let handler = Context()
        try channel.pipeline.syncOperations.addHandler(handler)
        let context = try #require(handler.context)
        let buffers = LoopBuffers()
        let writer = HTTP1ResponseWriter(buffers: buffers)

        func respond(_ body: String) throws -> String {
            let head = ClientResponseHead(version: .http1_1, status: .ok)
            head.replaceOrAdd(name: "Content-Length", value: "\(body.utf8.count)")
            writer.writeHead(head, context: context)
            writer.writeBody(ByteBuffer(string: body), framing: ResponseFraming(), context: context)
            #expect(writer.complete(keepAlive: true, requestUnread: false, context: context).isKeepAlive)
            let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
            #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
            return String(buffer: written)
        }

        let first = try respond("first body, longer than the second")
        #expect(buffers.spareCount == 1)
        let second = try respond("second")
        #expect(first == "HTTP/1.1 200 OK\r\nContent-Length: 34\r\n\r\nfirst body, longer than the second")
        #expect(second == "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
        #expect(buffers.spareCount == 1)
        _ = try channel.finish()
    }
}

extension ResponseCompletion {
    fileprivate var isKeepAlive: Bool {
        if case .keepAlive = self { return true }
        return false
    }
}
