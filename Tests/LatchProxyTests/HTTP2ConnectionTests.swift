import LatchCore
import Logging
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import LatchProxy

/// ``HTTP2Connection`` alone on an `EmbeddedChannel`, with the test in swift-nio-http2's place: it
/// writes the frames `NIOHTTP2Handler` would pass up (HEADERS, DATA, SETTINGS), fires the events it
/// would fire after them (window sizes, stream closes, quiesce), and reads the frames the connection
/// writes back. What the multiplexer used to do — WINDOW_UPDATEs as a stream's proxy takes its bytes,
/// writability per stream, the connection's idle close, GOAWAY at shutdown, cutting off a client that
/// keeps sending malformed requests — is checked frame by frame, with time advanced instead of slept.
///
/// No node is ever reached. The streams' proxies answer by themselves: a cluster whose node is in
/// maintenance answers 503 at once (and a request with a body is then read and dropped, the stream
/// lingering); a node at `max_connections` whose only slot the test holds queues the request, so its
/// proxy holds the stream's reads until `queue_timeout` answers 503.
@Suite("HTTP2Connection on an EmbeddedChannel")
struct HTTP2ConnectionTests {
    /// The window both sides start with (RFC 9113 §6.9.2), which Latch keeps as its target.
    static let window = HTTP2Connection.defaultWindow

    struct Connection {
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

        var loop: EmbeddedEventLoop { channel.embeddedEventLoop }
        var cluster: ClusterRuntime { holder.current.clusters[0] }
        var idle: TimeAmount { holder.current.timeouts.idle }

        /// - Parameter quiescing: the connection is accepted after shutdown began.
        init(_ node: Node = .inMaintenance, quiescing: Bool = false) throws {
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
            // As `ClientPipeline.http2` adds it, above where `NIOHTTP2Handler` would be.
            handler = HTTP2Connection(holder: holder, client: nil, idle: runtime.timeouts.idle)
            try channel.pipeline.syncOperations.addHandler(handler)
        }

        struct SetupFailed: Error {
            let reason: String
        }

        // MARK: The library's part

        static func request(_ method: String = "GET", _ extra: [(String, String)] = []) -> HPACKHeaders {
            HPACKHeaders([(":method", method), (":scheme", "https"), (":authority", "shop"), (":path", "/cart")] + extra)
        }

        /// A HEADERS frame as swift-nio-http2 passes it up, in a read of its own.
        func headers(_ stream: Int, _ block: HPACKHeaders = request(), endStream: Bool = true) throws {
            try channel.writeInbound(HTTP2Frame(streamID: HTTP2StreamID(stream), payload: .headers(.init(headers: block, endStream: endStream))))
        }

        /// A POST announcing a body of `length` bytes, its DATA still to come.
        func upload(_ stream: Int, length: Int = 100_000) throws {
            try headers(stream, Self.request("POST", [("content-length", "\(length)")]), endStream: false)
        }

        /// A DATA frame of `size` bytes, in a read of its own.
        func data(_ stream: Int, size: Int, endStream: Bool = false) throws {
            let bytes = ByteBuffer(repeating: UInt8(ascii: "x"), count: size)
            try channel.writeInbound(HTTP2Frame(streamID: HTTP2StreamID(stream), payload: .data(.init(data: .byteBuffer(bytes), endStream: endStream))))
        }

