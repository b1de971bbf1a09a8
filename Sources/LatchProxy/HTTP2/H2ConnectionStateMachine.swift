import NIOCore
import NIOHPACK

/// The server's side of an HTTP/2 connection (RFC 9113) as a value with no I/O: the client's bytes
/// go in (``read(_:)``), what they mean for Latch comes out as events (``nextEvent(now:)``), and
/// every frame Latch sends — its answers' HEADERS and DATA, and the connection's own SETTINGS ACKs,
/// PING answers, WINDOW_UPDATEs, RST_STREAMs and GOAWAY — is written into ``output``, in order, for
/// the handler to send in one flush.
///
/// It keeps what the protocol needs: the streams' states (§5.1) and ids (§5.1.1), the limit on
/// concurrent streams (§5.1.2), both directions of flow control for the connection and each stream
/// (§6.9), the client's settings (§6.5), HPACK's tables both ways (RFC 7541; every header block goes
/// through the decoder, even a refused stream's, or the tables fall out of step), a request body's
/// length against its `content-length` (§8.1.1), and the limits that keep a client from costing
/// work for nothing (``H2RateLimit``, empty DATA frames, ``glitch()``).
///
/// A violation that ends the connection is thrown as an ``H2ConnectionError``: the handler then
/// calls ``fail(_:)``, sends what it wrote (the GOAWAY) and closes.
struct H2ConnectionStateMachine {
    struct Limits {
        /// SETTINGS_MAX_CONCURRENT_STREAMS: HAProxy's and nginx's default.
        var maxConcurrentStreams = 100
        /// SETTINGS_MAX_HEADER_LIST_SIZE, and the most a header block may weigh on the wire.
        var maxHeaderListSize = 64 * 1024
        /// A stream's and the connection's receive window: the initial one, which Latch keeps.
        var window = H2ConnectionStateMachine.defaultWindow
        /// Stream errors and malformed requests on one connection before it is cut
        /// (ENHANCE_YOUR_CALM), swift-nio-http2's own figure.
        var maxGlitches = 200
        /// Empty DATA frames in a row without END_STREAM (CVE-2019-9518), swift-nio-http2's default.
        var maxEmptyDataFrames = 1
    }

    /// The initial window of streams and connections both ways (RFC 9113 §6.9.2).
    static let defaultWindow = 65_535
    /// The dynamic table of Latch's decoder (RFC 7541 §4.2): the initial SETTINGS_HEADER_TABLE_SIZE,
    /// which Latch does not change.
    static let headerTable = 4_096
    /// Streams Latch reset lately, whose frames still in flight are dropped quietly (§5.1, "closed").
    static let recentlyResetKept = 32

    /// What the handler acts on.
    enum Event: Equatable {
        /// The client opened a stream with a request's header block.
        case request(UInt32, HPACKHeaders, endStream: Bool)
        /// A request's trailers: its end.
        case trailers(UInt32, HPACKHeaders)
        /// A request's body bytes, and whether they end it.
        case data(UInt32, ByteBuffer, endStream: Bool)
        /// The stream is over: both sides ended, the client reset it, or Latch did (a stream error,
        /// its RST_STREAM already in ``output``).
        case closed(UInt32)
        /// The client's windows changed (a WINDOW_UPDATE, or SETTINGS changing every stream's
        /// window): answers waiting for room may go on, or a stream's answer must wait now.
        case windowsChanged
        /// The client's GOAWAY: it opens no more streams.
        case goAway
    }

    let limits: Limits
    private var reader: H2FrameReader
    private var decoder: HPACKDecoder
    /// The next block Latch writes starts with a dynamic table size update (``H2HeaderEncoder``).
    private var tableSizeUpdate = true
    private(set) var streams = HTTP2StreamTable<H2StreamState>()
    /// The highest stream id the client has opened (§5.1.1: new ids only go up).
    private(set) var lastClientStream: UInt32 = 0
    private var recentlyReset: [UInt32] = []
    private var connectionInbound: Int
    private(set) var connectionOutbound = H2ConnectionStateMachine.defaultWindow
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE and SETTINGS_MAX_FRAME_SIZE.
    private(set) var clientInitialWindow = H2ConnectionStateMachine.defaultWindow
    private(set) var clientMaxFrameSize = H2FrameReader.maxFrameSize
    /// Latch sent GOAWAY: streams the client opens after it are refused.
    private(set) var goneAway = false
    private var glitches = 0
    private var emptyDataFrames = 0
    private var resets = H2RateLimit()
    private var streamErrors = H2RateLimit()
    private var controlFrames = H2RateLimit()
    /// The time of the bytes being read (nanoseconds, monotonic), for the rate limits.
    private var now: UInt64 = 0
    /// A stream that ended with the event just returned; its ``Event/closed(_:)`` comes next.
    private var closing: UInt32?
    /// Frames to send, in order.
    private(set) var output: ByteBuffer
    private let allocator: ByteBufferAllocator

