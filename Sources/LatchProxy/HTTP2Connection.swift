import NIOCore
import NIOHTTP2

/// A client's HTTP/2 connection (RFC 9113) above swift-nio-http2's `NIOHTTP2Handler`, with no
/// stream multiplexer: frames arrive here with their stream's id and go to that stream's
/// ``HTTP2Stream`` and ``ProxyHandler``; responses go back down as frames from the same place. A
/// child channel per stream, with its pipeline, promises and type-erased hops, cost more than the
/// rest of the request put together; here a stream costs two objects.
///
/// What the multiplexer did, this does:
/// - flow control on the receiving side: `WINDOW_UPDATE`s for each stream as its proxy takes the
///   bytes, and for the connection as they arrive (``HTTP2InboundWindow``);
/// - writability per stream: a response goes on while the client's windows have room for more
///   than what already waits unsent, and little waits (``isWritable(_:)``), so a node is read no
///   faster than its client reads;
/// - the streams' ends: a proxy's reset is a `RST_STREAM`, and a stream's close, or the connection's,
///   reaches the proxy as its client going.
///
/// And the connection's own life: it closes after `idle` with no open stream (GOAWAY first), and on
/// shutdown (`ChannelShouldQuiesceEvent`, or accepted while Latch was already stopping) it sends
/// GOAWAY naming the last stream it will serve (RFC 9113 §6.8) and closes once those are done. (The
/// two-step GOAWAY §6.8 suggests would serve streams opened in between, but swift-nio-http2 refuses
/// every new stream after any GOAWAY sent; clients retry a refused stream elsewhere.) A client
/// sending malformed requests without end is cut off as the library would: GOAWAY
/// (ENHANCE_YOUR_CALM) after ``malformedLimit``.
final class HTTP2Connection: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// The initial window of both the streams and the connection, in both directions, until SETTINGS
    /// say otherwise (RFC 9113 §6.5.2, §6.9.2); Latch does not change its own.
    static let defaultWindow = 65_535

    private let holder: RuntimeHolder
    private let proxiedClient: SocketAddress?
    private let idle: TimeAmount
    private var context: ChannelHandlerContext?
    private(set) var streams = HTTP2StreamTable<HTTP2Stream>()
    private var lastStreamID = HTTP2StreamID.rootStream
    private var quiescing = false
    private var idleTimer: Scheduled<Void>?
    private var malformed = 0
    /// swift-nio-http2's own limit on a connection's stream errors ("glitches"), which malformed
    /// requests were before Latch checked them itself.
    static let malformedLimit = 200
    /// Streams that were handed frames in the current read (``HTTP2Stream/inRead``).
    private var inRead: [HTTP2Stream] = []
    /// Frames of the connection's own (window updates, resets) written and not yet flushed.
    private var needsFlush = false

    private var connectionInbound = HTTP2InboundWindow(target: HTTP2Connection.defaultWindow)
    private var connectionOutbound = HTTP2Connection.defaultWindow
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE: a new stream's window, and the base a change of it
    /// applies to every open stream by (RFC 9113 §6.9.2).
    private var clientInitialWindow = HTTP2Connection.defaultWindow
    private var channelWritable = true

    /// - Parameter client: the client's address as a PROXY protocol header gave it; `nil`: the peer's.
    init(holder: RuntimeHolder, client: SocketAddress?, idle: TimeAmount) {
        self.holder = holder
        self.proxiedClient = client
        self.idle = idle
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        channelWritable = context.channel.isWritable
        startIdleTimer()
        // Accepted as shutdown began, after the registry told the open connections.
        if holder.isQuiescing { quiesce(context: context) }
    }

    /// A stream's request was malformed (answered 400); past the limit the connection is cut.
    func noteMalformed() {
        malformed += 1
        guard malformed == Self.malformedLimit else { return }
        goAway(lastStreamID: lastStreamID, errorCode: .enhanceYourCalm)
        context?.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        closeAll()
        self.context = nil
    }

    // MARK: - Frames in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers:
            if let stream = streams[frame.streamID] {
                stream.received(frame.payload)
            } else if frame.streamID > lastStreamID {
                // A new stream; the HEADERS of one Latch reset already (its RST not yet out) are not.
                open(frame.streamID, context: context)?.received(frame.payload)
            }
        case .data:
            streams[frame.streamID]?.received(frame.payload)
        case .settings(.settings(let settings)):
            for setting in settings where setting.parameter == .initialWindowSize {
                let delta = setting.value - clientInitialWindow
                clientInitialWindow = setting.value
                for stream in streams.all { stream.outboundWindowChanged(by: delta) }
                updateWritability()
            }
        default:
            break
        }
    }

    /// A stream the client opened with its HEADERS (swift-nio-http2 has checked the id and the
    /// stream limit): its proxy joins here.
    private func open(_ id: HTTP2StreamID, context: ChannelHandlerContext) -> HTTP2Stream? {
        let stream = HTTP2Stream(id: id, connection: self, inboundTarget: Self.defaultWindow, outboundWindow: clientInitialWindow)
        let proxy = ProxyHandler(
            holder: holder, parsing: nil, writer: HTTP2ResponseWriter(stream: stream), scheme: "https", client: proxiedClient, stream: stream)
        stream.attach(proxy)
        streams.insert(stream)
        lastStreamID = max(lastStreamID, id)
        idleTimer?.cancel()
        idleTimer = nil
        proxy.streamOpened(on: context)
        return stream
    }

    /// The client's address as text, worked out once for all the connection's streams.
    private var peerText: (ip: String?, display: String)?

    /// The client's address as ``ProxyHandler`` logs and forwards it (the PROXY protocol's if one
    /// came); `nil` if unknown.
    func peer(_ context: ChannelHandlerContext) -> (ip: String?, display: String)? {
        if let peerText { return peerText }
        guard let remote = proxiedClient ?? context.channel.remoteAddress else { return nil }
        peerText = (remote.ipAddress, SocketAddress.display(remote))
        return peerText
    }

    /// A stream was handed frames: its proxy's upstream writes leave at the end of this read.
    func delivered(_ stream: HTTP2Stream) {
        guard !stream.inRead else { return }
        stream.inRead = true
        inRead.append(stream)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Taken first: a flush toward a node can make it writable at once, resume a stream, and
        // put that stream on the list again.
        var batch: [HTTP2Stream] = []
        swap(&batch, &inRead)
        for stream in batch {
            stream.inRead = false
            stream.reader?.readComplete()
        }
        if inRead.isEmpty {
            batch.removeAll(keepingCapacity: true)
            swap(&batch, &inRead)
        }
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    // MARK: - Flow control and writability

    /// swift-nio-http2 fires several events per stream; each is recognised by its type's identity
    /// before any cast (a failed `as?` on `Any` is a walk through the runtime's casting rules, and a
    /// `switch` of casts made them cost 2 % of a stream).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        let kind = ObjectIdentifier(type(of: event))
        if kind == Self.windowUpdated {
            windowUpdated(Self.exactly(event, NIOHTTP2WindowUpdatedEvent.self))
            return
        }
        if kind == Self.streamClosed {
            let closed = Self.exactly(event, StreamClosedEvent.self)
            if let stream = streams.remove(closed.streamID) {
                stream.closed()
                streamGone()
            }
            return
        }
        // Streams open with their first HEADERS here; nothing further needs the library's word.
        if kind == Self.streamCreated { return }
        switch event {
        case is ChannelShouldQuiesceEvent:
            quiesce(context: context)
        case is ShutdownGraceOverEvent:
            for stream in streams.all { stream.reader?.shutdownGraceOver() }
            context.fireUserInboundEventTriggered(event)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// `event`, whose dynamic type was found to be `T` itself, as a `T`: the bits as they are, no
    /// runtime cast (`as?` is a `swift_dynamicCast` from `Any`, about 500 instructions under callgrind
    /// for the events every stream fires).
    private static func exactly<T>(_ event: Any, _: T.Type) -> T {
        func open<Event>(_ event: Event) -> T {
            precondition(Event.self == T.self)
            return unsafeBitCast(event, to: T.self)
        }
        return open(event)
    }

    private static let windowUpdated = ObjectIdentifier(NIOHTTP2WindowUpdatedEvent.self)
    private static let streamClosed = ObjectIdentifier(StreamClosedEvent.self)
    private static let streamCreated = ObjectIdentifier(NIOHTTP2StreamCreatedEvent.self)

    private func windowUpdated(_ event: NIOHTTP2WindowUpdatedEvent) {
        if event.streamID == .rootStream {
            if let inbound = event.inboundWindowSize, let increment = connectionInbound.reported(inbound) {
                openWindow(of: .rootStream, by: increment)
            }
            if let outbound = event.outboundWindowSize {
                let wasOpen = connectionOutbound > 0
                connectionOutbound = outbound
                if wasOpen != (outbound > 0) { updateWritability() }
            }
            return
        }
        guard let stream = streams[event.streamID] else { return }
        if let inbound = event.inboundWindowSize, let increment = stream.inbound.reported(inbound) {
            openWindow(of: stream.id, by: increment)
        }
        if let outbound = event.outboundWindowSize {
            stream.outboundWindowReported(outbound)
            stream.setWritable(isWritable(stream))
        }
    }

    /// Lets the client send `increment` more bytes on the stream (or, for the root stream, the
    /// connection); flushed at the end of the read, or by whoever resumed the stream.
    func openWindow(of id: HTTP2StreamID, by increment: Int) {
        context?.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: increment))), promise: nil)
        needsFlush = true
    }

    func flushIfNeeded() {
        guard needsFlush else { return }
        needsFlush = false
        context?.flush()
    }

    /// A stream's response may go on while the client's windows have room beyond what already waits
    /// unsent, little waits, and the socket takes more. What is written beyond a window waits in
    /// swift-nio-http2: at most ``HTTP2Stream/unsentLimit`` and one read from the node.
    func isWritable(_ stream: HTTP2Stream) -> Bool {
        channelWritable && connectionOutbound > 0 && stream.unsent < min(HTTP2Stream.unsentLimit, stream.outboundWindow)
    }

    private func updateWritability() {
        for stream in streams.all { stream.setWritable(isWritable(stream)) }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        channelWritable = context.channel.isWritable
        updateWritability()
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Streams' ends

    /// RST_STREAM for a stream its reader gave up on or finished with (RFC 9113 §6.4); its close
    /// reaches the reader now, not when swift-nio-http2 reports it.
    func reset(_ stream: HTTP2Stream, code: HTTP2ErrorCode) {
        guard streams.remove(stream.id) != nil else { return }
        context?.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: stream.id, payload: .rstStream(code))), promise: nil)
        stream.closed()
        streamGone()
    }

    private func streamGone() {
        guard streams.isEmpty else { return }
        if quiescing {
            context?.close(promise: nil)
        } else {
            startIdleTimer()
        }
    }

    private func closeAll() {
        let open = streams.all
        streams.removeAll()
        for stream in open { stream.closed() }
    }

    /// A stream error is swift-nio-http2's to answer, and it has: the stream is reset, and its close
    /// reaches the proxy as a ``StreamClosedEvent``. Anything else goes on.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOHTTP2Errors.StreamError { return }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        closeAll()
        context.fireChannelInactive()
    }

    // MARK: - Idle and shutdown

    private func startIdleTimer() {
        guard let context else { return }
        idleTimer?.cancel()
        // Strong, not weak: a weak reference gives this object a side table, and every retain of it
        // (each stream's, each write's) then takes the runtime's slow path. The timer is cancelled when
        // the connection goes, so it keeps nothing alive.
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: idle) {
            guard self.streams.isEmpty, !self.quiescing else { return }
            self.goAway(lastStreamID: self.lastStreamID)
            self.context?.close(promise: nil)
        }
    }

    private func goAway(lastStreamID: HTTP2StreamID, errorCode: HTTP2ErrorCode = .noError) {
        guard let context else { return }
        let frame = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: errorCode, opaqueData: nil))
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    /// Shutdown: no new stream; the connection closes once the streams in flight are done.
    private func quiesce(context: ChannelHandlerContext) {
        guard !quiescing else { return }
        quiescing = true
        idleTimer?.cancel()
        idleTimer = nil
        goAway(lastStreamID: lastStreamID)
        if streams.isEmpty { context.close(promise: nil) }
    }
}
