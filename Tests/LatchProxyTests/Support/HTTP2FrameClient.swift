import NIOConcurrencyHelpers
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL

/// An HTTP/2 client that works frame by frame: swift-nio-http2's handler without a multiplexer, so
/// the test writes every frame of every stream itself (HEADERS, DATA, trailers, RST_STREAM) and sees
/// every frame the server sends, per stream, as it comes.
///
/// Flow control is the test's too, which is why this exists beside ``RawHTTP2Client``: with no
/// multiplexer nothing sends WINDOW_UPDATE on its own. The connection window is opened wide once, at
/// the start, so that only stream windows govern; a stream's window is credited back as its DATA
/// arrives unless the stream is held (``request(_:endStream:credit:)`` with `credit: false`), which is
/// a client that stops reading that stream: its window fills and stays full until ``release(_:)``.
///
/// Waiting is event-driven: ``until(within:_:)`` is resumed by the frame that makes its condition hold.
final class HTTP2FrameClient: Sendable {
    /// One header block as received.
    struct Block: Sendable {
        var fields: HPACKHeaders
        var endStream: Bool
        func first(_ name: String) -> String? { fields.first(name: name) }
    }

    /// What the server sent on one stream.
    struct StreamRecord: Sendable {
        /// Header blocks in order: interim (1xx) heads, the response head, then the trailers.
        var blocks: [Block] = []
        /// Every DATA byte, counted and summed (``StreamChecksum``).
        var checksum = StreamChecksum()
        /// The first ``keptBytes`` DATA bytes, for answers the tests read as text.
        var kept: [UInt8] = []
        var dataFrames = 0
        /// A frame with END_STREAM arrived.
        var ended = false
        /// The server reset the stream.
        var reset: HTTP2ErrorCode?
        /// The increments of the WINDOW_UPDATEs the server sent for this stream (it read our DATA).
        var windowIncrements: [Int] = []
        /// The stream's HEADERS, DATA and RST_STREAM frames in order, as `HEADERS`, `DATA 16384`,
        /// `DATA 0 END_STREAM`, `RST_STREAM cancel`…: which frame ended the stream, and nothing after.
        var frames: [String] = []

        var bytes: Int { checksum.count }
        var text: String { String(decoding: kept, as: UTF8.self) }
        /// The final response head (not a 1xx one).
        var head: Block? { blocks.first { !($0.first(":status")?.hasPrefix("1") ?? true) } }
        var status: String? { head?.first(":status") }
        /// The block after the head, when there is one: the trailers.
        var trailers: Block? {
            guard let at = blocks.firstIndex(where: { !($0.first(":status")?.hasPrefix("1") ?? true) }), at + 1 < blocks.count else { return nil }
            return blocks[at + 1]
        }
    }

    /// Everything received so far.
    struct Snapshot: Sendable {
        var streams: [HTTP2StreamID: StreamRecord] = [:]
        /// The increments of the server's WINDOW_UPDATEs for the connection (stream 0).
        var connectionWindowIncrements: [Int] = []
        var goAways: [(lastStreamID: HTTP2StreamID, code: HTTP2ErrorCode)] = []
        /// Errors swift-nio-http2 reported (a frame it refused, a stream error).
        var errors: [String] = []
        var closed = false

        subscript(_ id: HTTP2StreamID) -> StreamRecord { streams[id] ?? StreamRecord() }
    }

    static let keptBytes = 1 << 20

    private struct Waiter {
        let id: Int
        let condition: @Sendable (Snapshot) -> Bool
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var seen = Snapshot()
        var nextStreamID = 1
        /// Streams whose DATA is not credited back (a client not reading them).
        var held: Set<HTTP2StreamID> = []
        /// DATA bytes received on a held stream and not yet credited back.
        var owed: [HTTP2StreamID: Int] = [:]
        /// Streams this client reset: nothing more is credited to them.
        var resetByUs: Set<HTTP2StreamID> = []
        var waiters: [Waiter] = []
        var nextWaiter = 0

        /// Takes out the waiters whose condition now holds.
        mutating func satisfied() -> [Waiter] {
            var done: [Waiter] = []
            waiters.removeAll { waiter in
                guard waiter.condition(seen) else { return false }
                done.append(waiter)
                return true
            }
            return done
        }
    }

