import LatchCore
import Logging
import NIOCore
import NIOEmbedded
import NIOHPACK
import Testing

@testable import LatchProxy

/// ``HTTP2Connection`` alone on an `EmbeddedChannel`, the test in the client's place: it writes the
/// client's bytes (preface, SETTINGS, HEADERS, DATA, WINDOW_UPDATE) and reads the frames the
/// connection writes back. What the connection does beyond the state machine's rules — streams
/// handed to their proxies, WINDOW_UPDATEs as a stream's proxy takes its bytes, writability per
/// stream, one write per tick, the idle close, GOAWAY at shutdown, cutting off a client that keeps
/// sending malformed requests — is checked frame by frame, with time advanced instead of slept.
///
/// No node is ever reached. The streams' proxies answer by themselves: a cluster whose node is in
/// maintenance answers 503 at once (and a request with a body is then read and dropped, the stream
/// lingering); a node at `max_connections` whose only slot the test holds queues the request, so its
/// proxy holds the stream's reads until `queue_timeout` answers 503.
@Suite("HTTP2Connection on an EmbeddedChannel")
struct HTTP2ConnectionTests {
    /// The window both sides start with (RFC 9113 §6.9.2), which Latch keeps as its target.
    static let window = H2ConnectionStateMachine.defaultWindow

    final class Connection {
        enum Node {
            /// Every request is answered 503 by Latch at once.
            case inMaintenance
            /// Every request waits in the node's queue (the test holds its only slot) until `queueTimeout`.
            case busy
        }

        static let queueTimeout = Duration.seconds(5)

        let channel: EmbeddedChannel
        let holder: RuntimeHolder
        let handler: HTTP2Connection
        private var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
        private var replies = H2FrameReader(maxHeaderBlock: 1 << 20)
        private var decoder = HPACKDecoder(allocator: ByteBufferAllocator(), maxDynamicTableSize: 4096, maxHeaderListSize: 1 << 20)
        /// Buffers the connection wrote, counted since the last look.
        private(set) var writes = 0

        var loop: EmbeddedEventLoop { channel.embeddedEventLoop }
        var cluster: ClusterRuntime { holder.current.clusters[0] }
        var idle: TimeAmount { holder.current.timeouts.idle }

        /// Connected: the client's preface and SETTINGS sent, Latch's SETTINGS and ACK read.
        /// - Parameter quiescing: the connection is accepted after shutdown began.
        init(_ node: Node = .inMaintenance, quiescing: Bool = false, maxGlitches: Int = 200) throws {
            var cluster = ClusterConfig(
                name: "shop",
                nodes: [
                    NodeConfig(
                        name: "tomcat1", address: HostPort(host: "127.0.0.1", port: 1),
                        state: node == .busy ? .active : .maintenance, maxConnections: 1)
                ]
            )
            cluster.limits.queueTimeout = Self.queueTimeout
            let config = LatchConfig(
                listeners: [ListenerConfig(address: HostPort(host: "127.0.0.1", port: 0))],
                clusters: [cluster]
            )
            channel = EmbeddedChannel()
            holder = try .embedded(config, on: channel.embeddedEventLoop)
            let runtime = holder.current
            if node == .busy {
                // The node's only slot, held for the whole test: every stream's request queues behind it.
                guard case .admitted = runtime.clusters[0].place(.none, grant: { _, _ in }) else {
                    throw SetupFailed(reason: "the test's own request was not admitted to the idle node")
                }
            }
            if quiescing { holder.beginQuiescing() }
            try channel.connect(to: SocketAddress(ipAddress: "10.1.2.3", port: 40000)).wait()
            var limits = H2ConnectionStateMachine.Limits()
            limits.maxGlitches = maxGlitches
            // As `ClientPipeline.http2` adds it, right above TLS.
            handler = HTTP2Connection(holder: holder, client: nil, idle: runtime.timeouts.idle, limits: limits)
            try channel.pipeline.syncOperations.addHandler(handler)
            replies.append(ByteBuffer(bytes: H2FrameReader.preface))
            guard !quiescing else { return }
            var hello = ByteBuffer(bytes: H2FrameReader.preface)
            H2FrameWriter.settings([], into: &hello)
            try send(hello)
            let greeting = try written()
            guard greeting.first?.hasPrefix("SETTINGS") == true, greeting.last == "SETTINGS ACK" else {
                throw SetupFailed(reason: "Latch's greeting: \(greeting)")
            }
        }

