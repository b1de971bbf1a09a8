import NIOCore

/// Reads a client's side of an HTTP/2 connection (RFC 9113): the connection preface, then frames.
/// Bytes in (``append(_:)``), frames out (``next()``); a value with no I/O.
///
/// It checks what a frame says about itself (§4.1, §6): its length against the largest frame Latch
/// accepts and against its type's layout, whether it may or must name a stream, its padding, its
/// setting values. A header block arrives whole: HEADERS and its CONTINUATION frames are gathered
/// here, and nothing else may come between them (§6.10). What needs the connection's state — stream
/// ids, stream states, flow control — is the connection state machine's.
///
/// A violation that ends the connection is thrown (``H2ConnectionError``); one confined to a
/// stream comes out as a ``H2Frame/streamError(stream:code:)``. After a throw the reader is done:
/// the connection closes.
///
/// DATA payloads and single-frame header blocks are slices of the bytes read, not copies.
struct H2FrameReader {
    /// RFC 9113 §3.4: what every HTTP/2 client sends first.
    static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// SETTINGS_MAX_FRAME_SIZE's initial value (RFC 9113 §6.5.2), which Latch keeps: a larger frame
    /// is a FRAME_SIZE_ERROR (§4.2).
    static let maxFrameSize = 16_384

    private enum Phase {
        case preface
        /// The preface came; the first frame must be SETTINGS (§3.4).
        case firstSettings
        case frames
        /// A header block's first frame came without END_HEADERS: CONTINUATION of `stream` follows.
        case continuation(stream: UInt32, block: ByteBuffer, endStream: Bool, dependsOnItself: Bool, frames: Int)
    }

    private var phase = Phase.preface
    private var buffer: ByteBuffer?
    /// The most a header block may weigh, all its frames together: beyond, the client is told to calm
    /// down and the connection closes, as swift-nio-http2 and nginx do (a stream error would leave
    /// the HPACK tables out of step).
    let maxHeaderBlock: Int
    /// The most frames one header block may span (a flood of empty CONTINUATIONs costs work for no
    /// bytes; CVE-2024-27316's family).
    static let maxContinuationFrames = 64

    init(maxHeaderBlock: Int) {
        self.maxHeaderBlock = maxHeaderBlock
    }

    /// Bytes from the connection, after TLS.
    mutating func append(_ bytes: ByteBuffer) {
        if buffer == nil || buffer!.readableBytes == 0 {
            buffer = bytes
        } else {
            buffer!.writeImmutableBuffer(bytes)
        }
    }

    /// Bytes that arrived and are not yet a whole frame.
    var buffered: Int { buffer?.readableBytes ?? 0 }

    /// The next whole frame, `nil` until more bytes arrive.
    mutating func next() throws(H2ConnectionError) -> H2Frame? {
        while true {
            guard var bytes = buffer else { return nil }
            if case .preface = phase {
                guard try readPreface(&bytes) else { return nil }
                buffer = bytes
                phase = .firstSettings
                continue
            }
            guard let header = Self.header(bytes) else { return nil }
            guard header.length <= Self.maxFrameSize else {
                throw H2ConnectionError(.frameSizeError, "a \(header.length)-byte frame; the limit is \(Self.maxFrameSize) (RFC 9113 §4.2)")
            }
            guard bytes.readableBytes >= 9 + header.length else { return nil }
            bytes.moveReaderIndex(forwardBy: 9)
            let payload = bytes.readSlice(length: header.length)!
            buffer = bytes.readableBytes == 0 ? nil : bytes
            if let frame = try frame(header, payload) { return frame }
        }
    }

    private mutating func readPreface(_ bytes: inout ByteBuffer) throws(H2ConnectionError) -> Bool {
        let have = min(bytes.readableBytes, Self.preface.count)
        let matches = bytes.withUnsafeReadableBytes { raw in raw.prefix(have).elementsEqual(Self.preface.prefix(have)) }
        guard matches else { throw H2ConnectionError(.protocolError, "no HTTP/2 connection preface (RFC 9113 §3.4)") }
        guard have == Self.preface.count else { return false }
        bytes.moveReaderIndex(forwardBy: have)
        return true
    }

    private struct Header {
        let length: Int
        let type: UInt8
        let flags: UInt8
        let stream: UInt32
    }

    private static func header(_ bytes: ByteBuffer) -> Header? {
        guard bytes.readableBytes >= 9 else { return nil }
        let at = bytes.readerIndex
        let high = bytes.getInteger(at: at, as: UInt16.self)!
        let low = bytes.getInteger(at: at + 2, as: UInt8.self)!
        return Header(
            length: Int(high) << 8 | Int(low),
            type: bytes.getInteger(at: at + 3, as: UInt8.self)!,
            flags: bytes.getInteger(at: at + 4, as: UInt8.self)!,
            // The reserved bit is ignored on receipt (§4.1).
            stream: bytes.getInteger(at: at + 5, as: UInt32.self)! & 0x7fff_ffff)
    }