    init(limits: Limits = Limits(), allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.limits = limits
        reader = H2FrameReader(maxHeaderBlock: limits.maxHeaderListSize)
        decoder = HPACKDecoder(allocator: allocator, maxDynamicTableSize: Self.headerTable, maxHeaderListSize: limits.maxHeaderListSize)
        connectionInbound = limits.window
        self.allocator = allocator
        output = allocator.buffer(capacity: 1024)
        // The server's connection preface is its SETTINGS (§3.4).
        H2FrameWriter.settings(
            [
                H2Setting(parameter: H2Setting.maxConcurrentStreams, value: UInt32(limits.maxConcurrentStreams)),
                H2Setting(parameter: H2Setting.maxHeaderListSize, value: UInt32(limits.maxHeaderListSize)),
                // WebSocket over HTTP/2 (RFC 8441 §3).
                H2Setting(parameter: H2Setting.enableConnectProtocol, value: 1),
            ], into: &output)
    }

    var hasOpenStreams: Bool { !streams.isEmpty }

    // MARK: - Bytes in, events out

    mutating func read(_ bytes: ByteBuffer) {
        reader.append(bytes)
    }

    /// The next thing the client's bytes mean for the handler; `nil` when they are all read.
    mutating func nextEvent(now: UInt64) throws(H2ConnectionError) -> Event? {
        if let id = closing.take() { return .closed(id) }
        self.now = now
        while let frame = try reader.next() {
            if let event = try received(frame) { return event }
        }
        return nil
    }

    private mutating func received(_ frame: H2Frame) throws(H2ConnectionError) -> Event? {
        if case .data(_, let data, let endStream, _) = frame {
            if data.readableBytes == 0, !endStream {
                emptyDataFrames += 1
                guard emptyDataFrames <= limits.maxEmptyDataFrames else { throw H2ConnectionError(.enhanceYourCalm, "empty DATA frames in a row") }
            } else {
                emptyDataFrames = 0
            }
        }
        switch frame {
        case .headers(let id, let block, let endStream, let dependsOnItself):
            emptyDataFrames = 0
            return try receivedHeaders(id, block, endStream: endStream, dependsOnItself: dependsOnItself)
        case .data(let id, let data, let endStream, let flowControlled):
            return try receivedData(id, data, endStream: endStream, flowControlled: flowControlled)
        case .priority:
            try control()
            return nil
        case .rstStream(let id, _):
            try idle(id, "RST_STREAM")
            guard resets.record(now: now) else { throw H2ConnectionError(.enhanceYourCalm, "more than 200 RST_STREAM in 30 s") }
            guard streams.remove(id) != nil else { return nil }
            return .closed(id)
        case .settings(let settings):
            try control()
            return try apply(settings)
        case .settingsAck:
            return nil
        case .ping(let opaque, let ack):
            guard !ack else { return nil }
            try control()
            H2FrameWriter.pingAck(opaque, into: &output)
            return nil
        case .goAway:
            return .goAway
        case .windowUpdate(let id, let increment):
            return try windowUpdate(id, Int(increment))
        case .streamError(let id, let code):
            return try streamError(id, code) ? .closed(id) : nil
        }
    }

    /// A frame other than HEADERS or PRIORITY on a stream the client never opened (§5.1, "idle").
    private func idle(_ id: UInt32, _ name: String) throws(H2ConnectionError) {
        guard id <= lastClientStream else { throw H2ConnectionError(.protocolError, "\(name) on stream \(id), never opened (RFC 9113 §5.1)") }
    }

    private mutating func control() throws(H2ConnectionError) {
        guard controlFrames.record(now: now) else { throw H2ConnectionError(.enhanceYourCalm, "more than 200 PING, SETTINGS and PRIORITY frames in 30 s") }
    }

    // MARK: Header blocks