        /// The client's SETTINGS frame, as the library passes it up after applying it.
        func settings(_ settings: [HTTP2Setting]) throws {
            try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .settings(.settings(settings))))
        }

        /// Events the library fires within a read (after the frame that caused them), then the read's end.
        func fire(_ events: Any...) {
            for event in events { channel.pipeline.fireUserInboundEventTriggered(event) }
            channel.pipeline.fireChannelReadComplete()
        }

        /// What the library reports after a DATA frame: the connection's window, then the stream's.
        func windowsAfterData(_ stream: Int, connection: Int, stream streamWindow: Int, outbound: Int? = nil) {
            fire(
                NIOHTTP2WindowUpdatedEvent(streamID: .rootStream, inboundWindowSize: connection, outboundWindowSize: HTTP2ConnectionTests.window),
                NIOHTTP2WindowUpdatedEvent(streamID: HTTP2StreamID(stream), inboundWindowSize: streamWindow, outboundWindowSize: outbound)
            )
        }

        /// The library's report that a stream closed (both sides ended, or a reset).
        func closed(_ stream: Int) {
            fire(StreamClosedEvent(streamID: HTTP2StreamID(stream), reason: nil))
        }

        // MARK: What the connection did

        /// The frames written and flushed since the last call, each as one line.
        func written() throws -> [String] {
            var frames: [String] = []
            while let frame = try channel.readOutbound(as: HTTP2Frame.self) { frames.append(HTTP2ConnectionTests.describe(frame)) }
            return frames
        }

        /// The connection's open streams.
        func streams() throws -> HTTP2StreamTable<HTTP2Stream> {
            handler.streams
        }

        func stream(_ id: Int) throws -> HTTP2Stream {
            try #require(try streams()[HTTP2StreamID(id)], "stream \(id) is open")
        }
    }

    /// One frame as a line: its type, stream, and what the test checks of it.
    static func describe(_ frame: HTTP2Frame) -> String {
        let id = Int(frame.streamID)
        switch frame.payload {
        case .headers(let block):
            let status = block.headers.first(name: ":status") ?? "-"
            return "HEADERS \(id) :status \(status)" + (block.endStream ? " END_STREAM" : "")
        case .data(let data):
            return "DATA \(id)" + (data.endStream ? " END_STREAM" : "")
        case .windowUpdate(let increment):
            return "WINDOW_UPDATE \(id) +\(increment)"
        case .rstStream(let code):
            return "RST_STREAM \(id) \(name(code))"
        case .goAway(let last, let code, _):
            return "GOAWAY \(id) last \(Int(last)) \(name(code))"
        default:
            return "\(frame.payload) \(id)"
        }
    }

    static func name(_ code: HTTP2ErrorCode) -> String {
        switch code {
        case .noError: "NO_ERROR"
        case .protocolError: "PROTOCOL_ERROR"
        case .cancel: "CANCEL"
        case .refusedStream: "REFUSED_STREAM"
        case .enhanceYourCalm: "ENHANCE_YOUR_CALM"
        default: "error \(code.networkCode)"
        }
    }

    /// Latch's own 503 on a stream: its head, and its body ending the stream.
    static func answered503(_ stream: Int) -> [String] {
        ["HEADERS \(stream) :status 503", "DATA \(stream) END_STREAM"]
    }

    // MARK: - Flow control, receiving side

    /// A window is given back only once half of it or more is spent (one WINDOW_UPDATE per half window,
    /// as swift-nio-http2's stream channels did), by exactly what is missing from the full window; the
    /// stream's and the connection's are counted apart. The stream's proxy takes the DATA as it comes:
    /// its request was answered 503 before the body, which is read and dropped (a lingering close).
    @Test("DATA taken by the stream's proxy: WINDOW_UPDATEs for the stream and the connection once their windows are half spent, not before")
    func windowUpdatesOnceHalfSpent() throws {
        let client = try Connection()
        try client.upload(1)
        #expect(try client.written() == Self.answered503(1))

        // 10 000 bytes in: both windows are still over half open.
        try client.data(1, size: 10_000)
        client.windowsAfterData(1, connection: Self.window - 10_000, stream: Self.window - 10_000)
        #expect(try client.written() == [], "no WINDOW_UPDATE while the windows are over half open")

        // 40 000 in all: both at 25 535, under half; each is given back the 40 000 it is missing.
        try client.data(1, size: 30_000)
        client.windowsAfterData(1, connection: Self.window - 40_000, stream: Self.window - 40_000)
        #expect(try client.written() == ["WINDOW_UPDATE 0 +40000", "WINDOW_UPDATE 1 +40000"])

        // The library reports the reopened windows: nothing more is due.
        client.fire(
            NIOHTTP2WindowUpdatedEvent(streamID: .rootStream, inboundWindowSize: Self.window, outboundWindowSize: Self.window),
            NIOHTTP2WindowUpdatedEvent(streamID: 1, inboundWindowSize: Self.window, outboundWindowSize: nil)
        )
        #expect(try client.written() == [])

        // The client ends its side: the stream's window is not reopened any more (RFC 9113 §6.9: a
        // WINDOW_UPDATE on a half-closed (remote) stream is pointless, and the library would refuse
        // to send it), the connection's still is.
        try client.data(1, size: 40_000, endStream: true)
        client.windowsAfterData(1, connection: Self.window - 40_000, stream: Self.window - 40_000)
        #expect(try client.written() == ["WINDOW_UPDATE 0 +40000"])
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
        client.windowsAfterData(1, connection: Self.window - 20_000, stream: Self.window - 20_000, outbound: Self.window)
        try client.data(1, size: 20_000)
        client.windowsAfterData(1, connection: Self.window - 40_000, stream: Self.window - 40_000, outbound: Self.window)
        #expect(
            try client.written() == ["WINDOW_UPDATE 0 +40000"],
            "the connection's window reopens as bytes arrive; the stream's stays shut over its 40 000 held bytes")

        // Held however long it takes, as long as the proxy is not reading.
        client.loop.advanceTime(by: .seconds(Connection.queueTimeout.components.seconds) - .milliseconds(1))
        #expect(try client.written() == [])

        // The queue gives up: 503, the proxy lingers and takes the held bytes, and the window reopens.
        client.loop.advanceTime(by: .milliseconds(1))
        #expect(try client.written() == Self.answered503(1) + ["WINDOW_UPDATE 1 +40000"])
        #expect(client.cluster.stats().nodes[0].queueTimeouts == 1)
    }

    // MARK: - Sending side: SETTINGS and writability

    /// RFC 9113 §6.9.2: a change of SETTINGS_INITIAL_WINDOW_SIZE changes every open stream's window by
    /// the difference, down to zero or below (then nothing may be sent), and new streams start from the
    /// new value. swift-nio-http2 sends no per-stream window event for it: only the SETTINGS frame says so.
    @Test("a client SETTINGS_INITIAL_WINDOW_SIZE applies by its difference to open streams' windows and writability, and to new streams")
    func initialWindowSizeSetting() throws {
        let client = try Connection(.busy)
        try client.upload(1)
        let first = try client.stream(1)
        #expect(first.outboundWindow == Self.window)
        #expect(first.writable)

        // The window reported after some of the response went out, then the client shrinks the initial window.
        client.fire(NIOHTTP2WindowUpdatedEvent(streamID: 1, inboundWindowSize: Self.window, outboundWindowSize: 60_535))
        try client.settings([HTTP2Setting(parameter: .initialWindowSize, value: 1_000)])
        #expect(first.outboundWindow == 60_535 - (Self.window - 1_000), "shrunk by the difference: 1 000 − 5 000 sent = −4 000")
        #expect(!first.writable, "a window at or below zero: the response waits")

        try client.settings([HTTP2Setting(parameter: .initialWindowSize, value: 20_000)])
        #expect(first.outboundWindow == 15_000)
        #expect(first.writable, "open again: the response goes on")

        // A stream opened now starts with the client's current initial window.
        try client.upload(3)
        #expect(try client.stream(3).outboundWindow == 20_000)

        // A SETTINGS frame without the setting, or its ACK, changes nothing.
        try client.settings([HTTP2Setting(parameter: .maxFrameSize, value: 32_768)])
        try client.channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .settings(.ack)))
        #expect(first.outboundWindow == 15_000)
        #expect(try client.stream(3).outboundWindow == 20_000)
        #expect(try client.written() == [])
    }

    /// A stream's response may go on only while the client's window for it, the connection's window,
    /// and the socket all take more; each of the three stops it alone, and it goes on once all are open
    /// again, so a node is read no faster than its client reads.
    @Test("a stream is not writable while its window, the connection's window or the socket is shut, and writable again once it opens")
    func writabilityFollowsWindowsAndSocket() throws {
        let client = try Connection(.busy)
        try client.upload(1)
        try client.upload(3)
        let (one, three) = (try client.stream(1), try client.stream(3))
        #expect(one.writable && three.writable)

        // The stream's own window.
        client.fire(NIOHTTP2WindowUpdatedEvent(streamID: 1, inboundWindowSize: Self.window, outboundWindowSize: 0))
        #expect(!one.writable)
        #expect(three.writable, "another stream's window is its own")
        client.fire(NIOHTTP2WindowUpdatedEvent(streamID: 1, inboundWindowSize: Self.window, outboundWindowSize: 1_000))
        #expect(one.writable)

        // The connection's window holds back every stream.
        client.fire(NIOHTTP2WindowUpdatedEvent(streamID: .rootStream, inboundWindowSize: Self.window, outboundWindowSize: 0))
        #expect(!one.writable && !three.writable)
        client.fire(NIOHTTP2WindowUpdatedEvent(streamID: .rootStream, inboundWindowSize: Self.window, outboundWindowSize: 100))
        #expect(one.writable && three.writable)

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
        client.fire(NIOHTTP2WindowUpdatedEvent(streamID: 1, inboundWindowSize: Self.window, outboundWindowSize: 0))
        client.fire(NIOHTTP2WindowUpdatedEvent(streamID: 1, inboundWindowSize: Self.window, outboundWindowSize: 5_000))
        #expect(!one.writable, "its window is open again, the socket is not")
        client.channel.isWritable = true
        client.channel.pipeline.fireChannelWritabilityChanged()
        #expect(one.writable)
        #expect(try client.written() == [])
    }

    // MARK: - Streams' ends, idle, shutdown

    /// A stream answered in full stays until swift-nio-http2 says it closed (its END_STREAM may still
    /// wait for the client's window), and an open stream keeps the connection from idling out; the
    /// `idle` deadline runs from the last stream's close, and ends with GOAWAY naming the last stream
    /// served, then the close.
    @Test("StreamClosedEvent removes the stream; with none open, after timeouts.idle, GOAWAY with the last stream id, then close")
    func streamCloseThenIdle() throws {
        let client = try Connection()
        try client.headers(1)
        #expect(try client.written() == Self.answered503(1))
        #expect(try client.streams().all.map(\.id) == [1])

        client.loop.advanceTime(by: client.idle * 2)
        #expect(client.channel.isActive, "an open stream keeps the connection")
        #expect(try client.written() == [])

        client.closed(1)
        #expect(try client.streams().isEmpty)
        client.loop.advanceTime(by: client.idle - .milliseconds(1))
        #expect(client.channel.isActive, "idle counts from the last stream's close")
        #expect(try client.written() == [])

        client.loop.advanceTime(by: .milliseconds(1))
        #expect(try client.written() == ["GOAWAY 0 last 1 NO_ERROR"])
        #expect(!client.channel.isActive)
    }

    /// A connection that never opens a stream idles out too, its GOAWAY naming stream 0 (none served).
    @Test("a connection with no stream ever: GOAWAY last 0 after timeouts.idle, then close")
    func idleWithoutStreams() throws {
        let client = try Connection()
        client.loop.advanceTime(by: client.idle - .milliseconds(1))
        #expect(client.channel.isActive)
        client.loop.advanceTime(by: .milliseconds(1))
        #expect(try client.written() == ["GOAWAY 0 last 0 NO_ERROR"])
        #expect(!client.channel.isActive)
    }

    /// A proxy that gives up on its stream (here: the lingering close's time runs out while the client
    /// still owes its body) resets it with RST_STREAM; the stream is gone at once, not when the
    /// library's close event comes, and the connection's idle deadline starts then.
    @Test("a stream its proxy gives up on: RST_STREAM CANCEL, forgotten at once, and the idle deadline starts")
    func proxyResetRemovesTheStream() throws {
        let client = try Connection()
        try client.upload(1)
        #expect(try client.written() == Self.answered503(1))
        client.loop.advanceTime(by: .seconds(ClientConnectionStateMachine.lingerLimit.seconds))
        #expect(try client.written() == ["RST_STREAM 1 CANCEL"])
        #expect(try client.streams().isEmpty)

        // The library's own close event for the reset stream changes nothing more.
        client.fire(StreamClosedEvent(streamID: 1, reason: .cancel))
        #expect(try client.written() == [])
        // DATA the client had in flight for it still spent the connection's window: once the library
        // reports that, the connection's window is given back though no stream takes the bytes.
        client.fire(NIOHTTP2WindowUpdatedEvent(streamID: .rootStream, inboundWindowSize: Self.window - 40_000, outboundWindowSize: Self.window))
        #expect(try client.written() == ["WINDOW_UPDATE 0 +40000"])
        client.loop.advanceTime(by: client.idle)
        #expect(try client.written() == ["GOAWAY 0 last 1 NO_ERROR"])
        #expect(!client.channel.isActive)
    }

    /// Shutdown (RFC 9113 §6.8): GOAWAY names the last stream Latch will serve, and the connection
    /// stays until that stream is done — then closes at once, without waiting for `idle`.
    @Test("ChannelShouldQuiesceEvent with a stream open: GOAWAY naming it, the close only once its StreamClosedEvent arrives")
    func quiesceWaitsForTheOpenStream() throws {
        let client = try Connection()
        try client.headers(1)
        try client.headers(3)
        #expect(try client.written() == Self.answered503(1) + Self.answered503(3))
        client.closed(1)

        client.fire(ChannelShouldQuiesceEvent())
        #expect(try client.written() == ["GOAWAY 0 last 3 NO_ERROR"])
        #expect(client.channel.isActive, "stream 3 is still open")

        client.loop.advanceTime(by: client.idle * 2)
        #expect(client.channel.isActive, "no idle close while quiescing: the open stream decides")
        client.fire(ChannelShouldQuiesceEvent())
        #expect(try client.written() == [], "one GOAWAY")

        client.closed(3)
        #expect(!client.channel.isActive)
        #expect(try client.written() == [])
    }

    /// With nothing in flight, shutdown closes at once after its GOAWAY; a connection accepted as
    /// shutdown began does the same the moment it is set up.
    @Test("quiesce with no stream open, or a connection accepted while quiescing: GOAWAY last 0 and the close at once")
    func quiesceWithoutStreams() throws {
        let client = try Connection()
        client.fire(ChannelShouldQuiesceEvent())
        #expect(try client.written() == ["GOAWAY 0 last 0 NO_ERROR"])
        #expect(!client.channel.isActive)

        let late = try Connection(quiescing: true)
        #expect(try late.written() == ["GOAWAY 0 last 0 NO_ERROR"])
        #expect(!late.channel.isActive)
    }

    // MARK: - What the client sends wrongly

    /// Stream ids only grow (RFC 9113 §5.1.1); a HEADERS frame for an id at or below the last one seen
    /// belongs to a stream that is over (one Latch reset, say, whose RST had not yet reached the
    /// client): it must not open a second request under the old id.
    @Test("HEADERS for a stream id not above the last one seen opens no stream and starts no request")
    func oldStreamIDOpensNothing() throws {
        let client = try Connection()
        try client.headers(3)
        #expect(try client.written() == Self.answered503(3))
        client.closed(3)

        try client.headers(1)
        try client.headers(3)
        #expect(try client.written() == [], "nothing answered")
        #expect(try client.streams().isEmpty)
        #expect(client.cluster.stats().unserved[.noNode] == 1, "one request only reached the balancer")

        // A new id is served as usual.
        try client.headers(5)
        #expect(try client.written() == Self.answered503(5))
        #expect(client.cluster.stats().unserved[.noNode] == 2)
    }

    /// RFC 9113 §8.2.1: upper-case field names make a request malformed. Latch checks the block itself
    /// (the library's validation is off) and answers the stream 400, leaving the rest of the connection
    /// alone; a client that keeps doing it is cut off as swift-nio-http2 would cut it for that many
    /// stream errors: GOAWAY (ENHANCE_YOUR_CALM) naming the last stream, then the close.
    @Test("an upper-case field name gets 400 on its stream; at HTTP2Connection.malformedLimit, GOAWAY ENHANCE_YOUR_CALM and close")
    func malformedRequests() throws {
        let client = try Connection()
        let malformed = Connection.request("GET", [("X-Cart", "1")])
        try client.headers(1, malformed)
        let answer = try #require(try client.channel.readOutbound(as: HTTP2Frame.self))
        let body = try #require(try client.channel.readOutbound(as: HTTP2Frame.self))
        #expect(Self.describe(answer) == "HEADERS 1 :status 400")
        #expect(Self.describe(body) == "DATA 1 END_STREAM")
        guard case .data(let data) = body.payload, case .byteBuffer(let text) = data.data else {
            Issue.record("the 400's body: \(body)")
            return
        }
        #expect(String(buffer: text).contains("X-Cart"), "the answer names the field: \(String(buffer: text))")
        #expect(client.cluster.stats().unserved[.noNode] == nil, "a malformed request reaches no balancer")
        client.closed(1)
        #expect(client.channel.isActive)

        // Up to one short of the limit: each answered, the connection kept.
        let limit = HTTP2Connection.malformedLimit
        for n in 2..<limit {
            let id = 2 * n - 1
            try client.headers(id, malformed)
            #expect(try client.written() == ["HEADERS \(id) :status 400", "DATA \(id) END_STREAM"])
            client.closed(id)
        }
        #expect(client.channel.isActive)

        // The limit: GOAWAY before anything else, then the close. The last request's own 400 is
        // written by its proxy after the close: `EmbeddedChannel` still takes writes until it tears
        // its pipeline down on the next tick, where a socket channel (and swift-nio-http2 above it)
        // fails them, so on the wire the GOAWAY is the last frame.
        let last = 2 * limit - 1
        try client.headers(last, malformed)
        #expect(try client.written() == ["GOAWAY 0 last \(last) ENHANCE_YOUR_CALM", "HEADERS \(last) :status 400", "DATA \(last) END_STREAM"])
        #expect(!client.channel.isActive)
    }
}
