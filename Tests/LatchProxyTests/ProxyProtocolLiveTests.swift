import Foundation
import LatchCore
@testable import LatchProxy
import NIOCore
import Testing

/// `listen[i].proxy_protocol` on real sockets: a client that speaks as a TCP balancer in front of
/// Latch would (a PROXY header, then its client's bytes) and what the node, the access log and
/// `/metrics` then see.
@Suite("PROXY protocol on listeners", .timeLimit(.minutes(1)))
struct ProxyProtocolLiveTests {
    static let v1 = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"
    /// v2, PROXY command, TCP over IPv6: from [2001:db8::1]:1 to [2001:db8::2]:443.
    static let v2: [UInt8] = {
        let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
        var source = [UInt8](repeating: 0, count: 16)
        source[0] = 0x20; source[1] = 0x01; source[2] = 0x0D; source[3] = 0xB8; source[15] = 1
        var destination = source
        destination[15] = 2
        return signature + [0x21, 0x21, 0x00, 36] + source + destination + [0x00, 0x01, 0x01, 0xBB]
    }()
    static func get(_ path: String) -> String { "GET \(path) HTTP/1.1\r\nHost: shop\r\nCookie: JSESSIONID=S.tomcat1\r\n\r\n" }

    static func refusals(_ h: LatchHarness) -> [String] {
        h.server.metrics.exposition(clusters: h.server.runtime.clusters)
            .split(separator: "\n").filter { $0.hasPrefix("latch_proxy_protocol_refusals_total{") }.map(String.init)
    }

    @Test("the header's address is the client's: X-Forwarded-For and the access log, on every request of the connection")
    func addressEverywhere() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("latch-proxy-protocol-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        try await withLatch(configure: { config in
            config.listeners[0].proxyProtocol = .everyone
            config.accessLog.path = log
        }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send(Self.v1 + Self.get("/first"))
            try await client.wait { text, _ in text.count(of: "hello") == 1 }
            try await client.send(Self.get("/second"))
            try await client.wait { text, _ in text.count(of: "hello") == 2 }
            await client.close()

            var v2Bytes = ByteBuffer(bytes: Self.v2)
            v2Bytes.writeString(Self.get("/v2"))
            let six = try await RawClient.connect(port: h.port, group: h.group)
            try await six.send(v2Bytes)
            try await six.wait { text, _ in text.hasSuffix("hello") }
            await six.close()