    /// One frame's meaning, or `nil` for a frame that only adds to a header block or is ignored.
    private mutating func frame(_ header: Header, _ payload: ByteBuffer) throws(H2ConnectionError) -> H2Frame? {
        var payload = payload
        switch phase {
        case .preface:
            preconditionFailure("frames before the preface")
        case .firstSettings:
            guard header.type == H2FrameType.settings, header.flags & H2Flags.ack == 0 else {
                throw H2ConnectionError(.protocolError, "the connection preface not followed by SETTINGS (RFC 9113 §3.4)")
            }
            phase = .frames
        case .continuation(let stream, var block, let endStream, let dependsOnItself, let frames):
            guard header.type == H2FrameType.continuation, header.stream == stream else {
                throw H2ConnectionError(.protocolError, "a header block interrupted by another frame (RFC 9113 §6.10)")
            }
            guard frames < Self.maxContinuationFrames else {
                throw H2ConnectionError(.enhanceYourCalm, "a header block in more than \(Self.maxContinuationFrames) frames")
            }
            guard block.readableBytes + payload.readableBytes <= maxHeaderBlock else {
                throw H2ConnectionError(.enhanceYourCalm, "a header block over \(maxHeaderBlock) bytes")
            }
            // Out of the phase before the write: the block's storage is then this copy's alone.
            phase = .frames
            block.writeBuffer(&payload)
            guard header.flags & H2Flags.endHeaders != 0 else {
                phase = .continuation(stream: stream, block: block, endStream: endStream, dependsOnItself: dependsOnItself, frames: frames + 1)
                return nil
            }
            return .headers(stream: stream, block: block, endStream: endStream, dependsOnItself: dependsOnItself)
        case .frames:
            break
        }
        switch header.type {
        case H2FrameType.data:
            try onStream(header, "DATA")
            let flowControlled = payload.readableBytes
            try unpad(header, &payload, "DATA")
            return .data(stream: header.stream, data: payload, endStream: header.flags & H2Flags.endStream != 0, flowControlled: flowControlled)
        case H2FrameType.headers:
            try onStream(header, "HEADERS")
            try unpad(header, &payload, "HEADERS")
            var dependsOnItself = false
            if header.flags & H2Flags.priority != 0 {
                guard let dependency = payload.readInteger(as: UInt32.self), payload.readInteger(as: UInt8.self) != nil else {
                    throw H2ConnectionError(.frameSizeError, "HEADERS too short for its priority fields (RFC 9113 §6.2)")
                }
                dependsOnItself = dependency & 0x7fff_ffff == header.stream
            }
            guard payload.readableBytes <= maxHeaderBlock else {
                throw H2ConnectionError(.enhanceYourCalm, "a header block over \(maxHeaderBlock) bytes")
            }
            let endStream = header.flags & H2Flags.endStream != 0
            guard header.flags & H2Flags.endHeaders != 0 else {
                // Its own storage from here: CONTINUATION frames are appended to it.
                var block = ByteBufferAllocator().buffer(capacity: payload.readableBytes * 2)
                block.writeBuffer(&payload)
                phase = .continuation(stream: header.stream, block: block, endStream: endStream, dependsOnItself: dependsOnItself, frames: 1)
                return nil
            }
            return .headers(stream: header.stream, block: payload, endStream: endStream, dependsOnItself: dependsOnItself)
        case H2FrameType.priority:
            try onStream(header, "PRIORITY")
            guard header.length == 5 else { return .streamError(stream: header.stream, code: .frameSizeError) }
            let dependency = payload.readInteger(as: UInt32.self)! & 0x7fff_ffff
            return dependency == header.stream ? .streamError(stream: header.stream, code: .protocolError) : .priority(stream: header.stream)
        case H2FrameType.rstStream:
            try onStream(header, "RST_STREAM")
            try length(header, 4, "RST_STREAM")
            return .rstStream(stream: header.stream, code: H2ErrorCode(rawValue: payload.readInteger()!))
        case H2FrameType.settings:
            try onConnection(header, "SETTINGS")
            if header.flags & H2Flags.ack != 0 {
                try length(header, 0, "SETTINGS with ACK")
                return .settingsAck
            }
            guard header.length % 6 == 0 else {
                throw H2ConnectionError(.frameSizeError, "a SETTINGS frame of \(header.length) bytes, not a multiple of 6 (RFC 9113 §6.5)")
            }
            var settings: [H2Setting] = []
            settings.reserveCapacity(header.length / 6)
            while let parameter = payload.readInteger(as: UInt16.self), let value = payload.readInteger(as: UInt32.self) {
                settings.append(try Self.checked(H2Setting(parameter: parameter, value: value)))
            }
            return .settings(settings)
        case H2FrameType.pushPromise:
            throw H2ConnectionError(.protocolError, "PUSH_PROMISE from a client (RFC 9113 §8.4)")
        case H2FrameType.ping:
            try onConnection(header, "PING")
            try length(header, 8, "PING")
            return .ping(payload.readInteger()!, ack: header.flags & H2Flags.ack != 0)
        case H2FrameType.goAway:
            try onConnection(header, "GOAWAY")
            guard header.length >= 8 else {
                throw H2ConnectionError(.frameSizeError, "a GOAWAY of \(header.length) bytes (RFC 9113 §6.8)")
            }
            let last = payload.readInteger(as: UInt32.self)! & 0x7fff_ffff
            return .goAway(lastStream: last, code: H2ErrorCode(rawValue: payload.readInteger()!))
        case H2FrameType.windowUpdate:
            try length(header, 4, "WINDOW_UPDATE")
            let increment = payload.readInteger(as: UInt32.self)! & 0x7fff_ffff
            guard increment > 0 else {
                // §6.9: an error of the stream it names, or of the connection on stream 0.
                guard header.stream != 0 else { throw H2ConnectionError(.protocolError, "a WINDOW_UPDATE of 0 (RFC 9113 §6.9)") }
                return .streamError(stream: header.stream, code: .protocolError)
            }
            return .windowUpdate(stream: header.stream, increment: increment)
        case H2FrameType.continuation:
            throw H2ConnectionError(.protocolError, "CONTINUATION without a header block before it (RFC 9113 §6.10)")
        default:
            // Unknown frame types are ignored (§4.1, §5.5).
            return nil
        }
    }

