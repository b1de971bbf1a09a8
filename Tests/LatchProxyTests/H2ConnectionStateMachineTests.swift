import NIOCore
import NIOHPACK
import Testing

@testable import LatchProxy

/// The server's side of an HTTP/2 connection with no I/O: a client's frames in, events and Latch's
/// frames out. Streams' lives (RFC 9113 §5.1), ids (§5.1.1), the stream limit (§5.1.2), flow control
/// both ways (§6.9), settings (§6.5), HPACK kept in step (§4.3), body lengths (§8.1.1), and the
/// limits on frames that cost work for nothing.
@Suite("HTTP/2 connection state machine")
struct H2ConnectionStateMachineTests {
    /// A client speaking to the state machine, and reading what it writes back.
    struct Client {
        var machine: H2ConnectionStateMachine
        var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
        var replies = H2FrameReader(maxHeaderBlock: 1 << 20)
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator(), maxDynamicTableSize: 4096, maxHeaderListSize: 1 << 20)
        var now: UInt64 = 1_000_000_000

        /// Connected: the preface and an empty SETTINGS sent, Latch's SETTINGS and its ACK read.
        init(_ limits: H2ConnectionStateMachine.Limits = .init(), settings: [H2Setting] = []) throws {
            machine = H2ConnectionStateMachine(limits: limits)
            replies.append(ByteBuffer(bytes: H2FrameReader.preface))
            var hello = ByteBuffer(bytes: H2FrameReader.preface)
            H2FrameWriter.settings(settings, into: &hello)
            #expect(try send(hello) == [])
            #expect(
                try sent() == [
                    .settings([
                        H2Setting(parameter: H2Setting.maxConcurrentStreams, value: UInt32(limits.maxConcurrentStreams)),
                        H2Setting(parameter: H2Setting.maxHeaderListSize, value: UInt32(limits.maxHeaderListSize)),
                        H2Setting(parameter: H2Setting.enableConnectProtocol, value: 1),
                    ]),
                    .settingsAck,
                ])
        }

        mutating func send(_ bytes: ByteBuffer) throws(H2ConnectionError) -> [H2ConnectionStateMachine.Event] {
            machine.read(bytes)
            var events: [H2ConnectionStateMachine.Event] = []
            while let event = try machine.nextEvent(now: now) { events.append(event) }
            return events
        }

        mutating func send(_ write: (inout ByteBuffer) throws -> Void) throws -> [H2ConnectionStateMachine.Event] {
            var bytes = ByteBuffer()
            try write(&bytes)
            return try send(bytes)
        }

        mutating func request(_ id: UInt32, _ fields: HPACKHeaders = Client.get, endStream: Bool = true) throws -> [H2ConnectionStateMachine.Event] {
            var encoder = encoder
            defer { self.encoder = encoder }
            return try send { try H2FrameWriter.headers(stream: id, fields, endStream: endStream, maxFrameSize: 16_384, encoder: &encoder, into: &$0) }
        }

        mutating func data(_ id: UInt32, _ text: String, endStream: Bool = false) throws -> [H2ConnectionStateMachine.Event] {
            try send { H2FrameWriter.data(stream: id, ByteBuffer(string: text), endStream: endStream, into: &$0) }
        }

        /// What Latch wrote since the last look, header blocks decoded into their fields' names.
        mutating func sent() throws -> [H2Frame] {
            if let output = machine.takeOutput() { replies.append(output) }
            var frames: [H2Frame] = []
            while let frame = try replies.next() { frames.append(frame) }
            return frames
        }

        /// Latch's frames, with each header block decoded.
        mutating func sentFields() throws -> [HPACKHeaders] {
            try sent().compactMap { frame in
                guard case .headers(_, var block, _, _) = frame else { return nil }
                return try decoder.decodeHeaders(from: &block)
            }
        }

        static let get: HPACKHeaders = [":method": "GET", ":scheme": "https", ":path": "/", ":authority": "a.example"]
        static func post(length: Int?) -> HPACKHeaders {
            var fields: HPACKHeaders = [":method": "POST", ":scheme": "https", ":path": "/up", ":authority": "a.example"]
            if let length { fields.add(name: "content-length", value: String(length)) }
            return fields
        }
    }

    static func failure(_ body: () throws -> Void) -> H2ErrorCode? {
        do {
            try body()
        } catch let error as H2ConnectionError {
            return error.code
        } catch {
            Issue.record("not a connection error: \(error)")
        }
        return nil
    }

    @Test("a GET answered: the stream opens with the request and is over once the answer ends")
    func get() throws {
        var client = try Client()
        #expect(try client.request(1) == [.request(1, Client.get, endStream: true)])
        #expect(client.machine.writeHeaders(1, .fields([":status": "200"]), endStream: false) == false)
        #expect(client.machine.sendable(1) == 65_535)
        #expect(client.machine.writeData(1, ByteBuffer(string: "hi"), endStream: true) == true)
        #expect(!client.machine.hasOpenStreams)
        let frames = try client.sent()
        #expect(frames.count == 2)
        #expect(frames.last == .data(stream: 1, data: ByteBuffer(string: "hi"), endStream: true, flowControlled: 2))
        #expect(client.machine.sendable(1) == 0)
    }

    @Test("a body in DATA frames, its end, and a stream whose answer ended first")
    func body() throws {
        var client = try Client()
        #expect(try client.request(1, Client.post(length: 5), endStream: false) == [.request(1, Client.post(length: 5), endStream: false)])
        #expect(client.machine.writeHeaders(1, .fields([":status": "200"]), endStream: true) == false)
        #expect(try client.data(1, "abc") == [.data(1, ByteBuffer(string: "abc"), endStream: false)])
        #expect(try client.data(1, "de", endStream: true) == [.data(1, ByteBuffer(string: "de"), endStream: true), .closed(1)])
        #expect(!client.machine.hasOpenStreams)
    }

    @Test(
        "a body other than its content-length is the stream's error (RFC 9113 §8.1.1)",
        arguments: [(5, ["abc", "def"], false), (5, ["abc"], true), (0, ["a"], false)] as [(Int, [String], Bool)])
    func length(declared: Int, parts: [String], endLast: Bool) throws {
        var client = try Client()
        _ = try client.request(1, Client.post(length: declared), endStream: false)
        var events: [H2ConnectionStateMachine.Event] = []
        for (index, part) in parts.enumerated() { events += try client.data(1, part, endStream: endLast && index == parts.count - 1) }
        #expect(events.last == .closed(1))
        #expect(try client.sent().last == .rstStream(stream: 1, code: .protocolError))
    }

    @Test("a content-length with no body at all is refused before the stream opens")
    func lengthWithoutBody() throws {
        var client = try Client()
        #expect(try client.request(1, Client.post(length: 5), endStream: true) == [])
        #expect(try client.sent() == [.rstStream(stream: 1, code: .protocolError)])
    }

    @Test("the client's window reopens as Latch takes the bytes, the connection's as they arrive")
    func inboundFlowControl() throws {
        var client = try Client()
        _ = try client.request(1, Client.post(length: nil), endStream: false)
        let chunk = String(repeating: "x", count: 16_384)
        for _ in 0..<2 { _ = try client.data(1, chunk) }
        // 32 768 of 65 535 used: the connection's window is at half, and goes back to full.
        #expect(try client.sent() == [.windowUpdate(stream: 0, increment: 32_768)])
        client.machine.taken(1, 16_384)
        #expect(try client.sent() == [])
        client.machine.taken(1, 16_384)
        #expect(try client.sent() == [.windowUpdate(stream: 1, increment: 32_768)])
        // Not taken: the stream's window runs out, and a byte more is the stream's error.
        for _ in 0..<3 { _ = try client.data(1, chunk) }
        _ = try client.data(1, String(repeating: "x", count: 16_383))
        #expect(try client.data(1, "y") == [.closed(1)])
        #expect(try client.sent().last == .rstStream(stream: 1, code: .flowControlError))
    }

    @Test("what Latch may send follows the client's windows, settings and updates")
    func outboundFlowControl() throws {
        var client = try Client(settings: [H2Setting(parameter: H2Setting.initialWindowSize, value: 10)])
        _ = try client.request(1)
        #expect(client.machine.sendable(1) == 10)
        #expect(try client.send { H2FrameWriter.windowUpdate(stream: 1, increment: 100, into: &$0) } == [.windowsChanged])
        #expect(client.machine.sendable(1) == 110)
        #expect(try client.send { H2FrameWriter.settings([H2Setting(parameter: H2Setting.initialWindowSize, value: 1_000)], into: &$0) } == [.windowsChanged])
        #expect(client.machine.sendable(1) == 1_100)
        _ = client.machine.writeHeaders(1, .fields([":status": "200"]), endStream: false)
        _ = client.machine.writeData(1, ByteBuffer(repeating: 0, count: 1_100), endStream: false)
        #expect(client.machine.sendable(1) == 0)
        #expect(client.machine.connectionOutbound == 65_535 - 1_100)
        // Past 2^31-1: the stream's error, or on the connection's window the connection's.
        #expect(try client.send { H2FrameWriter.windowUpdate(stream: 1, increment: Int(Int32.max), into: &$0) } == [.windowsChanged])
        #expect(try client.send { H2FrameWriter.windowUpdate(stream: 1, increment: 1, into: &$0) } == [.closed(1)])
        #expect(try client.sent().last == .rstStream(stream: 1, code: .flowControlError))
        #expect(Self.failure { _ = try client.send { H2FrameWriter.windowUpdate(stream: 0, increment: Int(Int32.max), into: &$0) } } == .flowControlError)
    }

    @Test("DATA larger than the client's frame size leaves in several frames")
    func frameSize() throws {
        var client = try Client(settings: [H2Setting(parameter: H2Setting.initialWindowSize, value: 100_000)])
        _ = try client.send { H2FrameWriter.windowUpdate(stream: 0, increment: 100_000, into: &$0) }
        _ = try client.request(1)
        _ = try client.sent()
        _ = client.machine.writeData(1, ByteBuffer(repeating: 1, count: 40_000), endStream: true)
        let sizes = try client.sent().map { frame -> Int in
            guard case .data(_, let data, _, _) = frame else { return -1 }
            return data.readableBytes
        }
        #expect(sizes == [16_384, 16_384, 7_232])
    }

    @Test("stream ids: odd, and each new one above the last (RFC 9113 §5.1.1)")
    func ids() throws {
        var even = try Client()
        #expect(Self.failure { _ = try even.request(2) } == .protocolError)
        var lower = try Client()
        _ = try lower.request(3)
        #expect(Self.failure { _ = try lower.request(1) } == .protocolError)
        var idleData = try Client()
        #expect(Self.failure { _ = try idleData.data(1, "a") } == .protocolError)
        var idleReset = try Client()
        #expect(Self.failure { _ = try idleReset.send { H2FrameWriter.rstStream(stream: 1, code: .cancel, into: &$0) } } == .protocolError)
    }

    @Test("streams beyond the limit are refused, their blocks still read into HPACK's table")
    func concurrency() throws {
        var limits = H2ConnectionStateMachine.Limits()
        limits.maxConcurrentStreams = 1
        var client = try Client(limits)
        _ = try client.request(1, Client.post(length: nil), endStream: false)
        var custom = Client.get
        custom.add(name: "x-session-hint", value: "a-value-indexed-by-the-encoder")
        #expect(try client.request(3, custom) == [])
        #expect(try client.sent() == [.rstStream(stream: 3, code: .refusedStream)])
        client.machine.reset(1, .cancel)
        // The same field again: the encoder now refers to its dynamic table entry.
        #expect(try client.request(5, custom) == [.request(5, custom, endStream: true)])
    }

    @Test("trailers end the request; a second header block without END_STREAM is malformed")
    func trailers() throws {
        var client = try Client()
        _ = try client.request(1, Client.post(length: nil), endStream: false)
        #expect(try client.request(1, ["x-checksum": "1"], endStream: true) == [.trailers(1, ["x-checksum": "1"])])
        _ = try client.request(3, Client.post(length: nil), endStream: false)
        #expect(try client.request(3, ["x-checksum": "1"], endStream: false) == [.closed(3)])
        #expect(try client.sent().last == .rstStream(stream: 3, code: .protocolError))
    }

    @Test("PING is answered, SETTINGS acknowledged, the client's GOAWAY reported")
    func connectionFrames() throws {
        var client = try Client()
        var ping = ByteBuffer()
        H2FrameWriter.header(length: 8, type: H2FrameType.ping, flags: 0, stream: 0, into: &ping)
        ping.writeInteger(UInt64(77))
        #expect(try client.send(ping) == [])
        #expect(try client.send { H2FrameWriter.settings([], into: &$0) } == [])
        #expect(try client.send { H2FrameWriter.goAway(lastStream: 0, code: .noError, into: &$0) } == [.goAway])
        #expect(try client.sent() == [.ping(77, ack: true), .settingsAck])
    }

    @Test("after Latch's GOAWAY, new streams are refused and the open ones go on")
    func goAway() throws {
        var client = try Client()
        _ = try client.request(1, Client.post(length: nil), endStream: false)
        client.machine.goAway()
        #expect(try client.request(3) == [])
        #expect(try client.sent() == [.goAway(lastStream: 1, code: .noError), .rstStream(stream: 3, code: .refusedStream)])
        #expect(try client.data(1, "a", endStream: true) == [.data(1, ByteBuffer(string: "a"), endStream: true)])
    }

    @Test("frames still in flight for a stream Latch reset are dropped quietly")
    func afterReset() throws {
        var client = try Client()
        _ = try client.request(1, Client.post(length: nil), endStream: false)
        client.machine.reset(1, .cancel)
        #expect(try client.data(1, "late") == [])
        #expect(try client.request(1, ["x-t": "1"], endStream: true) == [])
        #expect(try client.sent() == [.rstStream(stream: 1, code: .cancel)])
        // A stream that ended normally: DATA on it is answered with STREAM_CLOSED, once.
        _ = try client.request(3)
        _ = client.machine.writeHeaders(3, .fields([":status": "204"]), endStream: true)
        _ = try client.sent()
        #expect(try client.data(3, "x") == [])
        #expect(try client.data(3, "x") == [])
        #expect(try client.sent() == [.rstStream(stream: 3, code: .streamClosed)])
    }

    @Test("floods: empty DATA frames, resets, PINGs; spread over time the same frames are fine")
    func floods() throws {
        var empty = try Client()
        _ = try empty.request(1, Client.post(length: nil), endStream: false)
        _ = try empty.data(1, "")
        #expect(Self.failure { _ = try empty.data(1, "") } == .enhanceYourCalm)

        var resets = try Client()
        _ = try resets.request(1)
        for _ in 0..<200 { _ = try resets.send { H2FrameWriter.rstStream(stream: 1, code: .cancel, into: &$0) } }
        #expect(Self.failure { _ = try resets.send { H2FrameWriter.rstStream(stream: 1, code: .cancel, into: &$0) } } == .enhanceYourCalm)

        var slow = try Client()
        _ = try slow.request(1)
        for _ in 0..<400 {
            slow.now += 200_000_000
            _ = try slow.send { H2FrameWriter.rstStream(stream: 1, code: .cancel, into: &$0) }
        }
    }

    @Test("malformed requests past the limit cut the connection")
    func glitches() throws {
        var limits = H2ConnectionStateMachine.Limits()
        limits.maxGlitches = 3
        var client = try Client(limits)
        try client.machine.glitch()
        try client.machine.glitch()
        #expect(Self.failure { try client.machine.glitch() } == .enhanceYourCalm)
    }

    @Test("a header block HPACK cannot read ends the connection (RFC 7541)")
    func compression() throws {
        var client = try Client()
        var bytes = ByteBuffer()
        H2FrameWriter.header(length: 1, type: H2FrameType.headers, flags: H2Flags.endHeaders, stream: 1, into: &bytes)
        bytes.writeInteger(UInt8(0xff))
        #expect(Self.failure { _ = try client.send(bytes) } == .compressionError)
        client.machine.fail(H2ConnectionError(.compressionError, "test"))
        #expect(try client.sent() == [.goAway(lastStream: 0, code: .compressionError)])
    }
}
