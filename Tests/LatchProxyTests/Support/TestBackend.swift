import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// What a ``TestBackend`` does with a request once it has read all of it.
enum BackendReply: Sendable {
    /// A normal response; `X-Backend-Node` is added.
    case text(status: HTTPResponseStatus = .ok, headers: [(String, String)] = [], body: String)
    /// A body of `bytes` deterministic bytes (see ``TestPattern``), written with backpressure.
    case download(bytes: Int, chunked: Bool)
    /// A normal text response after `delay`.
    case delayed(TimeAmount, body: String)
    /// Never answer.
    case hang
    /// Answer bytes that are not HTTP.
    case garbage
    /// Close the connection without answering.
    case close
    /// Stop reading the connection as soon as the head arrived, and never answer: a node that hung
    /// while a client uploads. Decided from the head, so it is handled there.
    case stopReadingAfterHead
    /// Send `100 Continue`-style interim responses are handled by NIO; this answers only after the body.
    case echoBodyChecksum
    /// A node slower than the client: reads the request body 16 KiB at most at a time, `every` apart, so
    /// the client's upload has to wait for it (backpressure all the way back); then answers as
    /// ``echoBodyChecksum``. Decided from the head, like ``stopReadingAfterHead``.
    case readSlowly(every: TimeAmount)
}

/// What a backend saw of one request.
struct RecordedRequest: Sendable {
    var head: HTTPRequestHead
    var bodyBytes: Int
    var checksum: UInt64
}

/// A real SwiftNIO HTTP/1.1 server on 127.0.0.1:0 that plays an application node: records every request
/// (head, body size and checksum), counts accepted connections, and answers as the test tells it.
final class TestBackend: Sendable {
    let name: String
    let channel: any Channel
    private let state: NIOLockedValueBox<State>
    /// Keeps the port this node's address names while the test holds the backend, so after ``close()``
    /// it refuses connections instead of being taken by another test's server running in parallel.
    private let reservation: PortReservation

    private struct State {
        var accepted = 0
        var children: [any Channel] = []
        var requests: [RecordedRequest] = []
        /// Request body bytes read so far, over all requests (complete or not).
        var bodyBytesRead = 0
        /// Bytes of ``BackendReply/download(bytes:chunked:)`` bodies written so far, over all requests.
        var downloadBytesWritten = 0
        var reply: @Sendable (HTTPRequestHead) -> BackendReply
    }

    var port: Int { channel.localAddress!.port! }
    var accepted: Int { state.withLockedValue { $0.accepted } }
    var requests: [RecordedRequest] { state.withLockedValue { $0.requests } }
    /// Request body bytes read so far, over all requests, those still arriving included: how far
    /// a node has got with an upload.
    var bodyBytesRead: Int { state.withLockedValue { $0.bodyBytesRead } }
    /// Download body bytes written so far (handed to the socket as it took them): how far a node
    /// has got with a download the client is not reading.
    var downloadBytesWritten: Int { state.withLockedValue { $0.downloadBytesWritten } }

    func setReply(_ reply: @escaping @Sendable (HTTPRequestHead) -> BackendReply) {
        state.withLockedValue { $0.reply = reply }
    }

    private init(name: String, channel: any Channel, state: NIOLockedValueBox<State>, reservation: PortReservation) {
        self.name = name
        self.channel = channel
        self.state = state
        self.reservation = reservation
    }

    /// - Parameters:
    ///   - port: 0 for a free port; a former backend's port to bring a node back.
    ///   - tls: serve HTTPS with this context (a node behind `clusters[].tls`).
    static func start(
        name: String,
        port: Int = 0,
        group: any EventLoopGroup,
        tls: NIOSSLContext? = nil,
        reply: @escaping @Sendable (HTTPRequestHead) -> BackendReply = { _ in .text(body: "hello") }
    ) async throws -> TestBackend {
        let state = NIOLockedValueBox(State(reply: reply))
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(PortReservation.sharedPortOption, value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    state.withLockedValue {
                        $0.accepted += 1
                        $0.children.append(channel)
                    }
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        BackendHandler(name: name, record: { request in state.withLockedValue { $0.requests.append(request) } },
                                       reply: { head in state.withLockedValue { $0.reply }(head) },
                                       progress: { bytes in state.withLockedValue { $0.bodyBytesRead += bytes } },
                                       wrote: { bytes in state.withLockedValue { $0.downloadBytesWritten += bytes } })
                    )
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        let reservation = try PortReservation(port: channel.localAddress!.port!)
        return TestBackend(name: name, channel: channel, state: state, reservation: reservation)
    }