        struct SetupFailed: Error {
            let reason: String
        }

        // MARK: The client's part

        /// Bytes from the client, in a read of their own.
        func send(_ bytes: ByteBuffer) throws {
            try channel.writeInbound(bytes)
        }

        func send(_ write: (inout ByteBuffer) throws -> Void) throws {
            var bytes = ByteBuffer()
            try write(&bytes)
            try send(bytes)
        }

        static func request(_ method: String = "GET", _ extra: [(String, String)] = []) -> HPACKHeaders {
            HPACKHeaders([(":method", method), (":scheme", "https"), (":authority", "shop"), (":path", "/cart")] + extra)
        }

        /// A HEADERS frame, in a read of its own.
        func headers(_ stream: UInt32, _ block: HPACKHeaders = request(), endStream: Bool = true) throws {
            var encoder = encoder
            defer { self.encoder = encoder }
            try send { try H2FrameWriter.headers(stream: stream, block, endStream: endStream, maxFrameSize: 16_384, encoder: &encoder, into: &$0) }
        }

        /// A POST announcing a body of `length` bytes, its DATA still to come.
        func upload(_ stream: UInt32, length: Int = 100_000) throws {
            try headers(stream, Self.request("POST", [("content-length", "\(length)")]), endStream: false)
        }

        /// DATA frames carrying `size` bytes (16 KiB each at most), in one read.
        func data(_ stream: UInt32, size: Int, endStream: Bool = false) throws {
            try send { bytes in
                var left = size
                repeat {
                    let n = min(left, 16_384)
                    left -= n
                    H2FrameWriter.data(stream: stream, ByteBuffer(repeating: UInt8(ascii: "x"), count: n), endStream: endStream && left == 0, into: &bytes)
                } while left > 0
            }
        }

        func settings(_ settings: [H2Setting]) throws {
            try send { H2FrameWriter.settings(settings, into: &$0) }
        }

        func windowUpdate(_ stream: UInt32, _ increment: Int) throws {
            try send { H2FrameWriter.windowUpdate(stream: stream, increment: increment, into: &$0) }
        }

        // MARK: What the connection did

        /// The frames written since the last call, each as one line, once the tick's work has run.
        func written() throws -> [String] {
            loop.run()
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
                writes += 1
                replies.append(buffer)
            }
            var frames: [String] = []
            while let frame = try replies.next() { frames.append(try describe(frame)) }
            return frames
        }

        /// The writes since the last look.
        func takeWrites() -> Int {
            defer { writes = 0 }
            return writes
        }

        /// One frame as a line: its type, stream, and what the test checks of it.
        func describe(_ frame: H2Frame) throws -> String {
            switch frame {
            case .headers(let id, var block, let endStream, _):
                let fields = try decoder.decodeHeaders(from: &block)
                lastFields = fields
                return "HEADERS \(id) :status \(fields.first(name: ":status") ?? "-")" + (endStream ? " END_STREAM" : "")
            case .data(let id, let data, let endStream, _):
                lastData = data
                return "DATA \(id)" + (endStream ? " END_STREAM" : "")
            case .windowUpdate(let id, let increment):
                return "WINDOW_UPDATE \(id) +\(increment)"
            case .rstStream(let id, let code):
                return "RST_STREAM \(id) \(code)"
            case .goAway(let last, let code):
                return "GOAWAY last \(last) \(code)"
            case .settings(let settings):
                return "SETTINGS \(settings.map { "\($0.parameter)=\($0.value)" }.joined(separator: " "))"
            case .settingsAck:
                return "SETTINGS ACK"
            default:
                return "\(frame)"
            }
        }