    private func onStream(_ header: Header, _ name: String) throws(H2ConnectionError) {
        guard header.stream != 0 else { throw H2ConnectionError(.protocolError, "\(name) on stream 0 (RFC 9113 §6)") }
    }

    private func onConnection(_ header: Header, _ name: String) throws(H2ConnectionError) {
        guard header.stream == 0 else { throw H2ConnectionError(.protocolError, "\(name) on stream \(header.stream), not 0 (RFC 9113 §6)") }
    }

    private func length(_ header: Header, _ expected: Int, _ name: String) throws(H2ConnectionError) {
        guard header.length == expected else {
            throw H2ConnectionError(.frameSizeError, "\(name) of \(header.length) bytes, not \(expected) (RFC 9113 §6)")
        }
    }

    /// Drops a PADDED frame's Pad Length and padding (RFC 9113 §6.1, §6.2): padding as long as the
    /// payload or longer is a PROTOCOL_ERROR.
    private func unpad(_ header: Header, _ payload: inout ByteBuffer, _ name: String) throws(H2ConnectionError) {
        guard header.flags & H2Flags.padded != 0 else { return }
        guard let padding = payload.readInteger(as: UInt8.self), Int(padding) <= payload.readableBytes else {
            throw H2ConnectionError(.protocolError, "\(name) padded beyond its own length (RFC 9113 §6.1)")
        }
        payload = payload.getSlice(at: payload.readerIndex, length: payload.readableBytes - Int(padding))!
    }

    /// A setting whose value is outside its range is a connection error (RFC 9113 §6.5.2).
    private static func checked(_ setting: H2Setting) throws(H2ConnectionError) -> H2Setting {
        switch setting.parameter {
        case H2Setting.enablePush, H2Setting.enableConnectProtocol:
            guard setting.value <= 1 else {
                throw H2ConnectionError(.protocolError, "setting \(setting.parameter) = \(setting.value), not 0 or 1 (RFC 9113 §6.5.2, RFC 8441 §3)")
            }
        case H2Setting.initialWindowSize:
            guard setting.value <= 0x7fff_ffff else {
                throw H2ConnectionError(.flowControlError, "SETTINGS_INITIAL_WINDOW_SIZE = \(setting.value), above 2^31-1 (RFC 9113 §6.5.2)")
            }
        case H2Setting.maxFrameSize:
            guard (16_384...16_777_215).contains(setting.value) else {
                throw H2ConnectionError(.protocolError, "SETTINGS_MAX_FRAME_SIZE = \(setting.value), outside 16384...16777215 (RFC 9113 §6.5.2)")
            }
        default:
            break
        }
        return setting
    }
}