    /// Accepted connections still open.
    var openConnections: Int { state.withLockedValue { $0.children.filter(\.isActive).count } }

    func close() async {
        try? await channel.close()
        await closeAcceptedConnections()
    }

    /// Hangs up every connection it accepted, as a node's keep-alive timeout or a restart would.
    func closeAcceptedConnections() async {
        let children = state.withLockedValue { state in
            defer { state.children = [] }
            return state.children
        }
        for child in children { try? await child.close() }
    }
}

/// Deterministic bytes for large bodies: byte i is `block[i % 65521]`. The period is prime, so a chunk
/// lost, repeated or reordered anywhere in a stream changes the checksum.
enum TestPattern {
    static let period = 65521
    static let block: [UInt8] = (0..<(2 * period)).map { UInt8(truncatingIfNeeded: ($0 % period) &* 2654435761 >> 13) }

    static func chunk(offset: Int, count: Int, allocator: ByteBufferAllocator = .init()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: count)
        var written = 0
        while written < count {
            let start = (offset + written) % period
            let n = min(count - written, period)
            _ = block.withUnsafeBufferPointer { buffer.writeBytes(UnsafeBufferPointer(rebasing: $0[start..<(start + n)])) }
            written += n
        }
        return buffer
    }
}

/// FNV-1a over 8-byte words (and the tail bytes): cheap enough for 256 MiB in a debug build,
/// and any reordering, loss or duplication changes it.
struct StreamChecksum: Sendable {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    private(set) var count = 0
    private var carry: [UInt8] = []

    mutating func update(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { update(UnsafeRawBufferPointer($0)) }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        count += bytes.count
        var start = 0
        if !carry.isEmpty {
            while carry.count < 8, start < bytes.count {
                carry.append(bytes[start])
                start += 1
            }
            if carry.count == 8 {
                var word: UInt64 = 0
                for (k, b) in carry.enumerated() { word |= UInt64(b) << (8 * UInt64(k)) }
                mix(word)
                carry.removeAll(keepingCapacity: true)
            }
        }
        let words = (bytes.count - start) / 8
        if words > 0 {
            let base = bytes.baseAddress! + start
            for w in 0..<words {
                mix(base.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self))
            }
        }
        for k in (start + words * 8)..<bytes.count { carry.append(bytes[k]) }
    }

    private mutating func mix(_ word: UInt64) {
        value = (value ^ word) &* 0x100_0000_01b3
    }

    /// Includes the unaligned tail and the length.
    var final: UInt64 {
        var v = value
        for b in carry { v = (v ^ UInt64(b)) &* 0x100_0000_01b3 }
        return v ^ UInt64(count)
    }
}

