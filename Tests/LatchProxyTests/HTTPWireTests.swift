import NIOCore
import NIOHTTP1
import Testing

@testable import LatchProxy

@Suite("HTTP/1.1 heads and framing written as bytes")
struct HTTPWireTests {
    private func text(_ write: (inout ByteBuffer) -> Void) -> String {
        var buffer = ByteBuffer()
        write(&buffer)
        return String(buffer: buffer)
    }

    @Test func responseHead() {
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "5", "X-A": "b c"])
        #expect(text { HTTPWire.write(head, into: &$0) } == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b c\r\n\r\n")
        let old = HTTPResponseHead(version: .http1_0, status: .init(statusCode: 599, reasonPhrase: "Odd"), headers: [:])
        #expect(text { HTTPWire.write(old, into: &$0) } == "HTTP/1.0 599 Odd\r\n\r\n")
    }

    @Test func fieldsThroughTheCursor() {
        let written = text { buffer in
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 256) { out in
                var wire = WireCursor(out)
                wire.writeField("Host", "x")
                wire.writeField("Bad Name", "dropped")
                wire.writeField("X-Split", "a\r\nInjected: 1")
                for length in [0, 7, 10, 1_234_567_890] { wire.writeContentLength(length) }
                return wire.at
            }
        }
        #expect(
            written
                == "Host: x\r\nContent-Length: 0\r\nContent-Length: 7\r\nContent-Length: 10\r\nContent-Length: 1234567890\r\n")
    }

    @Test(arguments: [
        ("Bad Name", "v"), ("X-A:", "v"), ("", "v"), ("X(A)", "v"),
        ("X-A", "v\r\nInjected: yes"), ("X-A", "v\nInjected: yes"), ("X-A", "v\u{0}"),
    ])
    func invalidFieldsAreLeftOut(name: String, value: String) {
        var headers = HTTPHeaders()
        headers.add(name: "Before", value: "1")
        headers.add(name: name, value: value)
        headers.add(name: "After", value: "2")
        #expect(text { HTTPWire.write(headers, into: &$0) } == "Before: 1\r\nAfter: 2\r\n\r\n")
    }

    @Test func validFieldsPassAsTheyAre() {
        let headers: HTTPHeaders = ["X-Tok!#$%&'*+-.^_`|~09az": "tab\tand obs-text \u{e9}", "Set-Cookie": "a=b; Path=/"]
        #expect(text { HTTPWire.write(headers, into: &$0) } == "X-Tok!#$%&'*+-.^_`|~09az: tab\tand obs-text \u{e9}\r\nSet-Cookie: a=b; Path=/\r\n\r\n")
    }

    @Test func chunks() {
        #expect(text { HTTPWire.writeChunk(ByteBuffer(string: String(repeating: "x", count: 26)), into: &$0) }
            == "1a\r\n" + String(repeating: "x", count: 26) + "\r\n")
        #expect(text { HTTPWire.writeChunk(ByteBuffer(), into: &$0) } == "", "an empty part would end the body")
        #expect(text { HTTPWire.writeLastChunk(trailers: nil, into: &$0) } == "0\r\n\r\n")
        #expect(text { HTTPWire.writeLastChunk(trailers: ["X-Sum": "7"], into: &$0) } == "0\r\nX-Sum: 7\r\n\r\n")
    }

    struct FramingCase: Sendable, CustomTestStringConvertible {
        var status: HTTPResponseStatus
        var version: HTTPVersion = .http1_1
        var method: HTTPMethod = .GET
        var headers: HTTPHeaders = [:]
        var chunked: Bool
        var suppressBody: Bool
        var framingFields: [String]
        var testDescription: String { "\(method) \(status.code) HTTP/1.\(version.minor) \(headers.map(\.name))" }
    }

    @Test(arguments: [
        FramingCase(status: .ok, headers: ["Content-Length": "3"], chunked: false, suppressBody: false, framingFields: ["Content-Length: 3"]),
        FramingCase(status: .ok, chunked: true, suppressBody: false, framingFields: ["Transfer-Encoding: chunked"]),
        FramingCase(status: .ok, version: .http1_0, chunked: false, suppressBody: false, framingFields: []),
        FramingCase(status: .ok, method: .HEAD, chunked: false, suppressBody: true, framingFields: ["Transfer-Encoding: chunked"]),
        FramingCase(status: .ok, method: .HEAD, headers: ["Content-Length": "12"], chunked: false, suppressBody: true, framingFields: ["Content-Length: 12"]),
        FramingCase(status: .noContent, headers: ["Content-Length": "0"], chunked: false, suppressBody: true, framingFields: []),
        FramingCase(status: .notModified, headers: ["Content-Length": "9"], chunked: false, suppressBody: true, framingFields: []),
        FramingCase(status: .continue, chunked: false, suppressBody: true, framingFields: []),
    ])
    func responseFraming(_ row: FramingCase) {
        let head = ClientResponseHead(version: row.version, status: row.status, relayed: FieldLines(row.headers))
        let framing = ResponseFraming.frame(
            head, requestMethod: row.method, hasContentLength: row.headers.contains(name: "content-length"))
        #expect(framing.chunked == row.chunked)
        #expect(framing.suppressBody == row.suppressBody)
        #expect(head.headers.map { "\($0.name): \($0.value)" } == row.framingFields)
    }

    struct RequestFramingCase: Sendable, CustomTestStringConvertible {
        var method: HTTPMethod
        var chunked = false
        var contentLength: Int?
        var framing: RequestFraming
        var testDescription: String { "\(method) chunked: \(chunked) length: \(contentLength.map(String.init) ?? "-")" }
    }

    @Test(arguments: [
        RequestFramingCase(method: .GET, framing: .none),
        RequestFramingCase(method: .GET, contentLength: 3, framing: .length(3)),
        RequestFramingCase(method: .DELETE, chunked: true, framing: .chunked),
        RequestFramingCase(method: .POST, framing: .chunked),
        RequestFramingCase(method: .POST, contentLength: 0, framing: .length(0)),
        RequestFramingCase(method: .PUT, chunked: true, framing: .chunked),
        RequestFramingCase(method: .TRACE, contentLength: 3, framing: .none),
        RequestFramingCase(method: .TRACE, chunked: true, framing: .none),
    ])
    func requestFraming(_ row: RequestFramingCase) {
        #expect(RequestFraming.framing(method: row.method, chunked: row.chunked, contentLength: row.contentLength) == row.framing)
    }

    static func field(_ name: String) -> FieldName {
        Array(name.utf8).withUnsafeBufferPointer { FieldName($0) }
    }

    @Test func fieldNamesAreRecognisedInAnyCase() {
        let known: [(String, FieldName)] = [
            ("te", .te), ("via", .via), ("host", .host), ("expect", .expect), ("upgrade", .upgrade),
            ("forwarded", .forwarded), ("x-real-ip", .xRealIP), ("connection", .connection),
            ("keep-alive", .keepAlive), ("content-length", .contentLength), ("x-forwarded-for", .xForwardedFor),
            ("proxy-connection", .proxyConnection), ("x-forwarded-host", .xForwardedHost),
            ("transfer-encoding", .transferEncoding), ("x-forwarded-proto", .xForwardedProto),
            ("set-cookie", .setCookie), ("cookie", .cookie), ("referer", .referer), ("user-agent", .userAgent),
        ]
        for (name, field) in known {
            #expect(Self.field(name) == field)
            #expect(Self.field(name.uppercased()) == field)
            #expect(Self.field(name.prefix(1).uppercased() + name.dropFirst()) == field)
            #expect(Self.field(name + "x") == .other)
            #expect(Self.field("x" + name.dropFirst()) == .other || name.hasPrefix("x"))
        }
        #expect(Self.field("Content-Lengtj") == .other)
        #expect(Self.field("") == .other)
        #expect(Self.field("Cookie").isHopByHop == false)
        #expect(Self.field("Keep-Alive").isHopByHop)
    }
}