    private let channel: any Channel
    private let state: NIOLockedValueBox<State>

    private init(channel: any Channel, state: NIOLockedValueBox<State>) {
        self.channel = channel
        self.state = state
    }

    /// Everything received so far.
    var seen: Snapshot { state.withLockedValue { $0.seen } }

    static func connect(port: Int, group: any EventLoopGroup, trusting caPEM: String) async throws -> HTTP2FrameClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        tls.applicationProtocols = ["h2"]
        let context = try NIOSSLContext(configuration: tls)
        let state = NIOLockedValueBox(State())
        // All handlers in the initializer, before the connection is up, so no frame is missed.
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                    // Content lengths unchecked: the tests check what arrives themselves, a HEAD
                    // answer's DATA included, rather than see it turned into a stream error.
                    try sync.addHandler(NIOHTTP2Handler(mode: .client, contentLengthValidation: .disabled))
                    try sync.addHandler(FrameHandler(state: state))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return HTTP2FrameClient(channel: channel, state: state)
    }

    /// Connects, runs `body` with the client, and closes it whatever `body` does.
    static func with(
        port: Int, group: any EventLoopGroup, trusting caPEM: String, _ body: (HTTP2FrameClient) async throws -> Void
    ) async throws {
        let client = try await connect(port: port, group: group, trusting: caPEM)
        do {
            try await body(client)
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }

    /// Opens the next stream with a HEADERS frame of exactly `headers`.
    /// - Parameter credit: false for a client that does not read this stream: no WINDOW_UPDATE is
    ///   sent for it until ``release(_:)``.
    @discardableResult
    func request(_ headers: [(String, String)], endStream: Bool = true, credit: Bool = true) async throws -> HTTP2StreamID {
        let block = HPACKHeaders(headers)
        // The id is taken and the frame written in one turn of the loop: ids go out in order.
        return try await channel.eventLoop.flatSubmit { [channel, state] in
            let id = state.withLockedValue { state in
                let id = HTTP2StreamID(state.nextStreamID)
                state.nextStreamID += 2
                state.seen.streams[id] = StreamRecord()
                if !credit { state.held.insert(id) }
                return id
            }
            let frame = HTTP2Frame(streamID: id, payload: .headers(.init(headers: block, endStream: endStream)))
            return channel.writeAndFlush(frame).map { id }
        }.get()
    }

    /// A DATA frame (split by swift-nio-http2 to the frame size), returning once it has been sent:
    /// when the stream's window is closed, once the server has opened it.
    func data(_ id: HTTP2StreamID, _ bytes: ByteBuffer, endStream: Bool = false) async throws {
        try await channel.writeAndFlush(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(bytes), endStream: endStream)))).get()
    }

    func data(_ id: HTTP2StreamID, _ text: String, endStream: Bool = false) async throws {
        try await data(id, ByteBuffer(string: text), endStream: endStream)
    }

    /// A trailing HEADERS block with END_STREAM.
    func trailers(_ id: HTTP2StreamID, _ fields: [(String, String)]) async throws {
        try await channel.writeAndFlush(HTTP2Frame(streamID: id, payload: .headers(.init(headers: HPACKHeaders(fields), endStream: true)))).get()
    }

    /// RST_STREAM: the client gives up on the stream.
    func reset(_ id: HTTP2StreamID, _ code: HTTP2ErrorCode = .cancel) async throws {
        state.withLockedValue {
            $0.resetByUs.insert(id)
            $0.held.remove(id)
        }
        try await channel.writeAndFlush(HTTP2Frame(streamID: id, payload: .rstStream(code))).get()
    }

    /// One WINDOW_UPDATE of `increment` for a held stream: a client reading it a little at a time.
    func windowUpdate(_ id: HTTP2StreamID, _ increment: Int) async throws {
        try await channel.writeAndFlush(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: increment))).get()
    }

    /// The client reads a held stream again: what it was sent meanwhile is credited back at once,
    /// and its DATA from now on as it arrives.
    func release(_ id: HTTP2StreamID) async throws {
        try await channel.eventLoop.flatSubmit { [channel, state] in
            let owed = state.withLockedValue { state -> Int in
                state.held.remove(id)
                let ended = state.seen[id].ended || state.seen[id].reset != nil
                return ended ? 0 : state.owed.removeValue(forKey: id) ?? 0
            }
            guard owed > 0 else { return channel.eventLoop.makeSucceededVoidFuture() }
            return channel.writeAndFlush(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: owed)))
        }.get()
    }

    /// Waits until `condition` holds of what was received, re-checked at every frame; false if it
    /// did not hold within `limit`.
    func until(within limit: Duration = .seconds(20), _ condition: @escaping @Sendable (Snapshot) -> Bool) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let id: Int? = state.withLockedValue { state in
                if condition(state.seen) { return nil }
                let id = state.nextWaiter
                state.nextWaiter += 1
                state.waiters.append(Waiter(id: id, condition: condition, continuation: continuation))
                return id
            }
            guard let id else {
                continuation.resume(returning: true)
                return
            }
            let (seconds, attoseconds) = limit.components
            channel.eventLoop.scheduleTask(in: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)) { [state] in
                let expired = state.withLockedValue { state -> Waiter? in
                    guard let at = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: at)
                }
                expired?.continuation.resume(returning: false)
            }
        }
    }

    func close() async {
        try? await channel.close()
    }

    /// After the HTTP/2 handler: records every frame, credits the windows of streams not held.
    private final class FrameHandler: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame
        typealias OutboundOut = HTTP2Frame
        let state: NIOLockedValueBox<State>

        init(state: NIOLockedValueBox<State>) {
            self.state = state
        }

        func channelActive(context: ChannelHandlerContext) {
            // After the preface, which the HTTP/2 handler wrote before passing the event on: the
            // connection window as wide as it goes, so only stream windows hold anything back.
            let wide = Int(Int32.max) - 65_535
            context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: wide))), promise: nil)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            let id = frame.streamID
            var credit = 0
            let done = state.withLockedValue { state -> [Waiter] in
                switch frame.payload {
                case .headers(let headers):
                    state.seen.streams[id, default: StreamRecord()].blocks.append(Block(fields: headers.headers, endStream: headers.endStream))
                    state.seen.streams[id, default: StreamRecord()].frames.append(headers.endStream ? "HEADERS END_STREAM" : "HEADERS")
                    if headers.endStream { state.seen.streams[id, default: StreamRecord()].ended = true }
                case .data(let body):
                    guard case .byteBuffer(let buffer) = body.data else { break }
                    var record = state.seen.streams[id, default: StreamRecord()]
                    record.checksum.update(buffer)
                    record.dataFrames += 1
                    if record.kept.count < HTTP2FrameClient.keptBytes {
                        record.kept.append(contentsOf: buffer.readableBytesView.prefix(HTTP2FrameClient.keptBytes - record.kept.count))
                    }
                    if body.endStream { record.ended = true }
                    record.frames.append("DATA \(buffer.readableBytes)" + (body.endStream ? " END_STREAM" : ""))
                    state.seen.streams[id] = record
                    let length = buffer.readableBytes + (body.paddingBytes.map { $0 + 1 } ?? 0)
                    if !body.endStream, length > 0, !state.resetByUs.contains(id) {
                        if state.held.contains(id) {
                            state.owed[id, default: 0] += length
                        } else {
                            credit = length
                        }
                    }
                case .rstStream(let code):
                    state.seen.streams[id, default: StreamRecord()].reset = code
                    state.seen.streams[id, default: StreamRecord()].frames.append("RST_STREAM \(code)")
                case .windowUpdate(let increment):
                    if id == .rootStream {
                        state.seen.connectionWindowIncrements.append(increment)
                    } else {
                        state.seen.streams[id, default: StreamRecord()].windowIncrements.append(increment)
                    }
                case .goAway(let last, let code, _):
                    state.seen.goAways.append((last, code))
                default:
                    break
                }
                return state.satisfied()
            }
            if credit > 0 {
                context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: credit))), promise: nil)
            }
            for waiter in done { waiter.continuation.resume(returning: true) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            let done = state.withLockedValue { state -> [Waiter] in
                state.seen.errors.append(String(describing: error))
                return state.satisfied()
            }
            for waiter in done { waiter.continuation.resume(returning: true) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            let done = state.withLockedValue { state -> [Waiter] in
                state.seen.closed = true
                return state.satisfied()
            }
            for waiter in done { waiter.continuation.resume(returning: true) }
            context.fireChannelInactive()
        }
    }
}