private final class BackendHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let name: String
    let record: (RecordedRequest) -> Void
    let reply: (HTTPRequestHead) -> BackendReply
    let progress: (Int) -> Void
    let wrote: (Int) -> Void
    private var head: HTTPRequestHead?
    private var checksum = StreamChecksum()
    private var download: (remaining: Int, offset: Int)?
    /// The reads of a ``BackendReply/readSlowly(every:)`` request, until its end.
    private var slowReads: RepeatedTask?

    init(
        name: String, record: @escaping (RecordedRequest) -> Void, reply: @escaping (HTTPRequestHead) -> BackendReply,
        progress: @escaping (Int) -> Void, wrote: @escaping (Int) -> Void
    ) {
        self.name = name
        self.record = record
        self.reply = reply
        self.progress = progress
        self.wrote = wrote
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            checksum = StreamChecksum()
            if case .stopReadingAfterHead = reply(head) {
                context.channel.setOption(.autoRead, value: false).whenComplete { _ in }
                self.head = nil
                return
            }
            if case .readSlowly(let every) = reply(head) { startSlowReads(every: every, context: context) }
            if head.headers["expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                // What Tomcat and most servers do: ask for the body (RFC 9110 §10.1.1).
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
            }
        case .body(let buffer):
            checksum.update(buffer)
            progress(buffer.readableBytes)
        case .end:
            stopSlowReads(context: context)
            guard let head else { return }
            record(RecordedRequest(head: head, bodyBytes: checksum.count, checksum: checksum.final))
            respond(to: head, context: context)
        }
    }

    /// Automatic reads off, small reads on a timer: at most 16 KiB per `every` (one read into one
    /// small buffer each time).
    private func startSlowReads(every: TimeAmount, context: ChannelHandlerContext) {
        let channel = context.channel
        channel.setOption(.autoRead, value: false).whenComplete { _ in }
        channel.setOption(.maxMessagesPerRead, value: 1).whenComplete { _ in }
        // A small fixed receive buffer, not one the kernel grows: what waits for this node waits upstream.
        channel.setOption(.socketOption(.so_rcvbuf), value: 64 * 1024).whenComplete { _ in }
        channel.setOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 16384)).whenComplete { _ in }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        slowReads = context.eventLoop.scheduleRepeatedTask(initialDelay: every, delay: every) { _ in bound.value.read() }
    }

    /// The body has been read: the connection reads as before, for the next request.
    private func stopSlowReads(context: ChannelHandlerContext) {
        guard let slowReads else { return }
        slowReads.cancel()
        self.slowReads = nil
        context.channel.setOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator()).whenComplete { _ in }
        context.channel.setOption(.maxMessagesPerRead, value: 4).whenComplete { _ in }
        context.channel.setOption(.autoRead, value: true).whenComplete { _ in }
    }

    func channelInactive(context: ChannelHandlerContext) {
        slowReads?.cancel()
        slowReads = nil
        context.fireChannelInactive()
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders([("X-Backend-Node", name)])
        switch reply(head) {
        case .text(let status, let extra, let body):
            for (n, v) in extra { headers.add(name: n, value: v) }
            if !headers.contains(name: "content-length"), !headers.contains(name: "transfer-encoding") {
                headers.add(name: "Content-Length", value: String(body.utf8.count))
            }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            if !body.isEmpty {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case .echoBodyChecksum, .readSlowly:
            let body = "bytes=\(checksum.count) checksum=\(checksum.final)"
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case .download(let bytes, let chunked):
            if !chunked { headers.add(name: "Content-Length", value: String(bytes)) }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            download = (bytes, 0)
            writeDownload(context: context)
        case .delayed(let delay, let body):
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            let response = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: delay) {
                let (handler, context) = bound.value
                context.write(handler.wrapOutboundOut(.head(response)), promise: nil)
                context.write(handler.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
                context.writeAndFlush(handler.wrapOutboundOut(.end(nil)), promise: nil)
            }
        case .hang, .stopReadingAfterHead:
            break
        case .garbage:
            // Below the HTTP encoder, so the bytes go out as they are.
            if let encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) {
                encoder.writeAndFlush(NIOAny(IOData.byteBuffer(context.channel.allocator.buffer(string: "SSH-2.0-not-http\r\n\r\n"))), promise: nil)
            }
        case .close:
            context.close(promise: nil)
        }
    }

    /// Writes while the channel is writable; resumes from `channelWritabilityChanged`.
    private func writeDownload(context: ChannelHandlerContext) {
        while var state = download, context.channel.isWritable {
            let n = min(64 * 1024, state.remaining)
            if n == 0 {
                download = nil
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            let chunk = TestPattern.chunk(offset: state.offset, count: n, allocator: context.channel.allocator)
            state.remaining -= n
            state.offset += n
            download = state
            let wrote = self.wrote
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk)))).assumeIsolated().whenSuccess { wrote(n) }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writeDownload(context: context) }
        context.fireChannelWritabilityChanged()
    }
}
