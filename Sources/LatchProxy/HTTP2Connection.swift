import Logging
import NIOCore

/// A client's HTTP/2 connection (RFC 9113), right above TLS: the shell around
/// ``H2ConnectionStateMachine``. The client's bytes go into the state machine; its events open
/// streams (an ``HTTP2Stream`` and its ``ProxyHandler`` each: no child channel, pipeline or promise
/// per stream) and hand them their request's parts; the streams' answers go back through it as
/// frames, and everything it writes for a tick — every stream's answers, window updates, resets,
/// settings acknowledgements — leaves in one buffer, one TLS record where it fits, one write, at the
/// end of the tick (answers arrive from the node connections' reads, not the client's, so nothing
/// else gathers them; HAProxy and nginx batch the same way).
///
/// It also keeps the connection's own life: it closes after `idle` with no open stream (GOAWAY
/// first), and on shutdown (`ChannelShouldQuiesceEvent`, or accepted while Latch was already
/// stopping) it sends GOAWAY naming the last stream it will serve (RFC 9113 §6.8) and closes once
/// those are done. A protocol violation ends it with GOAWAY and the violation's code (§5.4.1);
/// a client sending malformed requests without end is cut off (ENHANCE_YOUR_CALM) after
/// ``H2ConnectionStateMachine/Limits/maxGlitches``.
final class HTTP2Connection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let holder: RuntimeHolder
    private let proxiedClient: SocketAddress?
    private let idle: TimeAmount
    private var context: ChannelHandlerContext?
    private(set) var machine: H2ConnectionStateMachine
    private(set) var streams = HTTP2StreamTable<HTTP2Stream>()
    private var quiescing = false
    /// The client sent GOAWAY: it opens no more streams; the connection closes once they are done.
    private var clientLeaving = false
    private var idleTimer: Scheduled<Void>?
    /// Streams that were handed parts in the current read (``HTTP2Stream/inRead``).
    private var inRead: [HTTP2Stream] = []
    /// Streams whose answer's end closed them: their readers hear it at the flush, once the answer
    /// has gone out, not from inside their own write.
    private var ended: [HTTP2Stream] = []
    private var flushScheduled = false
    /// The client's updates in this read opened windows: what waits goes out at the read's end.
    private var windowsMoved = false
    private var channelWritable = true
    private var closing = false

    /// - Parameter client: the client's address as a PROXY protocol header gave it; `nil`: the peer's.
    init(holder: RuntimeHolder, client: SocketAddress?, idle: TimeAmount, limits: H2ConnectionStateMachine.Limits) {
        self.holder = holder
        self.proxiedClient = client
        self.idle = idle
        self.machine = H2ConnectionStateMachine(limits: limits)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        channelWritable = context.channel.isWritable
        startIdleTimer()
        // The server's preface (its SETTINGS) goes out at once (RFC 9113 §3.4).
        flushNow()
        // Accepted as shutdown began, after the registry told the open connections.
        if holder.isQuiescing { quiesce() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        closeAll()
        self.context = nil
    }

    // MARK: - Bytes in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        machine.read(unwrapInboundIn(data))
        let now = NIODeadline.now().uptimeNanoseconds
        do {
            // A stream's proxy may end the connection from inside its event (too many malformed requests).
            while !closing, let event = try machine.nextEvent(now: now) { handle(event) }
        } catch {
            fail(error)
        }
    }

    private func handle(_ event: H2ConnectionStateMachine.Event) {
        switch event {
        case .request(let id, let fields, let endStream):
            let stream = open(id)
            stream.received(.head(fields, endStream: endStream))
            if endStream { stream.received(.end(nil)) }
        case .data(let id, let bytes, let endStream):
            guard let stream = streams[id] else { return }
            if bytes.readableBytes > 0 { stream.received(.body(bytes)) }
            if endStream { stream.received(.end(nil)) }
        case .trailers(let id, let fields):
            guard let stream = streams[id] else { return }
            do {
                stream.received(.end(try ClientRequestHead.http2Trailers(fields)))
            } catch {
                // Part of the request has gone on already: only the stream can say it was malformed.
                reset(stream, code: .protocolError)
            }
        case .closed(let id):
            guard let stream = streams.remove(id) else { return }
            stream.closed()
            streamGone()
        case .windowsChanged:
            // What waits goes out at the read's end, into the windows all of the read's updates
            // opened (and writability follows them then): sent at each update, a client that credits every frame as it arrives would
            // get frames cut to the size of each credit, and smaller on every round.
            windowsMoved = true
        case .goAway:
            clientLeaving = true
            if streams.isEmpty { close() }
        }
    }

    /// A stream the client opened with its request: its proxy joins here.
    private func open(_ id: UInt32) -> HTTP2Stream {
        let stream = HTTP2Stream(id: id, connection: self)
        let proxy = ProxyHandler(
            holder: holder, parsing: nil, writer: HTTP2ResponseWriter(stream: stream), scheme: "https", client: proxiedClient, stream: stream)
        stream.attach(proxy)
        streams.insert(stream)
        idleTimer?.cancel()
        idleTimer = nil
        if let context { proxy.streamOpened(on: context) }
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

    /// A stream was handed parts: its proxy's upstream writes leave at the end of this read.
    func delivered(_ stream: HTTP2Stream) {
        guard !stream.inRead else { return }
        stream.inRead = true
        inRead.append(stream)
    }

    /// The stream's reader took `size` bytes of its body: the client may send more (a WINDOW_UPDATE,
    /// once half the window is spent).
    func taken(_ stream: HTTP2Stream, _ size: Int) {
        machine.taken(stream.id, size)
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
        if windowsMoved {
            windowsMoved = false
            for stream in streams.all { stream.sendQueued() }
        }
        scheduleFlush()
        context.fireChannelReadComplete()
    }

    // MARK: - Frames out

    /// Writes a frame of the stream's answer as far as the windows allow; returns what must wait
    /// for them to open (DATA beyond them), `nil` when all of it went.
    func send(_ frame: HTTP2Outbound, on stream: HTTP2Stream) -> HTTP2Outbound? {
        switch frame {
        case .headers(let fields, let endStream):
            if machine.writeHeaders(stream.id, fields, endStream: endStream) { answerEnded(stream) }
        case .data(var bytes, let endStream):
            let room = machine.sendable(stream.id)
            if bytes.readableBytes > room {
                if room > 0 { _ = machine.writeData(stream.id, bytes.readSlice(length: room)!, endStream: false) }
                return .data(bytes, endStream: endStream)
            }
            if machine.writeData(stream.id, bytes, endStream: endStream) { answerEnded(stream) }
        case .reset(let code):
            reset(stream, code: code)
        }
        return nil
    }

    /// Both sides of the stream ended with its answer's last frame: it leaves the table now, and
    /// its reader hears at the flush.
    private func answerEnded(_ stream: HTTP2Stream) {
        guard streams.remove(stream.id) != nil else { return }
        ended.append(stream)
    }

    /// What was written goes out at the end of this tick, with everything else written in it.
    func flush() {
        scheduleFlush()
    }

    private func scheduleFlush() {
        guard !flushScheduled, let context else { return }
        flushScheduled = true
        // Strong: the task runs within this tick.
        context.eventLoop.assumeIsolated().execute { self.flushNow() }
    }

    private func flushNow() {
        flushScheduled = false
        if let context, let output = machine.takeOutput() {
            context.writeAndFlush(wrapOutboundOut(output), promise: nil)
        }
        guard !ended.isEmpty else { return }
        let done = ended
        ended.removeAll()
        for stream in done { stream.closed() }
        streamGone()
    }

    // MARK: - Writability

    /// A stream's answer may go on while nothing of it waits for the client's windows, those have
    /// room, and the socket takes more: a node is read no faster than its client reads.
    func isWritable(_ stream: HTTP2Stream) -> Bool {
        channelWritable && stream.queued.isEmpty && machine.sendable(stream.id) > 0
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        channelWritable = context.channel.isWritable
        for stream in streams.all { stream.setWritable(isWritable(stream)) }
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Streams' ends

    /// RST_STREAM for a stream its reader gave up on or finished with (RFC 9113 §6.4); its close
    /// reaches the reader now.
    func reset(_ stream: HTTP2Stream, code: H2ErrorCode) {
        machine.reset(stream.id, code)
        guard streams.remove(stream.id) != nil else { return }
        stream.closed()
        streamGone()
        scheduleFlush()
    }

    /// A stream's request was malformed (answered 400); past the limit the connection is cut.
    func noteMalformed() {
        do {
            try machine.glitch()
        } catch {
            fail(error)
        }
    }

    private func streamGone() {
        guard streams.isEmpty else { return }
        if quiescing || clientLeaving {
            close()
        } else {
            startIdleTimer()
        }
    }

    private func closeAll() {
        let open = streams.all + ended
        streams.removeAll()
        ended.removeAll()
        for stream in open { stream.closed() }
    }

    /// The client broke the protocol: GOAWAY with the fault's code, every stream ends, and the
    /// connection closes once that is sent.
    private func fail(_ error: H2ConnectionError) {
        guard !closing else { return }
        holder.current.logger.info("HTTP/2 connection error, closing", metadata: ["error": "\(error)"])
        machine.fail(error)
        closeAll()
        close()
    }

    private func close() {
        guard !closing, let context else { return }
        closing = true
        idleTimer?.cancel()
        flushNow()
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        closeAll()
        context.fireChannelInactive()
    }

    // MARK: - Idle and shutdown

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelShouldQuiesceEvent:
            quiesce()
        case is ShutdownGraceOverEvent:
            for stream in streams.all { stream.reader?.shutdownGraceOver() }
            context.fireUserInboundEventTriggered(event)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func startIdleTimer() {
        guard let context else { return }
        idleTimer?.cancel()
        // Strong, not weak: a weak reference gives this object a side table, and every retain of it
        // (each stream's, each write's) then takes the runtime's slow path. The timer is cancelled when
        // the connection goes, so it keeps nothing alive.
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: idle) {
            guard self.streams.isEmpty, !self.quiescing else { return }
            self.machine.goAway()
            self.close()
        }
    }

    /// Shutdown: no new stream; the connection closes once the streams in flight are done.
    private func quiesce() {
        guard !quiescing else { return }
        quiescing = true
        idleTimer?.cancel()
        idleTimer = nil
        machine.goAway()
        if streams.isEmpty { close() } else { scheduleFlush() }
    }
}