@Suite("Response fields: one pass over a node's head")
struct ResponseFieldsTests {
    static func fields(_ headers: [(String, String)]) throws -> ResponseFields { try NodeResponseHead.parsed(.ok, headers).facts }

    @Test func framingFields() throws {
        let fields = try Self.fields([("Content-Length", "12"), ("Set-Cookie", "a=b")])
        #expect(fields.contentLength == 12)
        #expect(!fields.transferEncoding)
        #expect(fields.setCookie)
        #expect(try Self.fields([("TRANSFER-ENCODING", "chunked")]).transferEncoding)
    }

    /// The same answers as NIOHTTP1's `isKeepAlive`, which this replaces on the response path.
    @Test(arguments: [
        [("Connection", "close")], [("Connection", "keep-alive")], [("Connection", "Keep-Alive, Upgrade")],
        [("Connection", " CLOSE ")], [("Connection", "keep-alive"), ("Connection", "close")], [("Connection", "upgrade")], [],
    ])
    func keepAliveAsNIOHTTP1Decides(_ headers: [(String, String)]) throws {
        for version in [HTTPVersion.http1_0, .http1_1] {
            let head = HTTPResponseHead(version: version, status: .ok, headers: HTTPHeaders(headers))
            let keepAlive = try Self.fields(headers).isKeepAlive(version)
            #expect(keepAlive == head.isKeepAlive, "\(headers) \(version)")
        }
    }
}
