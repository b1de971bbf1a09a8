import NIOCore

/// An HTTP/2 error code (RFC 9113 §7), as RST_STREAM and GOAWAY carry it. Codes Latch does not know
/// are kept as they came: §7 says an unknown code means nothing special and must not trigger anything.
struct H2ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    let rawValue: UInt32
    init(rawValue: UInt32) { self.rawValue = rawValue }

    static let noError = H2ErrorCode(rawValue: 0x0)
    static let protocolError = H2ErrorCode(rawValue: 0x1)
    static let internalError = H2ErrorCode(rawValue: 0x2)
    static let flowControlError = H2ErrorCode(rawValue: 0x3)
    static let settingsTimeout = H2ErrorCode(rawValue: 0x4)
    static let streamClosed = H2ErrorCode(rawValue: 0x5)
    static let frameSizeError = H2ErrorCode(rawValue: 0x6)
    static let refusedStream = H2ErrorCode(rawValue: 0x7)
    static let cancel = H2ErrorCode(rawValue: 0x8)
    static let compressionError = H2ErrorCode(rawValue: 0x9)
    static let connectError = H2ErrorCode(rawValue: 0xa)
    static let enhanceYourCalm = H2ErrorCode(rawValue: 0xb)
    static let inadequateSecurity = H2ErrorCode(rawValue: 0xc)
    static let http11Required = H2ErrorCode(rawValue: 0xd)

    var description: String {
        let names = [
            "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
            "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
        ]
        return rawValue < names.count ? names[Int(rawValue)] : "0x\(String(rawValue, radix: 16))"
    }
}

/// A fault that ends the whole connection (RFC 9113 §5.4.1): GOAWAY with `code`, then close.
/// `reason` is for the log; it is not sent (a GOAWAY's debug data would tell a probing client more
/// than it needs).
struct H2ConnectionError: Error, Equatable, CustomStringConvertible {
    let code: H2ErrorCode
    let reason: String

    init(_ code: H2ErrorCode, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    var description: String { "\(code): \(reason)" }
}

/// One SETTINGS parameter (RFC 9113 §6.5.2; RFC 8441 §3 for ENABLE_CONNECT_PROTOCOL), its value
/// already checked against the parameter's range.
struct H2Setting: Equatable, Sendable {
    let parameter: UInt16
    let value: UInt32

    static let headerTableSize: UInt16 = 0x1
    static let enablePush: UInt16 = 0x2
    static let maxConcurrentStreams: UInt16 = 0x3
    static let initialWindowSize: UInt16 = 0x4
    static let maxFrameSize: UInt16 = 0x5
    static let maxHeaderListSize: UInt16 = 0x6
    static let enableConnectProtocol: UInt16 = 0x8
}

/// A frame as the client sent it, checked for everything that needs no knowledge of the connection's
/// streams (RFC 9113 §4, §6): lengths, stream 0 or not, padding, setting values. A header block split
/// over CONTINUATION frames arrives whole, as one `headers`.
enum H2Frame: Equatable {
    /// `flowControlled`: the frame's whole payload, padding included, which is what flow control
    /// counts (RFC 9113 §6.9.1).
    case data(stream: UInt32, data: ByteBuffer, endStream: Bool, flowControlled: Int)
    /// `dependsOnItself`: a priority (HEADERS' PRIORITY flag) naming the stream itself, a stream
    /// error (RFC 9113 §5.3.1), which is answered once the block has gone through HPACK (the
    /// decoder's table must see every block, §4.3).
    case headers(stream: UInt32, block: ByteBuffer, endStream: Bool, dependsOnItself: Bool)
    /// A PRIORITY frame: ignored beyond its checks (RFC 9113 §5.3.2 deprecates the scheme).
    case priority(stream: UInt32)
    case rstStream(stream: UInt32, code: H2ErrorCode)
    case settings([H2Setting])
    case settingsAck
    case ping(UInt64, ack: Bool)
    case goAway(lastStream: UInt32, code: H2ErrorCode)
    case windowUpdate(stream: UInt32, increment: UInt32)
    /// A fault confined to one stream (RFC 9113 §5.4.2): RST_STREAM with `code`, the connection goes on.
    case streamError(stream: UInt32, code: H2ErrorCode)
}

/// The frame types and flags of RFC 9113 §6.
enum H2FrameType {
    static let data: UInt8 = 0x0
    static let headers: UInt8 = 0x1
    static let priority: UInt8 = 0x2
    static let rstStream: UInt8 = 0x3
    static let settings: UInt8 = 0x4
    static let pushPromise: UInt8 = 0x5
    static let ping: UInt8 = 0x6
    static let goAway: UInt8 = 0x7
    static let windowUpdate: UInt8 = 0x8
    static let continuation: UInt8 = 0x9
}

enum H2Flags {
    static let endStream: UInt8 = 0x1
    static let ack: UInt8 = 0x1
    static let endHeaders: UInt8 = 0x4
    static let padded: UInt8 = 0x8
    static let priority: UInt8 = 0x20
}