        /// The latest response head's fields and DATA payload read.
        private(set) var lastFields: HPACKHeaders = [:]
        private(set) var lastData: ByteBuffer?

        func stream(_ id: UInt32) throws -> HTTP2Stream {
            try #require(handler.streams[id], "stream \(id) is open")
        }

        /// What Latch may send on the stream now.
        func window(_ id: UInt32) -> Int { handler.machine.sendable(id) }
    }

    /// Latch's own 503 on a stream: its head, and its body ending the stream.
    static func answered503(_ stream: UInt32) -> [String] {
        ["HEADERS \(stream) :status 503", "DATA \(stream) END_STREAM"]
    }

    // MARK: - Flow control, receiving side

    /// A window is given back only once half of it or more is spent (one WINDOW_UPDATE per half window),
    /// by exactly what is missing from the full window; the stream's and the connection's are counted
    /// apart. The stream's proxy takes the DATA as it comes: its request was answered 503 before the
    /// body, which is read and dropped (a lingering close).
    @Test("DATA taken by the stream's proxy: WINDOW_UPDATEs for the stream and the connection once their windows are half spent, not before")
    func windowUpdatesOnceHalfSpent() throws {
        let client = try Connection()
        try client.upload(1, length: 10_000 + 26_384 + 32_768)
        #expect(try client.written() == Self.answered503(1))

        // 10 000 bytes in: both windows are still over half open.
        try client.data(1, size: 10_000)
        #expect(try client.written() == [], "no WINDOW_UPDATE while the windows are over half open")

        // 36 384 in all, the second frame of this read crossing half: each is given back what it misses.
        try client.data(1, size: 26_384)
        #expect(try client.written() == ["WINDOW_UPDATE 0 +36384", "WINDOW_UPDATE 1 +36384"])

        // The client ends its side: the stream's window is not reopened any more (RFC 9113 §6.9: a
        // WINDOW_UPDATE on a half-closed (remote) stream is pointless), the connection's still is.
        try client.data(1, size: 32_768, endStream: true)
        #expect(try client.written() == ["WINDOW_UPDATE 0 +32768"])
        #expect(client.channel.isActive)
    }

    /// Frames a proxy is not reading wait in the stream, and keep their share of the stream's window
    /// shut: a client can have at most one window of a stream waiting in Latch. The connection's window
    /// is given back as bytes arrive (other streams must not starve). Here the proxy holds its reads
    /// because its request waits in the node's queue; when `queue_timeout` answers it, the proxy
    /// lingers, takes the held DATA, and only then is the stream's window reopened.
    @Test("DATA held while the proxy is not reading: no stream WINDOW_UPDATE until the proxy takes it")
    func heldDataKeepsTheWindowShut() throws {
        let client = try Connection(.busy)
        try client.upload(1)
        #expect(try client.written() == [], "queued: nothing to say yet")

        try client.data(1, size: 20_000)
        try client.data(1, size: 20_000)
        #expect(
            try client.written() == ["WINDOW_UPDATE 0 +36384"],
            "the connection's window reopens as bytes arrive; the stream's stays shut over its 40 000 held bytes")

        // Held however long it takes, as long as the proxy is not reading.
        client.loop.advanceTime(by: .seconds(Connection.queueTimeout.components.seconds) - .milliseconds(1))
        #expect(try client.written() == [])

        // The queue gives up: 503, the proxy lingers and takes the held bytes, and the window reopens.
        client.loop.advanceTime(by: .milliseconds(1))
        #expect(try client.written() == Self.answered503(1) + ["WINDOW_UPDATE 1 +36384"])
        #expect(client.cluster.stats().nodes[0].queueTimeouts == 1)
    }

    // MARK: - Sending side: SETTINGS and writability

    /// RFC 9113 §6.9.2: a change of SETTINGS_INITIAL_WINDOW_SIZE changes every open stream's window by
    /// the difference, down to zero or below (then nothing may be sent), and new streams start from the
    /// new value.
    @Test("a client SETTINGS_INITIAL_WINDOW_SIZE applies by its difference to open streams' windows and writability, and to new streams")
    func initialWindowSizeSetting() throws {
        let client = try Connection(.busy)
        try client.upload(1)
        let first = try client.stream(1)
        #expect(client.window(1) == Self.window)
        #expect(first.writable)

        try client.settings([H2Setting(parameter: H2Setting.initialWindowSize, value: 0)])
        #expect(client.window(1) == 0)
        #expect(!first.writable, "a window at zero: the response waits")

        try client.settings([H2Setting(parameter: H2Setting.initialWindowSize, value: 20_000)])
        #expect(client.window(1) == 20_000)
        #expect(first.writable, "open again: the response goes on")

        // A stream opened now starts with the client's current initial window.
        try client.upload(3)
        #expect(client.window(3) == 20_000)

        // A SETTINGS frame without the setting, or its ACK, changes nothing but is acknowledged.
        try client.settings([H2Setting(parameter: H2Setting.maxFrameSize, value: 32_768)])
        try client.send { H2FrameWriter.settingsAck(into: &$0) }
        #expect(client.window(1) == 20_000)
        #expect(client.window(3) == 20_000)
        #expect(try client.written() == ["SETTINGS ACK", "SETTINGS ACK", "SETTINGS ACK"])
    }

    /// A stream's response may go on only while the client's window for it, the connection's window,
    /// and the socket all take more; each stops it alone, and it goes on once all are open again, so a
    /// node is read no faster than its client reads.
    @Test("a stream is not writable while its window or the socket is shut, and writable again once it opens")
    func writabilityFollowsWindowsAndSocket() throws {
        let client = try Connection(.busy)
        try client.upload(1)
        try client.upload(3)
        let (one, three) = (try client.stream(1), try client.stream(3))
        #expect(one.writable && three.writable)

        // The streams' own windows.
        try client.settings([H2Setting(parameter: H2Setting.initialWindowSize, value: 0)])
        #expect(!one.writable && !three.writable)
        try client.windowUpdate(1, 1_000)
        #expect(one.writable)
        #expect(!three.writable, "another stream's window is its own")
        try client.windowUpdate(3, 1_000)
        #expect(three.writable)

        // The socket.
        client.channel.isWritable = false
        client.channel.pipeline.fireChannelWritabilityChanged()
        #expect(!one.writable && !three.writable)
        client.channel.isWritable = true
        client.channel.pipeline.fireChannelWritabilityChanged()
        #expect(one.writable && three.writable)

        // Shut two ways at once, it takes both reopening.
        client.channel.isWritable = false
        client.channel.pipeline.fireChannelWritabilityChanged()
        try client.settings([H2Setting(parameter: H2Setting.initialWindowSize, value: 5_000)])
        #expect(!one.writable, "its window is open wider, the socket is still shut")
        client.channel.isWritable = true
        client.channel.pipeline.fireChannelWritabilityChanged()
        #expect(one.writable)
    }

    /// A response larger than the client's window: what fits goes at once, the rest waits in the
    /// stream, the stream is not writable meanwhile, and all of it goes once the client opens the
    /// window, in frames as large as the window allows.
    @Test("an answer beyond the client's window waits in the stream and goes on as the window opens")
    func answerWaitsForTheWindow() throws {
        let client = try Connection(.busy)
        try client.settings([H2Setting(parameter: H2Setting.initialWindowSize, value: 10)])
        try client.headers(1)
        _ = try client.written()
        let stream = try client.stream(1)
        stream.write(.headers(.fields([":status": "200"]), endStream: false))
        stream.write(.data(ByteBuffer(repeating: 1, count: 30), endStream: false))
        stream.write(.data(ByteBuffer(repeating: 2, count: 30), endStream: true))
        #expect(!stream.writable)
        #expect(stream.unsent == 50)
        client.handler.flush()
        #expect(try client.written() == ["HEADERS 1 :status 200", "DATA 1"])
        #expect(client.lastData?.readableBytes == 10)

        try client.windowUpdate(1, 100)
        #expect(try client.written() == ["DATA 1 END_STREAM"])
        #expect(client.lastData?.readableBytes == 50, "the waiting DATA joined into one frame")
        #expect(client.handler.streams[1] == nil, "both sides ended: the stream is over")
    }

    /// Everything written in one tick — here three streams' answers — leaves in one write.
    @Test("the answers of a tick leave in one write")
    func oneWritePerTick() throws {
        let client = try Connection()
        _ = client.takeWrites()
        // Three reads in one tick, each answered at once.
        for id: UInt32 in [1, 3, 5] { try client.headers(id) }
        #expect(try client.written() == Self.answered503(1) + Self.answered503(3) + Self.answered503(5))
        #expect(client.takeWrites() == 1)
    }

    // MARK: - Streams' ends, idle, shutdown

    /// A stream is over once both sides ended; an open stream keeps the connection from idling out;
    /// the `idle` deadline runs from the last stream's close, and ends with GOAWAY naming the last
    /// stream served, then the close.
    @Test("a stream ended both ways leaves; with none open, after timeouts.idle, GOAWAY with the last stream id, then close")
    func streamCloseThenIdle() throws {
        let client = try Connection(.busy)
        try client.headers(1)
        #expect(try client.written() == [])
        #expect(client.handler.streams.all.map(\.id) == [1])

        client.loop.advanceTime(by: .seconds(Connection.queueTimeout.components.seconds) - .milliseconds(1))
        #expect(client.channel.isActive, "an open stream keeps the connection")

        client.loop.advanceTime(by: .milliseconds(1))
        #expect(try client.written() == Self.answered503(1))
        #expect(client.handler.streams.isEmpty)
        client.loop.advanceTime(by: client.idle - .milliseconds(1))
        #expect(client.channel.isActive, "idle counts from the last stream's close")
        #expect(try client.written() == [])

        client.loop.advanceTime(by: .milliseconds(1))
        #expect(try client.written() == ["GOAWAY last 1 NO_ERROR"])
        #expect(!client.channel.isActive)
    }

    /// A connection that never opens a stream idles out too, its GOAWAY naming stream 0 (none served).
    @Test("a connection with no stream ever: GOAWAY last 0 after timeouts.idle, then close")
    func idleWithoutStreams() throws {
        let client = try Connection()
        client.loop.advanceTime(by: client.idle - .milliseconds(1))
        #expect(client.channel.isActive)
        client.loop.advanceTime(by: .milliseconds(1))
        #expect(try client.written() == ["GOAWAY last 0 NO_ERROR"])
        #expect(!client.channel.isActive)
    }

    /// A proxy that gives up on its stream (here: the lingering close's time runs out while the client
    /// still owes its body) resets it with RST_STREAM; the stream is gone at once, and the
    /// connection's idle deadline starts then. DATA the client still had in flight spends the
    /// connection's window, which is given back though no stream takes the bytes.
    @Test("a stream its proxy gives up on: RST_STREAM CANCEL, forgotten at once, and the idle deadline starts")
    func proxyResetRemovesTheStream() throws {
        let client = try Connection()
        try client.upload(1)
        #expect(try client.written() == Self.answered503(1))
        client.loop.advanceTime(by: .seconds(ClientConnectionStateMachine.lingerLimit.seconds))
        #expect(try client.written() == ["RST_STREAM 1 CANCEL"])
        #expect(client.handler.streams.isEmpty)

        try client.data(1, size: 40_000)
        #expect(try client.written() == ["WINDOW_UPDATE 0 +32768"], "dropped quietly, the connection's window given back")
        client.loop.advanceTime(by: client.idle)
        #expect(try client.written() == ["GOAWAY last 1 NO_ERROR"])
        #expect(!client.channel.isActive)
    }

    /// Shutdown (RFC 9113 §6.8): GOAWAY names the last stream Latch will serve, and the connection
    /// stays until that stream is done — then closes at once, without waiting for `idle`.
    @Test("ChannelShouldQuiesceEvent with a stream open: GOAWAY naming it, the close only once it is done")
    func quiesceWaitsForTheOpenStream() throws {
        let client = try Connection(.busy)
        try client.headers(1)
        client.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(try client.written() == ["GOAWAY last 1 NO_ERROR"])
        #expect(client.channel.isActive, "stream 1 is still open")

        // A stream opened after the GOAWAY is refused: the client may retry it elsewhere.
        try client.headers(3)
        #expect(try client.written() == ["RST_STREAM 3 REFUSED_STREAM"])
        client.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(try client.written() == [], "one GOAWAY")

        client.loop.advanceTime(by: .seconds(Connection.queueTimeout.components.seconds))
        #expect(try client.written() == Self.answered503(1))
        #expect(!client.channel.isActive)
    }

    /// With nothing in flight, shutdown closes at once after its GOAWAY; a connection accepted as
    /// shutdown began does the same the moment it is set up.
    @Test("quiesce with no stream open, or a connection accepted while quiescing: GOAWAY last 0 and the close at once")
    func quiesceWithoutStreams() throws {
        let client = try Connection()
        client.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(try client.written() == ["GOAWAY last 0 NO_ERROR"])
        #expect(!client.channel.isActive)

        let late = try Connection(quiescing: true)
        #expect(try late.written().suffix(1) == ["GOAWAY last 0 NO_ERROR"])
        #expect(!late.channel.isActive)
    }

    // MARK: - What the client sends wrongly

    /// A client that breaks the protocol gets GOAWAY with the fault's code, and the connection
    /// closes; its open streams end with it.
    @Test("a protocol violation: GOAWAY with its code, the streams closed, the connection closed")
    func protocolViolation() throws {
        let client = try Connection(.busy)
        try client.headers(1)
        let stream = try client.stream(1)
        try client.headers(2)
        #expect(try client.written() == ["GOAWAY last 1 PROTOCOL_ERROR"])
        #expect(stream.isClosed)
        #expect(!client.channel.isActive)
    }

    /// RFC 9113 §8.2.1: upper-case field names make a request malformed. Latch checks the block itself
    /// and answers the stream 400, leaving the rest of the connection alone; a client that keeps doing
    /// it is cut off: GOAWAY (ENHANCE_YOUR_CALM) naming the last stream, then the close.
    @Test("an upper-case field name gets 400 on its stream; at the glitch limit, GOAWAY ENHANCE_YOUR_CALM and close")
    func malformedRequests() throws {
        let limit = 5
        let client = try Connection(maxGlitches: limit)
        let malformed = Connection.request("GET", [("X-Cart", "1")])
        try client.headers(1, malformed)
        #expect(try client.written() == ["HEADERS 1 :status 400", "DATA 1 END_STREAM"])
        #expect(String(buffer: try #require(client.lastData)).contains("X-Cart"), "the answer names the field")
        #expect(client.cluster.stats().unserved[.noNode] == nil, "a malformed request reaches no balancer")
        #expect(client.channel.isActive)

        // Up to one short of the limit: each answered, the connection kept.
        for n in 2..<limit {
            let id = UInt32(2 * n - 1)
            try client.headers(id, malformed)
            #expect(try client.written() == ["HEADERS \(id) :status 400", "DATA \(id) END_STREAM"])
        }
        #expect(client.channel.isActive)

        // The limit: GOAWAY, then the close; the last request's 400 is not sent.
        let last = UInt32(2 * limit - 1)
        try client.headers(last, malformed)
        #expect(try client.written() == ["GOAWAY last \(last) ENHANCE_YOUR_CALM"])
        #expect(!client.channel.isActive)
    }
}
