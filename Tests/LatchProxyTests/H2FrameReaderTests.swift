import NIOCore
import NIOHPACK
import Testing

@testable import LatchProxy

/// The client's side of an HTTP/2 connection read into frames (RFC 9113 §3.4, §4, §6), with no I/O:
/// every frame type, the checks a frame carries about itself, header blocks over CONTINUATION, and
/// bytes arriving in any split.
@Suite("HTTP/2 frame reader")
struct H2FrameReaderTests {
    /// A raw frame: header and payload as given, whatever they say.
    static func raw(type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8] = [], length: Int? = nil) -> [UInt8] {
        let n = length ?? payload.count
        return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags]
            + [UInt8(stream >> 24), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)] + payload
    }

    static let preface = H2FrameReader.preface + raw(type: H2FrameType.settings)

    /// Frames read from `bytes` after the preface and an empty SETTINGS, every byte fed alone, then
    /// all at once: both must give the same frames (or the same error).
    static func read(_ bytes: [UInt8], maxHeaderBlock: Int = 65_536) -> Result<[H2Frame], H2ConnectionError> {
        func run(_ chunks: [[UInt8]]) -> Result<[H2Frame], H2ConnectionError> {
            var reader = H2FrameReader(maxHeaderBlock: maxHeaderBlock)
            var frames: [H2Frame] = []
            do {
                for chunk in chunks {
                    reader.append(ByteBuffer(bytes: chunk))
                    while let frame = try reader.next() { frames.append(frame) }
                }
            } catch {
                return .failure(error)
            }
            return .success(Array(frames.dropFirst()))
        }
        let whole = run([preface + bytes])
        let byteByByte = run((preface + bytes).map { [$0] })
        #expect(whole == byteByByte)
        return whole
    }

    static func code(_ result: Result<[H2Frame], H2ConnectionError>) -> H2ErrorCode? {
        if case .failure(let error) = result { return error.code }
        return nil
    }

    @Test("every frame type the client may send")
    func frames() {
        let bytes =
            Self.raw(type: H2FrameType.data, flags: H2Flags.endStream, stream: 1, Array("hello".utf8))
            + Self.raw(type: H2FrameType.headers, flags: H2Flags.endHeaders, stream: 3, [0x82])
            + Self.raw(type: H2FrameType.priority, stream: 3, [0, 0, 0, 1, 16])
            + Self.raw(type: H2FrameType.rstStream, stream: 3, [0, 0, 0, 8])
            + Self.raw(type: H2FrameType.settings, [0, 4, 0, 1, 0, 0, 0, 9, 0, 0, 0, 5])
            + Self.raw(type: H2FrameType.settings, flags: H2Flags.ack)
            + Self.raw(type: H2FrameType.ping, [1, 2, 3, 4, 5, 6, 7, 8])
            + Self.raw(type: H2FrameType.goAway, [0, 0, 0, 7, 0, 0, 0, 0, 0xde, 0xad])
            + Self.raw(type: H2FrameType.windowUpdate, stream: 5, [0x80, 0, 1, 0])
        let expected: [H2Frame] = [
            .data(stream: 1, data: ByteBuffer(string: "hello"), endStream: true, flowControlled: 5),
            .headers(stream: 3, block: ByteBuffer(bytes: [0x82]), endStream: false, dependsOnItself: false),
            .priority(stream: 3),
            .rstStream(stream: 3, code: .cancel),
            .settings([H2Setting(parameter: H2Setting.initialWindowSize, value: 65_536), H2Setting(parameter: 9, value: 5)]),
            .settingsAck,
            .ping(0x0102_0304_0506_0708, ack: false),
            .goAway(lastStream: 7, code: .noError),
            // The reserved bit of the increment is not part of it (RFC 9113 §6.9).
            .windowUpdate(stream: 5, increment: 256),
        ]
        #expect(Self.read(bytes) == .success(expected))
    }

    @Test("padding is dropped, and counted by flow control")
    func padding() {
        let bytes =
            Self.raw(type: H2FrameType.data, flags: H2Flags.padded, stream: 1, [3] + Array("abc".utf8) + [0, 0, 0])
            + Self.raw(type: H2FrameType.headers, flags: H2Flags.padded | H2Flags.priority | H2Flags.endHeaders | H2Flags.endStream, stream: 1,
                       [2, 0x80, 0, 0, 3, 200, 0x82, 0x84, 0, 0])
        #expect(
            Self.read(bytes)
                == .success([
                    .data(stream: 1, data: ByteBuffer(string: "abc"), endStream: false, flowControlled: 7),
                    .headers(stream: 1, block: ByteBuffer(bytes: [0x82, 0x84]), endStream: true, dependsOnItself: false),
                ]))
    }

    @Test("a header block over CONTINUATION frames arrives whole, with the first frame's flags")
    func continuation() {
        let bytes =
            Self.raw(type: H2FrameType.headers, flags: H2Flags.endStream, stream: 1, [0x82])
            + Self.raw(type: H2FrameType.continuation, stream: 1, [])
            + Self.raw(type: H2FrameType.continuation, stream: 1, [0x84, 0x86])
            + Self.raw(type: H2FrameType.continuation, flags: H2Flags.endHeaders, stream: 1, [0x87])
        #expect(Self.read(bytes) == .success([.headers(stream: 1, block: ByteBuffer(bytes: [0x82, 0x84, 0x86, 0x87]), endStream: true, dependsOnItself: false)]))
    }

    @Test("a stream that depends on itself is that stream's error, its block still read")
    func selfDependency() {
        let bytes =
            Self.raw(type: H2FrameType.headers, flags: H2Flags.priority | H2Flags.endHeaders, stream: 3, [0, 0, 0, 3, 16, 0x82])
            + Self.raw(type: H2FrameType.priority, stream: 5, [0, 0, 0, 5, 16])
            + Self.raw(type: H2FrameType.priority, stream: 5, [0, 0, 0, 1])
            + Self.raw(type: H2FrameType.windowUpdate, stream: 5, [0, 0, 0, 0])
            + Self.raw(type: 0xfa, flags: 0xff, stream: 9, [1, 2, 3])
        #expect(
            Self.read(bytes)
                == .success([
                    .headers(stream: 3, block: ByteBuffer(bytes: [0x82]), endStream: false, dependsOnItself: true),
                    .streamError(stream: 5, code: .protocolError),
                    .streamError(stream: 5, code: .frameSizeError),
                    .streamError(stream: 5, code: .protocolError),
                    // the unknown frame type: ignored
                ]))
    }

    /// Each row: what the client sent after the preface, and the code of the connection error.
    static let connectionErrors: [(String, [UInt8], H2ErrorCode)] = [
        ("a frame over 16 KiB, refused before its payload arrives", raw(type: H2FrameType.data, stream: 1, length: 16_385), .frameSizeError),
        ("DATA on stream 0", raw(type: H2FrameType.data, [1]), .protocolError),
        ("HEADERS on stream 0", raw(type: H2FrameType.headers, flags: H2Flags.endHeaders, [0x82]), .protocolError),
        ("padding as long as the payload", raw(type: H2FrameType.data, flags: H2Flags.padded, stream: 1, [2, 0]), .protocolError),
        ("a padded frame with no pad length", raw(type: H2FrameType.data, flags: H2Flags.padded, stream: 1), .protocolError),
        ("HEADERS too short for its priority", raw(type: H2FrameType.headers, flags: H2Flags.priority | H2Flags.endHeaders, stream: 1, [0, 0]), .frameSizeError),
        ("PRIORITY on stream 0", raw(type: H2FrameType.priority, [0, 0, 0, 1, 16]), .protocolError),
        ("RST_STREAM on stream 0", raw(type: H2FrameType.rstStream, [0, 0, 0, 8]), .protocolError),
        ("RST_STREAM of 3 bytes", raw(type: H2FrameType.rstStream, stream: 1, [0, 0, 8]), .frameSizeError),
        ("SETTINGS on a stream", raw(type: H2FrameType.settings, stream: 1), .protocolError),
        ("SETTINGS of 5 bytes", raw(type: H2FrameType.settings, [0, 4, 0, 0, 1]), .frameSizeError),
        ("a SETTINGS ACK with a payload", raw(type: H2FrameType.settings, flags: H2Flags.ack, [0, 4, 0, 0, 0, 1]), .frameSizeError),
        ("ENABLE_PUSH of 2", raw(type: H2FrameType.settings, [0, 2, 0, 0, 0, 2]), .protocolError),
        ("ENABLE_CONNECT_PROTOCOL of 2", raw(type: H2FrameType.settings, [0, 8, 0, 0, 0, 2]), .protocolError),
        ("INITIAL_WINDOW_SIZE over 2^31-1", raw(type: H2FrameType.settings, [0, 4, 0x80, 0, 0, 0]), .flowControlError),
        ("MAX_FRAME_SIZE under 16384", raw(type: H2FrameType.settings, [0, 5, 0, 0, 0x3f, 0xff]), .protocolError),
        ("MAX_FRAME_SIZE over 2^24-1", raw(type: H2FrameType.settings, [0, 5, 0x01, 0, 0, 0]), .protocolError),
        ("PUSH_PROMISE from a client", raw(type: H2FrameType.pushPromise, flags: H2Flags.endHeaders, stream: 1, [0, 0, 0, 2]), .protocolError),
        ("PING on a stream", raw(type: H2FrameType.ping, stream: 1, [0, 0, 0, 0, 0, 0, 0, 0]), .protocolError),
        ("PING of 7 bytes", raw(type: H2FrameType.ping, [0, 0, 0, 0, 0, 0, 0]), .frameSizeError),
        ("GOAWAY on a stream", raw(type: H2FrameType.goAway, stream: 1, [0, 0, 0, 0, 0, 0, 0, 0]), .protocolError),
        ("GOAWAY of 7 bytes", raw(type: H2FrameType.goAway, [0, 0, 0, 0, 0, 0, 0]), .frameSizeError),
        ("WINDOW_UPDATE of 3 bytes", raw(type: H2FrameType.windowUpdate, stream: 1, [0, 0, 1]), .frameSizeError),
        ("a connection WINDOW_UPDATE of 0", raw(type: H2FrameType.windowUpdate, [0, 0, 0, 0]), .protocolError),
        ("CONTINUATION with no header block open", raw(type: H2FrameType.continuation, flags: H2Flags.endHeaders, stream: 1, [0x82]), .protocolError),
        (
            "another frame inside a header block",
            raw(type: H2FrameType.headers, stream: 1, [0x82]) + raw(type: H2FrameType.ping, [0, 0, 0, 0, 0, 0, 0, 0]), .protocolError
        ),
        (
            "CONTINUATION of another stream",
            raw(type: H2FrameType.headers, stream: 1, [0x82]) + raw(type: H2FrameType.continuation, flags: H2Flags.endHeaders, stream: 3, [0x84]),
            .protocolError
        ),
        (
            "an unknown frame inside a header block",
            raw(type: H2FrameType.headers, stream: 1, [0x82]) + raw(type: 0xfa, stream: 1, []), .protocolError
        ),
        (
            "a header block in too many frames",
            raw(type: H2FrameType.headers, stream: 1, [0x82]) + Array(repeating: raw(type: H2FrameType.continuation, stream: 1), count: 64).flatMap { $0 },
            .enhanceYourCalm
        ),
        ("a header block over the limit in one frame", raw(type: H2FrameType.headers, flags: H2Flags.endHeaders, stream: 1, Array(repeating: 0x82, count: 101)), .enhanceYourCalm),
        (
            "a header block over the limit over CONTINUATION",
            raw(type: H2FrameType.headers, stream: 1, Array(repeating: 0x82, count: 60))
                + raw(type: H2FrameType.continuation, flags: H2Flags.endHeaders, stream: 1, Array(repeating: 0x82, count: 41)),
            .enhanceYourCalm
        ),
    ]

    @Test("connection errors", arguments: connectionErrors.indices)
    func connectionError(_ row: Int) {
        let (name, bytes, code) = Self.connectionErrors[row]
        #expect(Self.code(Self.read(bytes, maxHeaderBlock: 100)) == code, "\(name)")
    }

    @Test("a client that does not start with the preface, and one whose first frame is not SETTINGS")
    func preface() {
        var reader = H2FrameReader(maxHeaderBlock: 100)
        reader.append(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        #expect(throws: H2ConnectionError.self) { try reader.next() }

        var partial = H2FrameReader(maxHeaderBlock: 100)
        partial.append(ByteBuffer(string: "PRI * HTTP/2"))
        #expect((try? partial.next()) == .some(nil))

        var noSettings = H2FrameReader(maxHeaderBlock: 100)
        noSettings.append(ByteBuffer(bytes: H2FrameReader.preface + Self.raw(type: H2FrameType.ping, [0, 0, 0, 0, 0, 0, 0, 0])))
        #expect(throws: H2ConnectionError(.protocolError, "the connection preface not followed by SETTINGS (RFC 9113 §3.4)")) { try noSettings.next() }

        var ackFirst = H2FrameReader(maxHeaderBlock: 100)
        ackFirst.append(ByteBuffer(bytes: H2FrameReader.preface + Self.raw(type: H2FrameType.settings, flags: H2Flags.ack)))
        #expect(throws: H2ConnectionError.self) { try ackFirst.next() }
    }

    @Test("what the writer writes, the reader reads back")
    func roundTrip() throws {
        var out = ByteBuffer(bytes: H2FrameReader.preface)
        H2FrameWriter.settings([H2Setting(parameter: H2Setting.maxConcurrentStreams, value: 100)], into: &out)
        H2FrameWriter.data(stream: 1, ByteBuffer(string: "body"), endStream: true, into: &out)
        H2FrameWriter.settingsAck(into: &out)
        H2FrameWriter.pingAck(42, into: &out)
        H2FrameWriter.goAway(lastStream: 9, code: .enhanceYourCalm, into: &out)
        H2FrameWriter.rstStream(stream: 3, code: .refusedStream, into: &out)
        H2FrameWriter.windowUpdate(stream: 0, increment: 1 << 30, into: &out)
        var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
        let small: HPACKHeaders = [":status": "200", "content-type": "text/plain"]
        try H2FrameWriter.headers(stream: 5, small, endStream: false, maxFrameSize: 16_384, encoder: &encoder, into: &out)
        // A head over one frame: HEADERS and CONTINUATION, read back as one block.
        let large: HPACKHeaders = [":status": "200", "x-large": String(repeating: "a", count: 40_000)]
        try H2FrameWriter.headers(stream: 7, large, endStream: true, maxFrameSize: 16_384, encoder: &encoder, into: &out)

        var reader = H2FrameReader(maxHeaderBlock: 65_536)
        reader.append(out)
        var frames: [H2Frame] = []
        while let frame = try reader.next() { frames.append(frame) }
        #expect(reader.buffered == 0)
        try #require(frames.count == 9)
        #expect(
            Array(frames.prefix(7)) == [
                .settings([H2Setting(parameter: H2Setting.maxConcurrentStreams, value: 100)]),
                .data(stream: 1, data: ByteBuffer(string: "body"), endStream: true, flowControlled: 4),
                .settingsAck,
                .ping(42, ack: true),
                .goAway(lastStream: 9, code: .enhanceYourCalm),
                .rstStream(stream: 3, code: .refusedStream),
                .windowUpdate(stream: 0, increment: 1 << 30),
            ])
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator(), maxDynamicTableSize: 4096, maxHeaderListSize: 65_536)
        for (frame, (stream, fields, endStream)) in zip(frames.suffix(2), [(UInt32(5), small, false), (7, large, true)]) {
            guard case .headers(stream, var block, endStream, false) = frame else {
                Issue.record("not the HEADERS expected: \(frame)")
                continue
            }
            #expect(try decoder.decodeHeaders(from: &block) == fields)
        }
    }
}
