import NIOCore
import NIOHTTP1

/// A head's field lines as the bytes they came in, with where each name and value lies and which
/// name it is (``FieldName``), found once by the parser.
///
/// Why not `HTTPHeaders`: it holds two `String`s per field, built from the bytes and written back
/// into bytes for the other side, with a case-insensitive search for each rule that reads a field.
/// Most lines pass through Latch unchanged, so they are kept as they came and copied out as bytes;
/// a `String` is made only for a field someone reads as text (a `Set-Cookie` to look at).
struct FieldLines: Equatable {
    /// One field line: offsets into ``bytes``.
    struct Line: Equatable {
        /// The name's first byte.
        var start: Int32
        var nameEnd: Int32
        var valueStart: Int32
        var valueEnd: Int32
        /// After the line's CRLF (trailing whitespace of the value is between `valueEnd` and it).
        var end: Int32
        var name: FieldName
        /// Whether a line past the 64th goes on (the first 64 are in ``FieldLines``' mask).
        var kept = true
    }

    /// The bytes the lines lie in (a head's, from its first byte): a slice of the read that brought
    /// them (a copy when that read is large: ``HTTP1RequestParser``), or lines written out from pairs.
    /// Only a parser or ``init(_:)`` makes them, which is what lets kept lines be copied out unchecked.
    let bytes: ByteBuffer
    /// As parsed: a head is passed along by value, and changing its lines would copy them, so which
    /// of the first 64 (nearly every head has fewer) go on is a mask beside them.
    private(set) var lines: [Line]
    /// A bit per line of the first 64 that does not go on (``drop(where:)``).
    private var dropped: UInt64 = 0
    /// The names among the lines as parsed, dropped ones included: a field that is not here is
    /// known absent without a walk over the lines.
    private(set) var present = FieldNames()

    init(bytes: ByteBuffer, lines: [Line]) {
        self.bytes = bytes
        self.lines = lines
        for line in lines { present.insert(FieldNames(line.name)) }
    }

    init() {
        self.init(bytes: ByteBuffer(), lines: [])
    }

    /// Fields given as pairs (an HTTP/2 head, a test), written out as lines. As on the wire, a name
    /// that is not a token (RFC 9110 §5.1) or a value holding CR, LF or NUL (§5.5) is left out: nothing
    /// Latch forwards may split into a second field or message.
    init(_ headers: HTTPHeaders) {
        var bytes = ByteBuffer()
        var lines: [Line] = []
        for (name, value) in headers {
            if let line = Self.write(name: name, value: value, to: &bytes) { lines.append(line) }
        }
        self.init(bytes: bytes, lines: lines)
    }

    /// Appends `name: value` and CRLF to `bytes`, unless the name is not a token or the value holds
    /// CR, LF or NUL (then nothing); returns where the line lies.
    @discardableResult
    static func write(name: String, value: String, to bytes: inout ByteBuffer) -> Line? {
        var name = name
        var value = value
        return name.withUTF8 { name in
            value.withUTF8 { value -> Line? in
                guard HTTPWire.isValidName(name), HTTPWire.isValidValue(value) else { return nil }
                let start = bytes.writerIndex
                bytes.writeBytes(name)
                bytes.writeStaticString(": ")
                let valueStart = bytes.writerIndex
                bytes.writeBytes(value)
                let valueEnd = bytes.writerIndex
                bytes.writeStaticString("\r\n")
                return Line(
                    start: Int32(start), nameEnd: Int32(start + name.count), valueStart: Int32(valueStart),
                    valueEnd: Int32(valueEnd), end: Int32(bytes.writerIndex), name: FieldName(name))
            }
        }
    }

    /// Appends `name: value` and CRLF to `bytes`, both already checked by the caller (an HTTP/2
    /// header block's fields, ``ClientRequestHead/check(name:value:)``): a block's bytes are not
    /// scanned twice.
    static func writeChecked(name: String, value: String, to bytes: inout ByteBuffer) {
        assert(
            { var name = name, value = value
              return name.withUTF8(HTTPWire.isValidName) && value.withUTF8(HTTPWire.isValidValue) }(),
            "an unchecked field reached writeChecked")
        bytes.writeString(name)
        bytes.writeInteger(UInt16(0x3A20))  // ": "
        bytes.writeString(value)
        bytes.writeInteger(UInt16(0x0D0A))  // CR LF
    }

    func isKept(_ index: Int) -> Bool {
        index < 64 ? dropped >> UInt64(index) & 1 == 0 : lines[index].kept
    }

    func name(of line: Line) -> String {
        string(Int(line.start)..<Int(line.nameEnd))
    }

    func value(of line: Line) -> String {
        string(Int(line.valueStart)..<Int(line.valueEnd))
    }

