import NIOCore
import NIOHTTP1
import Testing

@testable import LatchProxy

/// ``FieldLines``: a node's field lines kept as bytes, some dropped, the rest copied out as they came.
@Suite("FieldLines")
struct FieldLinesTests {
    static func written(_ head: ClientResponseHead) -> String {
        var buffer = ByteBuffer()
        HTTPWire.write(head, into: &buffer)
        return String(buffer: buffer)
    }

    static func parsed(_ raw: String) throws -> NodeResponseHead {
        var bytes = ByteBuffer(string: raw)
        var parser = HTTP1ResponseParser()
        parser.requestSent(method: .GET)
        guard case .head(let head) = try parser.next(&bytes) else { throw HTTPParserError.invalidEOFState }
        return head
    }

    @Test func keptLinesAreCopiedAsTheyCame() throws {
        // Spacing, case and a byte that is not UTF-8 on its own are relayed untouched.
        var raw = ByteBuffer(string: "HTTP/1.1 200 OK\r\nX-A:tight\r\nconnection: close\r\nX-B:  spaced  \r\nX-C: caf")
        raw.writeBytes([0xE9])
        raw.writeString("\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n")
        var parser = HTTP1ResponseParser()
        parser.requestSent(method: .GET)
        guard case .head(let head) = try parser.next(&raw) else {
            Issue.record("no head")
            return
        }
        let out = HeaderRewriter.downstreamResponseHead(head, clientVersion: .http1_1, keepAlive: true, via: ViaPseudonym("latch"))
        var buffer = ByteBuffer()
        HTTPWire.write(out, into: &buffer)
        var expected = ByteBuffer(string: "HTTP/1.1 200 OK\r\nX-A:tight\r\nX-B:  spaced  \r\nX-C: caf")
        expected.writeBytes([0xE9])
        expected.writeString("\r\nContent-Length: 0\r\nVia: 1.1 latch\r\n\r\n")
        #expect(buffer == expected)
    }

    @Test func aViaTheNodeListsInConnectionIsHopByHop() throws {
        let head = try Self.parsed("HTTP/1.1 204 No Content\r\nConnection: via\r\nVia: 1.1 app\r\nX-A: 1\r\n\r\n")
        let out = HeaderRewriter.downstreamResponseHead(head, clientVersion: .http1_1, keepAlive: true, via: ViaPseudonym("latch"))
        #expect(Self.written(out) == "HTTP/1.1 204 No Content\r\nX-A: 1\r\nVia: 1.1 latch\r\n\r\n")
    }

    @Test func droppedByNameInAnyCase() throws {
        var fields = try Self.parsed("HTTP/1.1 204 No Content\r\nX-Node: a\r\nx-node: b\r\nX-Nodes: c\r\n\r\n").fields
        fields.drop(named: "X-NODE")
        #expect(fields.headers.map(\.name) == ["X-Nodes"])
        let out = ClientResponseHead(version: .http1_1, status: .noContent, relayed: fields)
        out.replaceOrAdd(name: "X-Nodes", value: "tomcat1")
        #expect(Self.written(out) == "HTTP/1.1 204 No Content\r\nX-Nodes: tomcat1\r\n\r\n")
    }

    @Test func linesBeyondTheSixtyFourthCanBeDropped() throws {
        let fields = (0..<70).map { "X-\($0): \($0)\r\n" }.joined()
        var lines = try Self.parsed("HTTP/1.1 200 OK\r\n\(fields)Content-Length: 0\r\n\r\n").fields
        lines.drop { line, name, _ in
            let text = String(decoding: name, as: UTF8.self)
            return text == "X-3" || text == "X-66" || line.name == .contentLength
        }
        let names = lines.headers.map(\.name)
        #expect(names.count == 68)
        #expect(!names.contains("X-3") && !names.contains("X-66") && names.contains("X-65") && names.contains("X-69"))
        #expect(lines.values(.contentLength).isEmpty && !lines.contains(.contentLength))
    }

    @Test func pairsThatCannotBeLinesAreLeftOut() {
        let fields = FieldLines(HTTPHeaders([("Good", "1"), ("Bad Name", "2"), ("X-Split", "a\r\nInjected: 1"), ("Set-Cookie", "a=b")]))
        #expect(fields.headers.map { "\($0.name)=\($0.value)" } == ["Good=1", "Set-Cookie=a=b"])
        #expect(fields.values(.setCookie) == ["a=b"])
        let out = ClientResponseHead(version: .http1_0, status: .ok, relayed: fields, via: "1.1 latch")
        #expect(Self.written(out) == "HTTP/1.0 200 OK\r\nGood: 1\r\nSet-Cookie: a=b\r\nVia: 1.1 latch\r\n\r\n")
    }

    @Test func latchsOwnFieldsFollowTheNodes() throws {
        let head = try Self.parsed("HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\nTransfer-Encoding: chunked\r\n\r\n")
        let out = HeaderRewriter.downstreamResponseHead(head, clientVersion: .http1_1, keepAlive: false, via: ViaPseudonym("latch"))
        out.added.append(("Set-Cookie", "owner=; Max-Age=0"))
        out.added.append(("Bad Name", "left out"))
        let framing = ResponseFraming.frame(out, requestMethod: .GET, hasContentLength: false)
        #expect(framing.chunked)
        #expect(
            Self.written(out)
                == "HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\nVia: 1.1 latch\r\nSet-Cookie: owner=; Max-Age=0\r\n"
                + "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(out.headers.map(\.name) == ["Set-Cookie", "Via", "Set-Cookie", "Bad Name", "Connection", "Transfer-Encoding"])
    }
}
