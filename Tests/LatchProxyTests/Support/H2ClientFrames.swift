import NIOCore
import NIOHPACK

@testable import LatchProxy

extension H2FrameWriter {
    /// A client's HEADERS (and CONTINUATION) frames, the block encoded by swift-nio-http2's HPACK
    /// encoder: another implementation than the one Latch answers with, so the two check each other.
    static func headers(
        stream: UInt32, _ fields: HPACKHeaders, endStream: Bool, maxFrameSize: Int, encoder: inout HPACKEncoder, into out: inout ByteBuffer
    ) throws {
        try headers(stream: stream, endStream: endStream, maxFrameSize: maxFrameSize, into: &out) { try encoder.encode(headers: fields, to: &$0) }
    }
}
