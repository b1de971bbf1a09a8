import AsyncHTTPClient
import Foundation
import LatchCore
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

/// HTTP/2 on a TLS listener: AsyncHTTPClient negotiates `h2` by ALPN and sends many requests as
/// streams of one connection; Latch sends each to its sticky node over HTTP/1.1.
@Suite("HTTP/2 on the client side", .timeLimit(.minutes(1)))
struct HTTP2LiveTests {
    /// An HTTP/2-capable client trusting `pki`'s CA (`localhost` is what its certificates name).
    static func client(_ h: LatchHarness, _ pki: TestPKI, http2: Bool = true) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pki.authority.caPEM.utf8)))
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: .seconds(5), read: .seconds(30)))
        configuration.httpVersion = http2 ? .automatic : .http1Only
        return HTTPClient(eventLoopGroupProvider: .shared(h.group), configuration: configuration)
    }

    static func withH2Latch(
        nodes: [String] = ["tomcat1", "tomcat2", "tomcat3"],
        configure: @escaping (inout LatchConfig) -> Void = { _ in },
        reply: @escaping @Sendable (String, HTTPRequestHead) -> BackendReply = { _, _ in .text(body: "hello") },
        _ body: (LatchHarness, HTTPClient, TestPKI) async throws -> Void
    ) async throws {
        let pki = try TestPKI()
        let files = try pki.write(names: ["localhost"], base: "localhost")
        try await withLatch(nodes: nodes, configure: { config in
            config.listeners[0].tls = TLSListenerConfig(certificates: [files])
            configure(&config)
        }, reply: reply) { h in
            let client = try Self.client(h, pki)
            do {
                try await body(h, client, pki)
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }

    @Test("many concurrent streams on one connection each reach their session's node")
    func streamsAreStickyEach() async throws {
        try await Self.withH2Latch { h, client, _ in
            let url = "https://localhost:\(h.port)/cart"
            let answers = try await withThrowingTaskGroup(of: (Int, String?, HTTPVersion).self) { group in
                for i in 0..<30 {
                    group.addTask {
                        var request = HTTPClientRequest(url: url + "?i=\(i)")
                        request.headers.add(name: "Cookie", value: "other=1")
                        request.headers.add(name: "Cookie", value: "JSESSIONID=S\(i).tomcat\(i % 3 + 1)")
                        let response = try await client.execute(request, timeout: .seconds(20))
                        _ = try await response.body.collect(upTo: 1024)
                        return (i, response.headers.first(name: "X-Backend-Node"), response.version)
                    }
                }
                var all: [(Int, String?, HTTPVersion)] = []
                for try await answer in group { all.append(answer) }
                return all
            }
            #expect(answers.count == 30)
            for (i, node, version) in answers {
                #expect(version == .http2)
                #expect(node == "tomcat\(i % 3 + 1)", "request \(i)")
            }
            let seen = h.backends.flatMap(\.requests)
            #expect(seen.count == 30)
            let first = try #require(seen.first)
            // To the node: HTTP/1.1 with one Cookie field (RFC 9113 §8.2.3), the protocol it came in.
            #expect(first.head.version == .http1_1)
            #expect(first.head.headers["cookie"].count == 1)
            #expect(first.head.headers["cookie"].first?.hasPrefix("other=1; JSESSIONID=S") == true)
            #expect(first.head.headers["via"] == ["2 latch"])
            #expect(first.head.headers["x-forwarded-proto"] == ["https"])
            #expect(first.head.headers["host"] == ["localhost:\(h.port)"])
        }
    }

    @Test("bodies both ways: an upload and a download larger than the flow-control windows")
    func bodiesBothWays() async throws {
        let size = 8 * 1024 * 1024 + 5
        let expected = PatternBody.expectedChecksum(total: size)
        try await Self.withH2Latch(reply: { _, head in
            head.method == .PUT ? .echoBodyChecksum : .download(bytes: size, chunked: true)
        }) { h, client, _ in
            var upload = HTTPClientRequest(url: "https://localhost:\(h.port)/upload")
            upload.method = .PUT
            upload.headers.add(name: "Cookie", value: "JSESSIONID=U.tomcat2")
            upload.body = .stream(PatternBody(total: size), length: .known(Int64(size)))
            let uploaded = try await client.execute(upload, timeout: .seconds(30))
            #expect(uploaded.version == .http2)
            #expect(String(buffer: try await uploaded.body.collect(upTo: 1024)) == "bytes=\(size) checksum=\(expected)")
            #expect(h.backend("tomcat2").requests.first?.head.headers["content-length"] == [String(size)])

            let download = try await client.execute(HTTPClientRequest(url: "https://localhost:\(h.port)/download"), timeout: .seconds(30))
            #expect(download.version == .http2)
            var sum = StreamChecksum()
            for try await chunk in download.body { sum.update(chunk) }
            #expect(sum.count == size)
            #expect(sum.final == expected)
        }
    }

    @Test("a failing node answers its own stream with 502; other streams on the connection are served")
    func oneStreamFailsAlone() async throws {
        try await Self.withH2Latch(configure: { config in
            config.clusters[0].failover.onUnavailable = .reject
            config.clusters[0].passive.failures = 0
        }, reply: { node, _ in node == "tomcat1" ? .close : .text(body: "hello") }) { h, client, _ in
            async let bad = client.execute(Self.request(h, cookie: "JSESSIONID=B.tomcat1"), timeout: .seconds(20))
            async let good = client.execute(Self.request(h, cookie: "JSESSIONID=G.tomcat2"), timeout: .seconds(20))
            let (badResponse, goodResponse) = try await (bad, good)
            #expect(badResponse.status == .badGateway || badResponse.status == .serviceUnavailable, "\(badResponse.status)")
            #expect(String(buffer: try await badResponse.body.collect(upTo: 1024)).hasPrefix("\(badResponse.status.code) "))
            #expect(goodResponse.status == .ok)
            #expect(String(buffer: try await goodResponse.body.collect(upTo: 1024)) == "hello")
            // The connection is still usable after the failed stream.
            let again = try await client.execute(Self.request(h, cookie: "JSESSIONID=G.tomcat2"), timeout: .seconds(20))
            #expect(again.status == .ok && again.version == .http2)
            _ = try await again.body.collect(upTo: 1024)
        }
    }

    @Test("http2: false offers only http/1.1; a client without ALPN gets HTTP/1.1 too")
    func http2CanBeOff() async throws {
        try await Self.withH2Latch(configure: { config in
            config.listeners[0].tls?.http2 = false
        }) { h, client, _ in
            let response = try await client.execute(Self.request(h, cookie: "JSESSIONID=A.tomcat3"), timeout: .seconds(20))
            #expect(response.version == .http1_1)
            #expect(response.headers.first(name: "X-Backend-Node") == "tomcat3")
            _ = try await response.body.collect(upTo: 1024)
        }
    }

    @Test("Latch's own answers go out as HTTP/2 too, before the request body has ended")
    func ownAnswersOverHTTP2() async throws {
        try await Self.withH2Latch(configure: { config in
            config.limits.maxBody = 10
        }) { h, client, _ in
            var request = Self.request(h, cookie: "JSESSIONID=A.tomcat1")
            request.method = .POST
            request.body = .bytes(ByteBuffer(string: String(repeating: "x", count: 100)))
            let response = try await client.execute(request, timeout: .seconds(20))
            #expect(response.version == .http2)
            #expect(response.status == .payloadTooLarge)
            #expect(String(buffer: try await response.body.collect(upTo: 1024)) == "413 Payload Too Large: the request body is larger than 10 bytes\n")
            #expect(h.backends.allSatisfy { $0.requests.isEmpty })
            // The next stream on the same connection is served.
            let next = try await client.execute(Self.request(h, cookie: "JSESSIONID=A.tomcat1"), timeout: .seconds(20))
            #expect(next.status == .ok && next.version == .http2)
            _ = try await next.body.collect(upTo: 1024)
        }
    }

    @Test("malformed pseudo-header fields never reach a node as a smuggled request line (GHSA-4px2-pw77-vc85)")
    func malformedRequestsAreRefused() async throws {
        try await Self.withH2Latch { h, _, pki in
            let client = try await RawHTTP2Client.connect(port: h.port, group: h.group, trusting: pki.authority.caPEM)
            let base = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost")]
            for bad in [
                base + [(":path", "/ HTTP/1.1\r\nHost: evil\r\n\r\nGET /smuggled")],
                base + [(":path", "/a b")],
                base + [(":path", "")],
                [(":method", "GET / HTTP/1.1\r\nX:"), (":scheme", "https"), (":authority", "localhost"), (":path", "/")],
                [(":method", "GET"), (":scheme", "https"), (":path", "/")],  // no :authority, no Host
                base,  // no :path
            ] {
                let answer = try await client.send(bad)
                // Refused by swift-nio-http2 (the stream reset) or by Latch (400): either way, not served.
                #expect(answer.status == nil ? (answer.reset != nil || answer.closed) : answer.status == "400", "\(bad): \(answer)")
            }
            #expect(h.backends.allSatisfy { $0.requests.isEmpty })
            // The connection still serves a well-formed request.
            let good = try await client.send(base + [(":path", "/ok"), ("cookie", "JSESSIONID=R.tomcat2")])
            #expect(good.status == "200", "\(good)")
            #expect(good.body == "hello")
            #expect(h.backend("tomcat2").requests.map(\.head.uri) == ["/ok"])
            await client.close()
        }
    }

    /// Malformed requests were stream errors of swift-nio-http2, which counts them and cuts a
    /// connection that makes too many; Latch, checking them itself, does the same.
    @Test("malformed requests are answered 400 in words; 200 of them on one connection end it with GOAWAY (ENHANCE_YOUR_CALM)")
    func malformedRequestsEndAnAbusiveConnection() async throws {
        try await Self.withH2Latch { h, _, pki in
            let client = try await RawHTTP2Client.connect(port: h.port, group: h.group, trusting: pki.authority.caPEM)
            let bad = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"), (":path", "/"), ("X-Upper", "1")]
            let first = try await client.send(bad)
            #expect(first.status == "400")
            #expect(first.body.contains("not a lower-case token"), "\(first.body)")
            // swift-nio-http2's glitch limit, which Latch keeps (`HTTP2Connection.malformedLimit`).
            for _ in 1..<200 { _ = try await client.send(bad) }
            #expect(try await eventually { client.isClosed })
            #expect(client.goAwayCodes == [.enhanceYourCalm])
            #expect(h.backends.allSatisfy { $0.requests.isEmpty })
            await client.close()
        }
    }

    @Test("a GET stream with DATA and no content-length is refused: its body is never written after a head that frames none")
    func unframedBodyIsRefused() async throws {
        // The node answers a second late, so the DATA frame comes while the exchange is still on.
        try await Self.withH2Latch(reply: { _, _ in .delayed(.seconds(1), body: "late") }) { h, _, pki in
            let client = try await RawHTTP2Client.connect(port: h.port, group: h.group, trusting: pki.authority.caPEM)
            let head = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"), (":path", "/a"), ("cookie", "JSESSIONID=U.tomcat1")]
            let answer = try await client.send(head, body: "GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(answer.status == "400", "\(answer)")
            #expect(answer.body.contains("without Content-Length"), "\(answer.body)")
            // The node may have seen the head; never the body as a request of its own.
            #expect(h.backends.allSatisfy { $0.requests.allSatisfy { $0.head.uri != "/smuggled" } })
            await client.close()
        }
    }

    static func request(_ h: LatchHarness, cookie: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: "https://localhost:\(h.port)/")
        request.headers.add(name: "Cookie", value: cookie)
        return request
    }
}

/// In the serialized streaming suite, so its memory is not measured beside another large body's.
extension StreamingLiveTests {
    @Test("a 160 MiB download over HTTP/2 arrives intact and memory stays flat (flow control holds the node back)")
    func largeDownloadStaysBounded() async throws {
        // Smaller than the HTTP/1 transfers (the suite runs beside all the others), still well over
        // the allowed growth: a body held in memory would fail the check.
        let size = 160 * 1024 * 1024
        let expected = PatternBody.expectedChecksum(total: size)
        try await HTTP2LiveTests.withH2Latch(reply: { _, _ in .download(bytes: size, chunked: false) }) { h, client, _ in
            let before = ProcessMemory.residentBytes()
            ProcessMemory.resetPeak()
            let response = try await client.execute(HTTP2LiveTests.request(h, cookie: "JSESSIONID=D.tomcat3"), timeout: .minutes(3))
            #expect(response.version == .http2)
            var sum = StreamChecksum()
            for try await chunk in response.body { sum.update(chunk) }
            let growth = ProcessMemory.peakBytes() - before
            #expect(sum.count == size)
            #expect(sum.final == expected)
            #expect(growth < Self.allowedGrowth, "peak RSS grew by \(growth / 1_048_576) MiB")
        }
    }
}
