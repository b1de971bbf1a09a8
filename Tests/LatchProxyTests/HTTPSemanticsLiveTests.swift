import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Testing

@Suite("HTTP/1.1 semantics through a live Latch", .timeLimit(.minutes(1)))
struct HTTPSemanticsLiveTests {
    @Test("Expect: 100-continue reaches the node, its 100 reaches the client before the body is sent")
    func expectContinue() async throws {
        try await withLatch(reply: { _, _ in .echoBodyChecksum }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send(
                "PUT /up HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
            )
            let interim = try await client.wait { text, _ in text.contains("\r\n\r\n") }
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue\r\n"))
            try await client.send("hello")
            let text = try await client.wait { text, _ in text.contains("bytes=") }
            await client.close()
            #expect(text.contains("HTTP/1.1 200 OK"))
            #expect(text.contains("bytes=5 "))
            #expect(h.backend("tomcat1").requests.first?.head.headers["expect"] == ["100-continue"])
        }
    }

    @Test("HEAD, 204 and 304 carry no body and the connection stays usable")
    func bodilessResponses() async throws {
        try await withLatch(reply: { _, head in
            switch head.uri {
            case "/204": .text(status: .noContent, body: "")
            case "/304": .text(status: .notModified, headers: [("ETag", "\"v1\"")], body: "")
            default: .text(body: "twelve bytes")
            }
        }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send(
                "HEAD / HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\n\r\n"
                    + "GET /204 HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\n\r\n"
                    + "GET /304 HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\n\r\n"
                    + "GET / HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=A.tomcat1\r\n\r\n"
            )
            let text = try await client.wait { text, _ in text.hasSuffix("twelve bytes") }
            await client.close()
            let heads = text.components(separatedBy: "HTTP/1.1 ").dropFirst()
            #expect(heads.count == 4)
            let parts = Array(heads)
            #expect(parts[0].hasPrefix("200 OK") && parts[0].lowercased().contains("content-length: 12") && parts[0].hasSuffix("\r\n\r\n"))
            #expect(parts[1].hasPrefix("204 No Content") && parts[1].hasSuffix("\r\n\r\n"))
            #expect(parts[2].hasPrefix("304 Not Modified") && parts[2].hasSuffix("\r\n\r\n"))
            #expect(parts[3].hasPrefix("200 OK") && parts[3].hasSuffix("\r\n\r\ntwelve bytes"))
            #expect(h.backend("tomcat1").accepted == 1, "one pooled upstream connection served all four")
        }
    }

    @Test("an HTTP/1.0 client gets an HTTP/1.0 answer without chunking, closed when the length is unknown")
    func http10Client() async throws {
        try await withLatch(reply: { _, _ in .download(bytes: 1000, chunked: true) }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            let text = try await client.wait { _, closed in closed }
            #expect(text.hasPrefix("HTTP/1.0 200 OK\r\n"))
            #expect(!text.lowercased().contains("transfer-encoding"))
            let bytes = client.bytes
            let headEnd = try #require(text.range(of: "\r\n\r\n")).upperBound.utf16Offset(in: text)
            #expect(bytes.count - headEnd == 1000, "the body is the 1000 raw bytes, delimited by the close")
        }
    }

    @Test("pipelined requests are answered in order")
    func pipelining() async throws {
        try await withLatch(reply: { name, head in .text(body: "\(name)\(head.uri)") }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            var batch = ""
            for (i, node) in ["tomcat3", "tomcat1", "tomcat2", "tomcat3"].enumerated() {
                batch += "GET /\(i) HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=P.\(node)\r\n\r\n"
            }
            try await client.send(batch)
            let text = try await client.wait { text, _ in text.contains("tomcat3/3") }
            await client.close()
            let order = ["tomcat3/0", "tomcat1/1", "tomcat2/2", "tomcat3/3"].map { text.range(of: $0)?.lowerBound }
            #expect(order.allSatisfy { $0 != nil })
            #expect(order.compactMap { $0 } == order.compactMap { $0 }.sorted())
        }
    }

    @Test("a request sent while the previous response is under way waits for it and is answered after it")
    func pipelinedDuringResponse() async throws {
        try await withLatch(reply: { name, head in
            head.uri == "/slow" ? .delayed(.milliseconds(300), body: "\(name)/slow") : .text(body: "\(name)\(head.uri)")
        }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("GET /slow HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=P.tomcat1\r\n\r\n")
            _ = try await eventually { h.backend("tomcat1").requests.contains { $0.head.uri == "/slow" } }
            try await client.send("GET /next HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=P.tomcat2\r\n\r\n")
            let text = try await client.wait { text, _ in text.contains("tomcat2/next") }
            await client.close()
            let slow = try #require(text.range(of: "tomcat1/slow"))
            let next = try #require(text.range(of: "tomcat2/next"))
            #expect(slow.lowerBound < next.lowerBound)
            #expect(text.count(of: "HTTP/1.1 200 OK") == 2)
        }
    }

    @Test("a client that half-closes after its request still gets the whole answer, then the connection closes")
    func halfClosedClient() async throws {
        try await withLatch(reply: { name, _ in .delayed(.milliseconds(300), body: "answer from \(name)") }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("GET / HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=H.tomcat2\r\n\r\n")
            try await client.closeOutput()
            let text = try await client.wait { _, closed in closed }
            await client.close()
            // Whether the head still says `Connection: close` depends on whether the FIN arrived
            // before the node's answer; either way the answer is whole and the connection ends.
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(text.hasSuffix("answer from tomcat2"))
            #expect(client.isClosed)
        }
    }

    @Test("Latch's own answer to HEAD has the fields of a GET's and no body, and the connection stays usable")
    func headAnsweredByLatch() async throws {
        try await withLatch(configure: { config in
            for i in config.clusters[0].nodes.indices { config.clusters[0].nodes[i].state = .maintenance }
        }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
            let text = try await client.wait { text, _ in text.hasSuffix("no application server is available\n") }
            await client.close()
            let answers = text.components(separatedBy: "HTTP/1.1 503 Service Unavailable\r\n").dropFirst()
            #expect(answers.count == 2)
            let head = try #require(answers.first)
            #expect(head.lowercased().contains("content-length: "))
            #expect(head.hasSuffix("\r\n\r\n"), "no body after the HEAD answer's head")
            #expect(answers.last?.hasSuffix("\r\n\r\n503 Service Unavailable: no application server is available\n") == true)
        }
    }
}