            let seen = h.backend("tomcat1").requests
            #expect(seen.map(\.head.uri) == ["/first", "/second", "/v2"])
            #expect(seen.map { $0.head.headers["X-Forwarded-For"] } == [["192.0.2.7"], ["192.0.2.7"], ["2001:db8::1"]])
            var lines: [Substring] = []
            _ = try await eventually {
                lines = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n") ?? []
                return lines.count == 3
            }
            #expect(lines.count == 3)
            #expect(lines.prefix(2).allSatisfy { $0.contains("client=192.0.2.7:56324 ") }, "\(lines)")
            #expect(lines.last?.contains("client=[2001:db8::1]:1 ") == true, "\(lines)")
            #expect(Self.refusals(h).isEmpty)
        }
    }

    @Test("no header, a bad one, or one too slow: the connection is closed unanswered, and counted by reason")
    func refusedAndCounted() async throws {
        try await withLatch(configure: { config in
            config.listeners[0].proxyProtocol = .everyone
            config.timeouts.requestHead = .seconds(1)
        }) { h in
            // A client that reached Latch directly: its request is not a header.
            #expect(try await h.exchange(Self.get("/direct")) == "")
            #expect(try await h.exchange("PROXY TCP4 192.0.2.7 nowhere 1 2\r\n" + Self.get("/bad")) == "")
            // Half a header, then silence.
            let slow = try await RawClient.connect(port: h.port, group: h.group)
            // (On a loaded machine the deadline may pass before this is written: a timeout all the same.)
            try? await slow.send("PROXY TCP4 192.0.2")
            #expect(try await slow.wait(timeout: .seconds(5)) { _, closed in closed } == "")
            #expect(slow.isClosed)
            // A TCP health check of the balancer in front: connects and leaves. Not a refusal.
            let probe = try await RawClient.connect(port: h.port, group: h.group)
            await probe.close()

            #expect(h.backends.allSatisfy { $0.requests.isEmpty })
            _ = try await eventually { Self.refusals(h).count == 2 }
            #expect(Self.refusals(h).sorted() == [
                "latch_proxy_protocol_refusals_total{listener=\"127.0.0.1:0\",reason=\"malformed\"} 2",
                "latch_proxy_protocol_refusals_total{listener=\"127.0.0.1:0\",reason=\"timeout\"} 1",
            ])
            // The listener still serves a well-behaved balancer.
            let good = try await h.exchange(Self.v1 + "GET / HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n")
            #expect(good.hasPrefix("HTTP/1.1 200 OK"), "\(good)")
        }
    }

    @Test("`from`: peers in the blocks must send a header; anyone else is a direct client and is not believed")
    func fromBlocks() async throws {
        try await withLatch(configure: { config in
            config.listeners[0].proxyProtocol = .from([try! AddressBlock(parsing: "10.0.0.0/8")])
        }) { h in
            // 127.0.0.1 is not in 10.0.0.0/8: a direct client, served as one.
            let direct = try await h.exchange("GET /direct HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n")
            #expect(direct.hasPrefix("HTTP/1.1 200 OK"), "\(direct)")
            #expect(h.backends.flatMap(\.requests).first?.head.headers["X-Forwarded-For"] == ["127.0.0.1"])
            // Its PROXY header would claim another address: it is not a header here but a bad request.
            let spoofed = try await h.exchange(Self.v1 + Self.get("/spoofed"))
            #expect(spoofed.hasPrefix("HTTP/1.1 400 Bad Request"), "\(spoofed)")
            #expect(h.backends.flatMap(\.requests).count == 1)
        }
        try await withLatch(configure: { config in
            config.listeners[0].proxyProtocol = .from([try! AddressBlock(parsing: "127.0.0.0/8")])
        }) { h in
            #expect(try await h.exchange(Self.get("/direct")) == "")
            let proxied = try await h.exchange(Self.v1 + "GET / HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n")
            #expect(proxied.hasPrefix("HTTP/1.1 200 OK"), "\(proxied)")
            #expect(h.backends.flatMap(\.requests).first?.head.headers["X-Forwarded-For"] == ["192.0.2.7"])
        }
    }

    @Test("on a TLS listener the header comes before the handshake, for HTTP/1.1 and HTTP/2 alike")
    func tlsListener() async throws {
        let pki = try TestPKI()
        let files = try pki.write(names: ["localhost"], base: "localhost")
        try await withLatch(configure: { config in
            config.listeners[0].tls = TLSListenerConfig(certificates: [files])
            config.listeners[0].proxyProtocol = .everyone
        }) { h in
            let client = try await RawClient.connect(
                port: h.port, group: h.group, tls: (try pki.clientContext(), "localhost"), preface: Array(Self.v1.utf8))
            try await client.send(Self.get("/tls"))
            let response = try await client.wait { text, _ in text.hasSuffix("hello") }
            #expect(response.hasPrefix("HTTP/1.1 200 OK"), "\(response)")
            await client.close()

            let h2 = try await RawHTTP2Client.connect(port: h.port, group: h.group, trusting: pki.authority.caPEM, preface: Self.v2)
            let answer = try await h2.send([
                (":method", "GET"), (":scheme", "https"), (":authority", "localhost"), (":path", "/h2"), ("cookie", "JSESSIONID=S.tomcat1"),
            ])
            #expect(answer.status == "200", "\(answer)")
            await h2.close()

            let seen = h.backend("tomcat1").requests
            #expect(seen.map(\.head.uri) == ["/tls", "/h2"])
            #expect(seen.map { $0.head.headers["X-Forwarded-For"] } == [["192.0.2.7"], ["2001:db8::1"]])

            // A TLS client sent straight to the port: its ClientHello is not a header.
            let direct = try await RawClient.connect(port: h.port, group: h.group, tls: (try pki.clientContext(), "localhost"))
            _ = try await direct.wait(timeout: .seconds(5)) { _, closed in closed }
            #expect(direct.isClosed)
            _ = try await eventually { Self.refusals(h).count == 1 }
            #expect(Self.refusals(h) == ["latch_proxy_protocol_refusals_total{listener=\"127.0.0.1:0\",reason=\"malformed\"} 1"])
        }
    }

    @Test("a reload turns it on for the listener's new connections")
    func reloadTurnsItOn() async throws {
        try await withLatch { h in
            let before = try await h.exchange("GET / HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n")
            #expect(before.hasPrefix("HTTP/1.1 200 OK"))
            var config = h.server.config
            config.listeners[0].proxyProtocol = .everyone
            try await h.server.reload(config)
            #expect(try await h.exchange(Self.get("/direct")) == "")
            let proxied = try await h.exchange(Self.v1 + "GET / HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n")
            #expect(proxied.hasPrefix("HTTP/1.1 200 OK"), "\(proxied)")
        }
    }
}
