import Foundation
import LatchCore
import LatchDemo
@testable import LatchProxy
import NIOCore
import NIOSSL
import Testing
import X509

/// TLS termination on real sockets: a NIOSSL client that trusts a test CA handshakes with Latch,
/// asks for a server name, and checks which certificate it got and what the node saw.
@Suite("TLS listeners", .timeLimit(.minutes(1)))
struct TLSLiveTests {
    /// The names the server's certificate is valid for, as the client saw them.
    static func names(_ certificate: NIOSSLCertificate?) throws -> [String] {
        guard let certificate else { return [] }
        return CertificateLoader.names(of: try Certificate(derEncoded: certificate.toDERBytes()))
    }

    @Test("a TLS listener serves sticky requests and tells the node the scheme was https")
    func servesHTTPS() async throws {
        let pki = try TestPKI()
        let files = try pki.write(names: ["shop.example.com"], base: "shop")
        try await withLatch(configure: { config in
            config.listeners[0].tls = TLSListenerConfig(certificates: [files])
        }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group, tls: (pki.clientContext(), "shop.example.com"))
            try await client.send("GET /cart HTTP/1.1\r\nHost: shop.example.com\r\nCookie: JSESSIONID=S.tomcat2\r\n\r\n")
            let response = try await client.wait { text, _ in text.hasSuffix("hello") }
            #expect(response.hasPrefix("HTTP/1.1 200 OK"), "\(response)")
            #expect(response.contains("X-Backend-Node: tomcat2"))
            // Keep-alive works through TLS too.
            try await client.send("GET /again HTTP/1.1\r\nHost: shop.example.com\r\nCookie: JSESSIONID=S.tomcat2\r\n\r\n")
            try await client.wait { text, _ in text.count(of: "hello") == 2 }
            await client.close()
            let seen = h.backend("tomcat2").requests
            #expect(seen.count == 2)
            #expect(seen.first?.head.headers["X-Forwarded-Proto"] == ["https"])
        }
    }

    @Test("failback stay's owner cookie is Secure on a TLS listener")
    func ownerCookieIsSecureOverTLS() async throws {
        let pki = try TestPKI()
        let files = try pki.write(names: ["shop.example.com"], base: "shop")
        try await withLatch(configure: { config in
            config.listeners[0].tls = TLSListenerConfig(certificates: [files])
            config.clusters[0].failover.failback = .stay
            config.clusters[0].nodes[0].replicas = ["tomcat2"]
            config.clusters[0].nodes[0].state = .maintenance
        }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group, tls: (pki.clientContext(), "shop.example.com"))
            try await client.send("GET / HTTP/1.1\r\nHost: shop.example.com\r\nCookie: JSESSIONID=S.tomcat1\r\n\r\n")
            let response = try await client.wait { text, _ in text.hasSuffix("hello") }
            await client.close()
            #expect(response.contains("X-Backend-Node: tomcat2"))
            let owner = response.split(separator: "\r\n").first { $0.hasPrefix("Set-Cookie: LATCH_NODE=tomcat2~") }
            #expect(owner?.hasSuffix("; Path=/; HttpOnly; SameSite=Lax; Secure") == true, "\(owner ?? "no owner cookie")")
        }
    }

    @Test("SNI picks the certificate whose names cover the requested one; anything else gets the first")
    func sniChoosesCertificate() async throws {
        let pki = try TestPKI()
        let shop = try pki.write(names: ["shop.example.com"], base: "shop")
        let api = try pki.write(names: ["api.example.com", "*.api.example.com"], base: "api")
        let org = try pki.write(names: ["*.example.org"], base: "org")
        try await withLatch(configure: { config in
            config.listeners[0].tls = TLSListenerConfig(certificates: [shop, api, org])
        }) { h in
            for (serverName, expected) in [
                ("shop.example.com", "shop.example.com"),
                ("api.example.com", "api.example.com"),
                ("v2.api.example.com", "api.example.com"),
                ("www.example.org", "*.example.org"),
            ] {
                // The client verifies the certificate against the name it asked for: a wrong pick fails the handshake.
                let client = try await RawClient.connect(port: h.port, group: h.group, tls: (pki.clientContext(), serverName))
                try await client.send("GET / HTTP/1.1\r\nHost: \(serverName)\r\n\r\n")
                let response = try await client.wait { text, closed in text.hasSuffix("hello") || closed }
                #expect(response.hasPrefix("HTTP/1.1 200 OK"), "\(serverName): \(response) \(client.error ?? "")")
                #expect(try Self.names(await client.peerCertificate()).first == expected, "\(serverName)")
                await client.close()
            }
            for serverName in ["other.test", nil] as [String?] {
                let client = try await RawClient.connect(port: h.port, group: h.group, tls: (pki.clientContext(verify: false), serverName))
                try await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                try await client.wait { text, closed in text.hasSuffix("hello") || closed }
                #expect(try Self.names(await client.peerCertificate()) == ["shop.example.com"], "\(serverName ?? "no SNI")")
                await client.close()
            }
        }
    }

    @Test("a renewed certificate file is served from the next handshake; open connections keep theirs")
    func watchedFilesReload() async throws {
        let pki = try TestPKI()
        let files = try pki.write(names: ["old.example.com"], base: "site")
        try await withLatch(configure: { config in
            config.listeners[0].tls = TLSListenerConfig(certificates: [files], watchInterval: .milliseconds(100))
        }) { h in
            let open = try await RawClient.connect(port: h.port, group: h.group, tls: (pki.clientContext(), "old.example.com"))
            try await open.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            try await open.wait { text, _ in text.hasSuffix("hello") }

            // A bad change (the key of another certificate) is refused; the old certificate stays.
            let stray = try pki.issue(names: ["stray.example.com"])
            try stray.keyPEM.write(toFile: files.key, atomically: true, encoding: .utf8)
            try await Task.sleep(for: .milliseconds(400))  // four watch intervals: time enough to have taken it
            #expect(try await Self.served(h, pki) == ["old.example.com"])

            // The renewal completes: certificate and key of the new one.
            try pki.issue(names: ["new.example.com"]).write(to: pki.directory, base: "site")
            var served: [String] = []
            _ = try await eventually {
                served = try await Self.served(h, pki)
                return served == ["new.example.com"]
            }
            #expect(served == ["new.example.com"])

            // The connection opened before the change still works, on its old session.
            try await open.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            try await open.wait { text, _ in text.count(of: "hello") == 2 }
            #expect(open.text.count(of: "hello") == 2)
            #expect(try Self.names(await open.peerCertificate()) == ["old.example.com"])
            await open.close()
        }
    }

    @Test("a reload with new certificate paths applies them to the next handshake")
    func reloadSwapsCertificates() async throws {
        let pki = try TestPKI()
        let first = try pki.write(names: ["first.example.com"], base: "first")
        let second = try pki.write(names: ["second.example.com"], base: "second")
        try await withLatch(configure: { config in
            config.listeners[0].tls = TLSListenerConfig(certificates: [first], watchInterval: nil)
        }) { h in
            #expect(try await Self.served(h, pki) == ["first.example.com"])
            var config = h.server.config
            config.listeners[0].tls = TLSListenerConfig(certificates: [second], watchInterval: nil)
            _ = try await h.server.reload(config)
            #expect(try await Self.served(h, pki) == ["second.example.com"])

            // A reload naming a key that does not belong to its certificate is refused, with where and why.
            config.listeners[0].tls = TLSListenerConfig(
                certificates: [CertificateFiles(certificate: first.certificate, key: second.key, source: ConfigSource(file: "lb.yaml", line: 4, column: 20, keyPath: "listen[0].tls.certificate"),
                                 keySource: ConfigSource(file: "lb.yaml", line: 5, column: 12, keyPath: "listen[0].tls.key"))])
            await #expect {
                try await h.server.reload(config)
            } throws: { error in
                let text = "\(error)"
                return text.hasPrefix("lb.yaml:5:12: listen[0].tls.key:") && text.contains("does not belong to the certificate")
            }
            #expect(try await Self.served(h, pki) == ["second.example.com"])
        }
    }

    @Test("failed handshakes close only their own connection")
    func handshakeFailures() async throws {
        let pki = try TestPKI()
        let files = try pki.write(names: ["shop.example.com"], base: "shop")
        try await withLatch(configure: { config in
            config.listeners[0].tls = TLSListenerConfig(certificates: [files], protocols: [.tls13])
            // Short for the silent client below, long enough for the others on a loaded machine.
            config.timeouts.requestHead = .seconds(2)
        }) { h in
            // A TLS 1.2-only client cannot agree with a TLS 1.3-only listener.
            var old = TLSConfiguration.makeClientConfiguration()
            old.maximumTLSVersion = .tlsv12
            old.certificateVerification = .none
            let refused = try await RawClient.connect(port: h.port, group: h.group, tls: (try NIOSSLContext(configuration: old), "shop.example.com"))
            try await refused.wait { _, closed in closed }
            #expect(refused.isClosed)
            #expect(refused.error != nil)

            // Plain HTTP on the TLS port gets a plain answer saying so, and the connection is closed.
            let plain = try await RawClient.connect(port: h.port, group: h.group)
            try await plain.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            let answer = try await plain.wait { _, closed in closed }
            #expect(plain.isClosed)
            #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
            #expect(answer.hasSuffix("400 Bad Request: this port speaks TLS; use https://\n"))

            // Bytes that are neither TLS nor HTTP: closed without a word.
            let garbage = try await RawClient.connect(port: h.port, group: h.group)
            try? await garbage.send("\u{01}\u{02}\u{03}")
            #expect(try await garbage.wait { _, closed in closed }.isEmpty)
            #expect(garbage.isClosed)

            // A client that connects and never says hello is closed by the request-head deadline.
            let silent = try await RawClient.connect(port: h.port, group: h.group)
            try await silent.wait(timeout: .seconds(10)) { _, closed in closed }
            #expect(silent.isClosed)

            // Everyone else is served.
            #expect(try await Self.served(h, pki) == ["shop.example.com"])

            // /metrics: the four connections that never completed a handshake (the refused version,
            // plain HTTP, garbage, the silent client), and the certificate's expiry.
            let metrics = h.server.metrics.exposition(clusters: h.server.runtime.clusters, certificates: h.server.certificatesInForce())
            #expect(metrics.contains("latch_tls_handshake_failures_total{listener=\"127.0.0.1:0\"} 4"), "\(metrics)")
            let expiry = metrics.split(separator: "\n").first { $0.hasPrefix("latch_tls_certificate_expiry_timestamp_seconds{") }
            #expect(expiry?.contains("certificate=\"shop.example.com\"") == true)
            let seconds = expiry.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
            #expect(abs(seconds - Date().addingTimeInterval(30 * 86400).timeIntervalSince1970) < 7200, "\(expiry ?? "")")
        }
    }

    @Test("over max_client_connections a TLS connection is closed at once, without a handshake")
    func overLimitClosesBeforeHandshake() async throws {
        let pki = try TestPKI()
        let files = try pki.write(names: ["shop.example.com"], base: "shop")
        try await withLatch(configure: { config in
            config.listeners[0].tls = TLSListenerConfig(certificates: [files])
            config.limits.maxClientConnections = 1
        }) { h in
            let first = try await RawClient.connect(port: h.port, group: h.group, tls: (pki.clientContext(), "shop.example.com"))
            try await first.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            try await first.wait { text, _ in text.hasSuffix("hello") }
            let second = try await RawClient.connect(port: h.port, group: h.group, tls: (pki.clientContext(), "shop.example.com"))
            try await second.wait(timeout: .seconds(5)) { _, closed in closed }
            #expect(second.isClosed)
            #expect(second.text.isEmpty)
            await first.close()
        }
    }

    @Test("a plain listener with redirect_to_https answers 308 to the same host and target")
    func redirectsToHTTPS() async throws {
        try await withLatch(configure: { config in
            config.listeners[0].redirectToHTTPS = 8443
        }) { h in
            let client = try await RawClient.connect(port: h.port, group: h.group)
            try await client.send("POST /cart?x=1 HTTP/1.1\r\nHost: shop.example.com:8080\r\nContent-Length: 0\r\n\r\n")
            let response = try await client.wait { text, _ in text.contains("\r\n\r\n") && text.hasSuffix("\n") }
            #expect(response.hasPrefix("HTTP/1.1 308 Permanent Redirect\r\n"), "\(response)")
            #expect(response.contains("\r\nLocation: https://shop.example.com:8443/cart?x=1\r\n"))
            // The connection stays usable, and nothing reached a node.
            try await client.send("GET / HTTP/1.1\r\nHost: shop.example.com\r\n\r\n")
            try await client.wait { text, _ in text.count(of: "\r\nLocation: ") == 2 && text.hasSuffix("\n") }
            #expect(client.text.contains("Location: https://shop.example.com:8443/\r\n"))
            await client.close()
            #expect(h.backends.allSatisfy { $0.requests.isEmpty })
        }
    }

    /// The names of the certificate a fresh handshake without verification gets.
    static func served(_ h: LatchHarness, _ pki: TestPKI) async throws -> [String] {
        let client = try await RawClient.connect(port: h.port, group: h.group, tls: (pki.clientContext(verify: false), "x.test"))
        try await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try await client.wait { text, closed in text.hasSuffix("hello") || closed }
        let served = try names(await client.peerCertificate())
        await client.close()
        return served
    }
}

