import NIOCore

/// Writes HTTP/2 frames (RFC 9113 §4.1, §6) into a buffer: the server's side of a connection, one
/// buffer per flush, so a tick's frames leave in one TLS record and one write.
enum H2FrameWriter {
    /// The frame header: 24-bit length, type, flags, 31-bit stream id (RFC 9113 §4.1).
    static func header(length: Int, type: UInt8, flags: UInt8, stream: UInt32, into out: inout ByteBuffer) {
        let at = out.writerIndex
        out.reserveCapacity(minimumWritableBytes: 9)
        out.moveWriterIndex(forwardBy: 9)
        setHeader(length: length, type: type, flags: flags, stream: stream, at: at, in: &out)
    }

    private static func setHeader(length: Int, type: UInt8, flags: UInt8, stream: UInt32, at index: Int, in out: inout ByteBuffer) {
        out.setInteger(UInt16(truncatingIfNeeded: length >> 8), at: index)
        out.setInteger(UInt8(truncatingIfNeeded: length), at: index + 2)
        out.setInteger(type, at: index + 3)
        out.setInteger(flags, at: index + 4)
        out.setInteger(stream & 0x7fff_ffff, at: index + 5)
    }

    /// A DATA frame carrying `data` (at most the peer's SETTINGS_MAX_FRAME_SIZE; the caller splits).
    static func data(stream: UInt32, _ data: ByteBuffer, endStream: Bool, into out: inout ByteBuffer) {
        header(length: data.readableBytes, type: H2FrameType.data, flags: endStream ? H2Flags.endStream : 0, stream: stream, into: &out)
        out.writeImmutableBuffer(data)
    }

    /// A header block, HPACK-encoded by `encode` straight into `out` as a HEADERS frame, continued in
    /// CONTINUATION frames when it is larger than `maxFrameSize` (RFC 9113 §6.2, §6.10).
    static func headers(
        stream: UInt32, endStream: Bool, maxFrameSize: Int, into out: inout ByteBuffer, encode: (inout ByteBuffer) throws -> Void
    ) rethrows {
        let start = out.writerIndex
        out.reserveCapacity(minimumWritableBytes: 9)
        out.moveWriterIndex(forwardBy: 9)
        try encode(&out)
        let length = out.writerIndex - start - 9
        let flags = endStream ? H2Flags.endStream : 0
        guard length > maxFrameSize else {
            setHeader(length: length, type: H2FrameType.headers, flags: flags | H2Flags.endHeaders, stream: stream, at: start, in: &out)
            return
        }
        // Rare (a head over 16 KiB): the block is cut into frames from a copy of it.
        var block = out.getSlice(at: start + 9, length: length)!
        out.moveWriterIndex(to: start)
        var type = H2FrameType.headers
        var first = true
        while block.readableBytes > 0 {
            let piece = block.readSlice(length: min(maxFrameSize, block.readableBytes))!
            let last = block.readableBytes == 0
            header(length: piece.readableBytes, type: type, flags: (first ? flags : 0) | (last ? H2Flags.endHeaders : 0), stream: stream, into: &out)
            out.writeImmutableBuffer(piece)
            type = H2FrameType.continuation
            first = false
        }
    }

    /// SETTINGS (RFC 9113 §6.5).
    static func settings(_ settings: [H2Setting], into out: inout ByteBuffer) {
        header(length: settings.count * 6, type: H2FrameType.settings, flags: 0, stream: 0, into: &out)
        for setting in settings {
            out.writeInteger(setting.parameter)
            out.writeInteger(setting.value)
        }
    }

    static func settingsAck(into out: inout ByteBuffer) {
        header(length: 0, type: H2FrameType.settings, flags: H2Flags.ack, stream: 0, into: &out)
    }

    /// A PING's answer carries its payload back (RFC 9113 §6.7).
    static func pingAck(_ opaque: UInt64, into out: inout ByteBuffer) {
        header(length: 8, type: H2FrameType.ping, flags: H2Flags.ack, stream: 0, into: &out)
        out.writeInteger(opaque)
    }

    static func goAway(lastStream: UInt32, code: H2ErrorCode, into out: inout ByteBuffer) {
        header(length: 8, type: H2FrameType.goAway, flags: 0, stream: 0, into: &out)
        out.writeInteger(lastStream & 0x7fff_ffff)
        out.writeInteger(code.rawValue)
    }

    static func rstStream(stream: UInt32, code: H2ErrorCode, into out: inout ByteBuffer) {
        header(length: 4, type: H2FrameType.rstStream, flags: 0, stream: stream, into: &out)
        out.writeInteger(code.rawValue)
    }

    static func windowUpdate(stream: UInt32, increment: Int, into out: inout ByteBuffer) {
        header(length: 4, type: H2FrameType.windowUpdate, flags: 0, stream: stream, into: &out)
        out.writeInteger(UInt32(increment) & 0x7fff_ffff)
    }
}