    private mutating func receivedHeaders(_ id: UInt32, _ block: ByteBuffer, endStream: Bool, dependsOnItself: Bool) throws(H2ConnectionError) -> Event? {
        guard id & 1 == 1 else { throw H2ConnectionError(.protocolError, "HEADERS on the even stream \(id), not a client's (RFC 9113 §5.1.1)") }
        // Every block goes through the decoder, whatever becomes of its stream (RFC 9113 §4.3).
        let fields = try decode(block)
        if let stream = streams[id] {
            guard stream.clientSending else {
                return try streamError(id, .streamClosed) ? .closed(id) : nil
            }
            // A later block is the request's trailers, which end it (RFC 9113 §8.1).
            guard endStream, !dependsOnItself else {
                return try streamError(id, .protocolError) ? .closed(id) : nil
            }
            guard stream.remainingLength ?? 0 == 0 else {
                return try streamError(id, .protocolError) ? .closed(id) : nil
            }
            clientEnded(id)
            return .trailers(id, fields)
        }
        guard id > lastClientStream else {
            // A closed stream's, or a new one's below the last: either way the client broke the rules
            // (§5.1, §5.1.1), and telling which would mean keeping every closed stream.
            guard recentlyReset.contains(id) else {
                throw H2ConnectionError(.protocolError, "HEADERS on stream \(id), not above the last opened (\(lastClientStream)) (RFC 9113 §5.1.1)")
            }
            return nil
        }
        lastClientStream = id
        if goneAway {
            refuse(id, .refusedStream)
            return nil
        }
        if dependsOnItself {
            refuse(id, .protocolError)
            try glitch()
            return nil
        }
        let length = Self.contentLength(fields)
        if endStream, let length, length != 0 {
            // A body announced and none sent: malformed (§8.1.1); the node would wait for it.
            refuse(id, .protocolError)
            try glitch()
            return nil
        }
        guard streams.count < limits.maxConcurrentStreams else {
            // Before its SETTINGS reached the client, a client may not know the limit (§5.1.2).
            refuse(id, .refusedStream)
            try glitch()
            return nil
        }
        streams.insert(
            H2StreamState(
                id: id, phase: endStream ? .halfClosedRemote : .open, inbound: limits.window, outbound: clientInitialWindow,
                remainingLength: length))
        return .request(id, fields, endStream: endStream)
    }

    private mutating func decode(_ block: ByteBuffer) throws(H2ConnectionError) -> HPACKHeaders {
        var block = block
        do {
            return try decoder.decodeHeaders(from: &block)
        } catch is NIOHPACKErrors.MaxHeaderListSizeViolation {
            throw H2ConnectionError(.enhanceYourCalm, "a header list over \(limits.maxHeaderListSize) bytes")
        } catch {
            throw H2ConnectionError(.compressionError, "a header block HPACK cannot decode: \(error) (RFC 7541)")
        }
    }

    /// The request's `content-length`, as the head toward the node will frame its body: the first
    /// field's value as a decimal number. A second field, or a value that is not one, makes the
    /// head malformed (answered 400, nothing forwarded), so the body is not counted then.
    static func contentLength(_ fields: HPACKHeaders) -> Int? {
        for (name, value, _) in fields where name == "content-length" {
            var value = value
            return value.withUTF8 { HTTPSyntax.decimal(UnsafeRawBufferPointer($0)) }
        }
        return nil
    }

    // MARK: DATA and flow control

    private mutating func receivedData(_ id: UInt32, _ data: ByteBuffer, endStream: Bool, flowControlled: Int) throws(H2ConnectionError) -> Event? {
        // The connection's window counts every DATA frame, whatever its stream's state (§6.9), and
        // opens again as they arrive: the streams' windows are what bound the bytes held.
        connectionInbound -= flowControlled
        guard connectionInbound >= 0 else { throw H2ConnectionError(.flowControlError, "DATA beyond the connection's window (RFC 9113 §6.9.1)") }
        if let increment = H2StreamState.increment(open: connectionInbound, target: limits.window) {
            connectionInbound += increment
            H2FrameWriter.windowUpdate(stream: 0, increment: increment, into: &output)
        }
        try idle(id, "DATA")
        guard let stream = streams[id] else {
            if !recentlyReset.contains(id) { refuse(id, .streamClosed) }
            return nil
        }
        guard stream.clientSending else {
            return try streamError(id, .streamClosed) ? .closed(id) : nil
        }
        let size = data.readableBytes
        let fault: H2ErrorCode? = try streams.modify(id) { stream in
            stream.inbound -= flowControlled
            guard stream.inbound >= 0 else { return .flowControlError }
            if let remaining = stream.remainingLength {
                guard size <= remaining, !endStream || size == remaining else { return .protocolError }
                stream.remainingLength = remaining - size
            }
            // Padding is nobody's to take: it counts as taken now.
            stream.held += size
            return nil
        }!
        if let fault {
            return try streamError(id, fault) ? .closed(id) : nil
        }
        if flowControlled > size { taken(id, 0) }
        if endStream { clientEnded(id) }
        guard size > 0 || endStream else { return nil }
        return .data(id, data, endStream: endStream)
    }