    private func string(_ range: Range<Int>) -> String {
        bytes.withUnsafeReadableBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[range]), as: UTF8.self) }
    }

    /// The values of the kept fields called `name`, in order.
    func values(_ name: FieldName) -> [String] {
        guard present.contains(name) else { return [] }
        var values: [String] = []
        for (index, line) in lines.enumerated() where line.name == name && isKept(index) { values.append(value(of: line)) }
        return values
    }

    /// The values of the kept fields called `name` as bytes, valid for the duration of `body`: no
    /// `String` and no array on the heap.
    func withValueBytes<Result>(_ name: FieldName, _ body: (UnsafeBufferPointer<UnsafeRawBufferPointer>) -> Result) -> Result {
        guard present.contains(name) else { return body(UnsafeBufferPointer(start: nil, count: 0)) }
        var count = 0
        for (index, line) in lines.enumerated() where line.name == name && isKept(index) { count += 1 }
        return bytes.withUnsafeReadableBytes { raw in
            withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: max(count, 1)) { values in
                var filled = 0
                for (index, line) in lines.enumerated() where line.name == name && isKept(index) {
                    values[filled] = UnsafeRawBufferPointer(rebasing: raw[Int(line.valueStart)..<Int(line.valueEnd)])
                    filled += 1
                }
                return body(UnsafeBufferPointer(rebasing: values[0..<filled]))
            }
        }
    }

    func contains(_ name: FieldName) -> Bool {
        guard present.contains(name) else { return false }
        return lines.indices.contains { lines[$0].name == name && isKept($0) }
    }

    /// Each kept line with its name and value bytes.
    func forEachKept(_ body: (Line, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        bytes.withUnsafeReadableBytes { bytes in
            for (index, line) in lines.enumerated() where isKept(index) {
                body(
                    line, UnsafeRawBufferPointer(rebasing: bytes[Int(line.start)..<Int(line.nameEnd)]),
                    UnsafeRawBufferPointer(rebasing: bytes[Int(line.valueStart)..<Int(line.valueEnd)]))
            }
        }
    }

    /// Stops the lines `drop` picks (given each kept line with its name and value bytes) from going on.
    mutating func drop(where drop: (Line, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) {
        var first64: UInt64 = 0
        var beyond: [Int] = []
        bytes.withUnsafeReadableBytes { bytes in
            for (index, line) in lines.enumerated() where isKept(index) {
                let name = UnsafeRawBufferPointer(rebasing: bytes[Int(line.start)..<Int(line.nameEnd)])
                let value = UnsafeRawBufferPointer(rebasing: bytes[Int(line.valueStart)..<Int(line.valueEnd)])
                guard drop(line, name, value) else { continue }
                if index < 64 { first64 |= 1 << UInt64(index) } else { beyond.append(index) }
            }
        }
        dropped |= first64
        for index in beyond { lines[index].kept = false }
    }

    /// Stops every line whose name is one of `names` from going on: the usual drop, with no call per line.
    mutating func drop(names: FieldNames) {
        guard present.rawValue & names.rawValue != 0 else { return }
        var first64: UInt64 = 0
        for index in lines.indices.prefix(64) where names.contains(lines[index].name) { first64 |= 1 << UInt64(index) }
        dropped |= first64
        // Apart, so the common case never writes to `lines` (which would copy a table still shared).
        guard lines.count > 64 else { return }
        for index in 64..<lines.count where names.contains(lines[index].name) { lines[index].kept = false }
    }

    /// Stops the lines named `name` (ASCII case-insensitively; a name from configuration) from going on.
    mutating func drop(named name: String) {
        let wanted = Array(name.lowercased().utf8)
        drop { _, candidate, _ in
            candidate.count == wanted.count && zip(candidate, wanted).allSatisfy { byte, lower in
                (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte) == lower
            }
        }
    }

    /// Each kept field with its name lower-case (as HTTP/2 writes names, RFC 9113 §8.2), skipping
    /// the connection-specific ones (§8.2.2), which a node's head has had dropped already.
    func forEachKept(_ body: (String, String) -> Void) {
        for (index, line) in lines.enumerated() where isKept(index) && (line.name == .contentLength || !line.name.isHopByHop) {
            body(lowercasedName(of: line), value(of: line))
        }
    }

    /// A line's name with ASCII upper case lowered, made a string once.
    private func lowercasedName(of line: Line) -> String {
        bytes.withUnsafeReadableBytes { raw in
            let name = UnsafeRawBufferPointer(rebasing: raw[Int(line.start)..<Int(line.nameEnd)])
            guard name.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
                return String(decoding: name, as: UTF8.self)
            }
            // Lowered as the string is made: no array in between (a name of up to 15 bytes is then
            // no allocation at all).
            return String(unsafeUninitializedCapacity: name.count) { out in
                for (at, byte) in name.enumerated() {
                    out[at] = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
                }
                return name.count
            }
        }
    }

    /// The kept fields as pairs (for an HTTP/2 head and for trailers).
    var headers: HTTPHeaders {
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(lines.count)
        for (index, line) in lines.enumerated() where isKept(index) { pairs.append((name(of: line), value(of: line))) }
        return HTTPHeaders(pairs)
    }

    /// Bytes ``copyKept(to:at:)`` writes.
    var keptByteCount: Int {
        var count = 0
        for (index, line) in lines.enumerated() where isKept(index) { count += Int(line.end - line.start) }
        return count
    }

    /// Copies the kept lines as they came (CRLFs included) to `out` from `offset`; returns the offset
    /// after them. Neighbouring kept lines are one run of bytes in the source, copied at once.
    func copyKept(to out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        bytes.withUnsafeReadableBytes { source in
            var at = offset
            var runStart = -1
            var runEnd = -1
            func flush() {
                guard runStart >= 0, runEnd > runStart else { return }
                (out.baseAddress! + at).copyMemory(from: source.baseAddress! + runStart, byteCount: runEnd - runStart)
                at += runEnd - runStart
            }
            for (index, line) in lines.enumerated() where isKept(index) {
                if Int(line.start) != runEnd {
                    flush()
                    runStart = Int(line.start)
                }
                runEnd = Int(line.end)
            }
            flush()
            return at
        }
    }
}