/// A test CA in a temporary directory, the certificates it issues, and clients that trust it.
/// The directory goes when the test is done with it.
final class TestPKI {
    let authority: SelfSignedCertificates
    let directory: String

    init() throws {
        authority = try SelfSignedCertificates(commonName: "Latch test CA")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("latch-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func issue(names: [String], days: Int = 30) throws -> SelfSignedCertificates.Issued {
        try authority.issue(names: names, days: days)
    }

    /// Issues a certificate for `names` and writes `<base>.pem` and `<base>.key`.
    func write(names: [String], base: String, days: Int = 30) throws -> CertificateFiles {
        let paths = try issue(names: names, days: days).write(to: directory, base: base)
        return CertificateFiles(certificate: paths.certificate, key: paths.key)
    }

    /// A server context with a certificate of this CA for `names`: a node that speaks HTTPS.
    func serverContext(names: [String]) throws -> NIOSSLContext {
        let issued = try issue(names: names)
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(issued.chainPEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(issued.keyPEM.utf8), format: .pem)))
        return try NIOSSLContext(configuration: tls)
    }

    /// This CA's certificate as a file, for `clusters[].tls.ca`.
    func caFile() throws -> String {
        let path = directory + "/ca.pem"
        try authority.caPEM.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A client context trusting only this CA; `verify: false` takes any certificate (to see which one is served).
    func clientContext(verify: Bool = true) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(authority.caPEM.utf8)))
        if !verify { tls.certificateVerification = .none }
        return try NIOSSLContext(configuration: tls)
    }
}