    /// The stream's reader took `size` bytes of its body: the client may send as much again, in one
    /// WINDOW_UPDATE per half window.
    mutating func taken(_ id: UInt32, _ size: Int) {
        guard let increment = try? streams.modify(id, { stream in
            stream.held -= size
            return stream.increment(target: limits.window)
        }), let increment else { return }
        H2FrameWriter.windowUpdate(stream: id, increment: increment, into: &output)
    }

    private mutating func windowUpdate(_ id: UInt32, _ increment: Int) throws(H2ConnectionError) -> Event? {
        guard id != 0 else {
            connectionOutbound += increment
            guard connectionOutbound <= Int(Int32.max) else {
                throw H2ConnectionError(.flowControlError, "the connection's window past 2^31-1 (RFC 9113 §6.9.1)")
            }
            return .windowsChanged
        }
        try idle(id, "WINDOW_UPDATE")
        let overflow = try streams.modify(id) { stream in
            stream.outbound += increment
            return stream.outbound > Int(Int32.max)
        }
        guard let overflow else { return nil }
        guard !overflow else {
            return try streamError(id, .flowControlError) ? .closed(id) : nil
        }
        return .windowsChanged
    }

    /// The client's SETTINGS, applied and acknowledged (§6.5.3).
    private mutating func apply(_ settings: [H2Setting]) throws(H2ConnectionError) -> Event? {
        var changed = false
        for setting in settings {
            switch setting.parameter {
            case H2Setting.initialWindowSize:
                // Every open stream's window moves by the change (§6.9.2).
                let delta = Int(setting.value) - clientInitialWindow
                clientInitialWindow = Int(setting.value)
                try streams.modifyAll { stream throws(H2ConnectionError) in
                    stream.outbound += delta
                    guard stream.outbound <= Int(Int32.max) else {
                        throw H2ConnectionError(.flowControlError, "SETTINGS_INITIAL_WINDOW_SIZE took a stream's window past 2^31-1 (RFC 9113 §6.9.2)")
                    }
                }
                changed = changed || (delta != 0 && !streams.isEmpty)
            case H2Setting.maxFrameSize:
                clientMaxFrameSize = Int(setting.value)
            case H2Setting.headerTableSize:
                // Latch's encoder uses no dynamic table; a decoder whose table was made smaller
                // waits for the update that says so (RFC 7541 §4.2).
                tableSizeUpdate = true
            default:
                break
            }
        }
        H2FrameWriter.settingsAck(into: &output)
        return changed ? .windowsChanged : nil
    }

    // MARK: - Latch's side

    /// What Latch may send on the stream now: the smaller of its window and the connection's.
    func sendable(_ id: UInt32) -> Int {
        guard let stream = streams[id] else { return 0 }
        return max(0, min(stream.outbound, connectionOutbound))
    }

    /// Writes a response's head or trailers. Returns whether the stream is over (both sides ended);
    /// a stream that is gone already gets nothing written and counts as over.
    mutating func writeHeaders(_ id: UInt32, _ block: H2HeaderEncoder.Block, endStream: Bool) -> Bool {
        guard streams[id] != nil else { return true }
        let update = tableSizeUpdate
        tableSizeUpdate = false
        H2FrameWriter.headers(stream: id, endStream: endStream, maxFrameSize: clientMaxFrameSize, into: &output) { out in
            if update { H2HeaderEncoder.noDynamicTable(into: &out) }
            H2HeaderEncoder.encode(block, into: &out)
        }
        return endStream ? latchEnded(id) : false
    }

