import Foundation
import LatchCore
import NIOCore
import NIOHTTP1
import NIOHTTP2
import Testing

/// Many streams at once on one HTTP/2 connection, each with a body both ways: what a browser does to
/// a page's resources, and what any change to how Latch handles streams must keep exactly.
@Suite("HTTP/2: many streams with bodies on one connection", .timeLimit(.minutes(1)))
struct HTTP2StreamsLiveTests {
    static let streams = 100

    /// A body unique to its stream and direction, sized so some streams exceed the 64 KiB stream
    /// window and all of them together the connection's many times over.
    static func body(stream: Int, _ direction: String, node: String = "") -> String {
        let size = 1_000 + stream * 997 + (direction == "down" ? 311 : 0)
        let unit = "<\(direction) \(stream) \(node)>"
        return String(String(repeating: unit, count: size / unit.utf8.count + 1).prefix(size))
    }

    static func stream(ofPath uri: String) -> Int {
        Int(uri.split(separator: "=").last ?? "") ?? -1
    }

    @Test("100 concurrent streams on one connection reach three sticky nodes, every byte intact both ways")
    func hundredStreamsWithBodies() async throws {
        try await HTTP2LiveTests.withH2Latch(reply: { node, head in
            .text(body: Self.body(stream: Self.stream(ofPath: head.uri), "down", node: node))
        }) { h, _, pki in
            let client = try await RawHTTP2Client.connect(port: h.port, group: h.group, trusting: pki.authority.caPEM)
            let answers = try await withThrowingTaskGroup(of: (Int, RawHTTP2Client.Answer).self) { group in
                for i in 0..<Self.streams {
                    let up = Self.body(stream: i, "up")
                    group.addTask {
                        let answer = try await client.send([
                            (":method", "POST"), (":scheme", "https"), (":authority", "localhost:\(h.port)"),
                            (":path", "/streams?i=\(i)"), ("cookie", "JSESSIONID=S\(i).tomcat\(i % 3 + 1)"),
                            ("content-length", String(up.utf8.count)),
                        ], body: up, within: .seconds(40))
                        return (i, answer)
                    }
                }
                var all: [Int: RawHTTP2Client.Answer] = [:]
                for try await (i, answer) in group { all[i] = answer }
                return all
            }
            await client.close()

            #expect(answers.count == Self.streams)
            for i in 0..<Self.streams {
                let answer = try #require(answers[i])
                let node = "tomcat\(i % 3 + 1)"
                #expect(answer.status == "200", "stream \(i): \(answer)")
                #expect(answer.reset == nil, "stream \(i)")
                // The node's own answer, from the session's node, byte for byte.
                #expect(answer.body == Self.body(stream: i, "down", node: node), "stream \(i): \(answer.body.utf8.count) bytes")
            }
            var seen = 0
            for backend in h.backends {
                for request in backend.requests {
                    seen += 1
                    let i = Self.stream(ofPath: request.head.uri)
                    #expect(backend.name == "tomcat\(i % 3 + 1)", "stream \(i) went to its session's node")
                    var expected = StreamChecksum()
                    expected.update(ByteBuffer(string: Self.body(stream: i, "up")))
                    #expect(request.bodyBytes == expected.count, "stream \(i)'s upload arrived whole")
                    #expect(request.checksum == expected.final, "stream \(i)'s upload arrived intact")
                }
            }
            #expect(seen == Self.streams, "each request reached a node once")
        }
    }

    @Test("an idle connection gets GOAWAY before it is closed (RFC 9113 §6.8): the frame is not lost to the close")
    func idleConnectionGetsGoAway() async throws {
        // No request at all (one could race the short idle time on a loaded machine): the connection
        // is idle from the start, and the GOAWAY names stream 0.
        try await HTTP2LiveTests.withH2Latch(configure: { $0.timeouts.idle = .milliseconds(300) }) { h, _, pki in
            let client = try await RawHTTP2Client.connect(port: h.port, group: h.group, trusting: pki.authority.caPEM)
            #expect(try await eventually(within: .seconds(5)) { client.isClosed }, "closed after idle")
            #expect(client.goAways == [HTTP2StreamID(0)], "told first")
            await client.close()
        }
    }

    @Test("shutdown with a stream in flight: GOAWAY first, the stream's whole answer, then the close")
    func shutdownFinishesTheStreamInFlight() async throws {
        try await HTTP2LiveTests.withH2Latch(reply: { _, _ in .delayed(.milliseconds(400), body: "late but whole") }) { h, _, pki in
            let client = try await RawHTTP2Client.connect(port: h.port, group: h.group, trusting: pki.authority.caPEM)
            async let answer = client.send([
                (":method", "GET"), (":scheme", "https"), (":authority", "localhost:\(h.port)"), (":path", "/slow"),
            ])
            #expect(try await eventually { h.backends.contains { !$0.requests.isEmpty } || h.server.activeRequests(cluster: 0).reduce(0, +) > 0 })
            async let stopped: Void = h.server.shutdown(grace: .seconds(5))
            let got = try await answer
            await stopped
            #expect(got.status == "200")
            #expect(got.body == "late but whole")
            #expect(got.reset == nil)
            #expect(client.goAways == [HTTP2StreamID(1)], "GOAWAY names the stream in flight as served")
            #expect(try await eventually(within: .seconds(5)) { client.isClosed })
            await client.close()
        }
    }
}
