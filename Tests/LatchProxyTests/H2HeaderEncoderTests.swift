import NIOCore
import NIOHPACK
import NIOHTTP1
import Testing

@testable import LatchProxy

/// Latch's HPACK encoder (RFC 7541) for response heads, read back by swift-nio-http2's decoder: the
/// fields come out as they went in, names lower-case, in few bytes where the static table helps,
/// and nothing lands in the decoder's dynamic table.
@Suite("HPACK encoder for response heads")
struct H2HeaderEncoderTests {
    /// What a client's decoder reads from the block Latch writes.
    static func written(_ block: H2HeaderEncoder.Block, tableSizeUpdate: Bool = false) -> HPACKHeaders {
        var bytes = ByteBuffer()
        if tableSizeUpdate { H2HeaderEncoder.noDynamicTable(into: &bytes) }
        H2HeaderEncoder.encode(block, into: &bytes)
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator(), maxDynamicTableSize: 4096, maxHeaderListSize: 1 << 20)
        do {
            let fields = try decoder.decodeHeaders(from: &bytes)
            // A field added to the table would decode as `.indexable`; only an indexed `:status` may.
            #expect(fields.allSatisfy { $0.indexable != .indexable || $0.name == ":status" }, "nothing added to the dynamic table")
            return fields
        } catch {
            Issue.record("the block does not decode: \(error)")
            return [:]
        }
    }

    static func bytes(_ block: H2HeaderEncoder.Block) -> [UInt8] {
        var bytes = ByteBuffer()
        H2HeaderEncoder.encode(block, into: &bytes)
        return Array(bytes.readableBytesView)
    }

    @Test("the static table's status codes are one byte; the others a literal", arguments: [200, 204, 206, 304, 400, 404, 500, 101, 201, 302, 503, 599])
    func status(code: Int) {
        let fields: HPACKHeaders = [":status": String(code)]
        #expect(Self.written(.fields(fields)).map(\.value) == [String(code)])
        let indexed = [200, 204, 206, 304, 400, 404, 500].contains(code)
        #expect(Self.bytes(.fields(fields)).count == (indexed ? 1 : 5))
    }

    @Test("names from the static table are an index, others written lower-case; values as they are")
    func fields() {
        let relayed = FieldLines(HTTPHeaders([
            ("Content-Type", "text/html; charset=utf-8"), ("X-Powered-By", "Tomcat"), ("ETag", "\"abc\""),
            ("Access-Control-Allow-Origin", "*"), ("X-Empty", ""),
        ]))
        let head = ClientResponseHead(version: .http1_1, status: .ok, relayed: relayed, via: "1.1 tomcat1")
        head.added = [("X-Latch-Node", "tomcat1")]
        #expect(Self.written(.head(head)).map { "\($0.name): \($0.value)" } == [
            ":status: 200", "content-type: text/html; charset=utf-8", "x-powered-by: Tomcat", "etag: \"abc\"",
            "access-control-allow-origin: *", "x-empty: ", "via: 1.1 tomcat1", "x-latch-node: tomcat1",
        ])
        // content-type: its index (31 = 15 + 16) in two bytes, then the value's length and bytes.
        #expect(Self.bytes(.fields(["content-type": "a"])) == [0x0F, 0x10, 0x01, UInt8(ascii: "a")])
    }

    @Test("lengths past a prefix continue in 7-bit groups (RFC 7541 §5.1)", arguments: [126, 127, 128, 255, 16_383, 16_384, 100_000])
    func longValues(length: Int) {
        let value = String(repeating: "v", count: length)
        let name = String(repeating: "n", count: length % 200 + 1)
        #expect(Self.written(.fields([name: value])).map { "\($0.name.count) \($0.value.count)" } == ["\(name.count) \(length)"])
    }

    @Test("the table size update to zero opens a block and is read as such")
    func tableSizeUpdate() {
        #expect(Self.written(.fields([":status": "200", "server": "latch"]), tableSizeUpdate: true).map(\.name) == [":status", "server"])
    }

    @Test("every static table name is found, in any case; nothing else is")
    func staticNames() {
        for (name, index) in H2HeaderEncoder.names {
            for candidate in [name, name.uppercased()] {
                var bytes = Array(candidate.utf8)
                #expect(bytes.withUnsafeMutableBytes { H2HeaderEncoder.staticIndex(of: UnsafeRawBufferPointer($0)) } == index, "\(candidate)")
            }
        }
        for other in ["", "x", "content-typ", "content-types", "set-cookie2", String(repeating: "a", count: 40)] {
            var bytes = Array(other.utf8)
            #expect(bytes.withUnsafeMutableBytes { H2HeaderEncoder.staticIndex(of: UnsafeRawBufferPointer($0)) } == nil, "\(other)")
        }
    }
}