    /// Writes `data` as DATA frames of at most the client's frame size. The caller keeps within
    /// ``sendable(_:)``. Returns whether the stream is over.
    mutating func writeData(_ id: UInt32, _ data: ByteBuffer, endStream: Bool) -> Bool {
        guard streams[id] != nil else { return true }
        var data = data
        let size = data.readableBytes
        assert(size <= sendable(id), "DATA beyond the client's window")
        connectionOutbound -= size
        _ = try? streams.modify(id) { stream in stream.outbound -= size }
        repeat {
            let piece = data.readSlice(length: min(data.readableBytes, clientMaxFrameSize))!
            H2FrameWriter.data(stream: id, piece, endStream: endStream && data.readableBytes == 0, into: &output)
        } while data.readableBytes > 0
        return endStream ? latchEnded(id) : false
    }

    /// Latch ends the stream early with RST_STREAM (RFC 9113 §6.4); frames of it still in flight
    /// are then dropped quietly.
    mutating func reset(_ id: UInt32, _ code: H2ErrorCode) {
        guard streams.remove(id) != nil else { return }
        refuse(id, code)
    }

    /// GOAWAY naming the last stream Latch will serve (RFC 9113 §6.8): shutdown, an idle connection,
    /// or a fault (then the handler closes once it is sent).
    mutating func goAway(_ code: H2ErrorCode = .noError) {
        guard !goneAway else { return }
        goneAway = true
        H2FrameWriter.goAway(lastStream: lastClientStream, code: code, into: &output)
    }

    /// The connection ends on `error`: GOAWAY with its code (a second one after a shutdown's
    /// NO_ERROR, as §6.8 allows), and every stream is over.
    mutating func fail(_ error: H2ConnectionError) {
        goneAway = true
        H2FrameWriter.goAway(lastStream: lastClientStream, code: error.code, into: &output)
        streams.removeAll()
    }

    /// A stream's request was malformed (the proxy answered 400): counted with the stream errors;
    /// past ``Limits/maxGlitches`` the connection is cut.
    mutating func glitch() throws(H2ConnectionError) {
        glitches += 1
        guard glitches < limits.maxGlitches else {
            throw H2ConnectionError(.enhanceYourCalm, "\(limits.maxGlitches) malformed requests and stream errors")
        }
    }

    /// Takes what was written so far, for the handler to send.
    mutating func takeOutput() -> ByteBuffer? {
        guard output.readableBytes > 0 else { return nil }
        // A fresh buffer rather than the old one cleared: that one is on its way to the socket, and
        // clearing shared storage would allocate as much again as its largest flush ever took.
        let taken = output
        output = allocator.buffer(capacity: 1024)
        return taken
    }

    // MARK: - Streams' ends

    /// The client ended its side; if Latch had too, the stream is over (its close comes next).
    private mutating func clientEnded(_ id: UInt32) {
        let over = try? streams.modify(id) { stream in
            guard stream.phase == .open else { return true }
            stream.phase = .halfClosedRemote
            return false
        }
        if over == true {
            streams.remove(id)
            closing = id
        }
    }

    /// Latch ended its side; if the client had too, the stream is over.
    private mutating func latchEnded(_ id: UInt32) -> Bool {
        let over = try? streams.modify(id) { stream in
            guard stream.phase == .open else { return true }
            stream.phase = .halfClosedLocal
            return false
        }
        guard over == true else { return false }
        streams.remove(id)
        return true
    }

    /// A stream error (§5.4.2): RST_STREAM, and counted; too many and the connection is cut.
    /// Returns whether the stream was open (its close is then the handler's to hear).
    private mutating func streamError(_ id: UInt32, _ code: H2ErrorCode) throws(H2ConnectionError) -> Bool {
        let open = streams.remove(id) != nil
        refuse(id, code)
        try glitch()
        if !streamErrors.record(now: now) {
            throw H2ConnectionError(.enhanceYourCalm, "more than 200 stream errors in 30 s")
        }
        return open
    }

    /// RST_STREAM for a stream not (or no longer) in the table, remembered so that its frames in
    /// flight are dropped quietly.
    private mutating func refuse(_ id: UInt32, _ code: H2ErrorCode) {
        H2FrameWriter.rstStream(stream: id, code: code, into: &output)
        if recentlyReset.count == Self.recentlyResetKept { recentlyReset.removeFirst() }
        recentlyReset.append(id)
    }
}
