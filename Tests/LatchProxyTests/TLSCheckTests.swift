import Foundation
import LatchCore
import LatchProxy
import Testing

/// What `latch check` says about the content of certificate and key files: each mistake an operator
/// makes with PEM files, reported at the `certificate` key that names them.
struct TLSCheckTests {
    static let source = ConfigSource(file: "lb.yaml", line: 4, column: 20, keyPath: "listen[0].tls.certificate")
    static let keySource = ConfigSource(file: "lb.yaml", line: 5, column: 12, keyPath: "listen[0].tls.key")

    static func config(_ certificates: [CertificateFiles]) -> LatchConfig {
        LatchConfig(
            listeners: [ListenerConfig(address: HostPort(host: "127.0.0.1", port: 0), tls: TLSListenerConfig(certificates: certificates))],
            clusters: [ClusterConfig(name: "shop", nodes: [NodeConfig(name: "a", address: HostPort(host: "127.0.0.1", port: 1))])]
        )
    }

    /// The error `TLSCheck` gives for these files, or "" when there is none.
    static func error(_ certificate: String, _ key: String) -> String {
        do {
            _ = try TLSCheck.verify(config([CertificateFiles(certificate: certificate, key: key, source: source, keySource: keySource)]))
            return ""
        } catch {
            return error.description
        }
    }

    @Test func goodFilesPass() throws {
        let pki = try TestPKI()
        let files = try pki.write(names: ["shop.example.com"], base: "shop")
        #expect(try TLSCheck.verify(Self.config([files])).isEmpty)
    }

    @Test func eachMistakeIsNamed() throws {
        let pki = try TestPKI()
        let shop = try pki.write(names: ["shop.example.com"], base: "shop")
        let other = try pki.write(names: ["other.example.com"], base: "other")
        let prefix = "lb.yaml:4:20: listen[0].tls.certificate: "
        let keyPrefix = "lb.yaml:5:12: listen[0].tls.key: "

        #expect(Self.error(shop.certificate, other.key).hasPrefix(
            keyPrefix + "key file \"\(other.key)\" does not belong to the certificate \"shop.example.com\" (expires "))

        // The chain in the wrong order: the CA first, the server's own certificate second.
        let chain = try String(contentsOfFile: shop.certificate, encoding: .utf8)
        let blocks = chain.components(separatedBy: "-----END CERTIFICATE-----").filter { $0.contains("BEGIN") }
        let reversed = pki.directory + "/reversed.pem"
        try (blocks[1] + "-----END CERTIFICATE-----\n" + blocks[0] + "-----END CERTIFICATE-----\n").write(toFile: reversed, atomically: true, encoding: .utf8)
        let reversedError = Self.error(reversed, shop.key)
        #expect(reversedError.hasPrefix(keyPrefix + "key file \"\(shop.key)\" does not belong to the certificate \"Latch test CA\""), "\(reversedError)")
        #expect(reversedError.contains("; it is the key of certificate 2 in that file, \"shop.example.com\" (expires "))
        #expect(reversedError.hasSuffix("): the server's own certificate must come first, and the key must be its key"))

        let empty = pki.directory + "/empty.pem"
        try "".write(toFile: empty, atomically: true, encoding: .utf8)
        #expect(Self.error(empty, shop.key) == prefix + "certificate file \"\(empty)\" is empty")

        let notPEM = pki.directory + "/not.pem"
        try "hello\n".write(toFile: notPEM, atomically: true, encoding: .utf8)
        #expect(Self.error(notPEM, shop.key).hasPrefix(prefix + "certificate file \"\(notPEM)\" "))

        // Certificate and key swapped.
        #expect(Self.error(shop.key, shop.certificate).hasPrefix(prefix + "certificate file \"\(shop.key)\" "))

        let encrypted = pki.directory + "/encrypted.key"
        try "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n".write(toFile: encrypted, atomically: true, encoding: .utf8)
        #expect(Self.error(shop.certificate, encrypted).hasPrefix(keyPrefix + "key file \"\(encrypted)\" is encrypted; Latch needs the key unencrypted"))

        let missing = pki.directory + "/gone.key"
        #expect(Self.error(shop.certificate, missing).hasPrefix(keyPrefix + "cannot read key file \"\(missing)\": "))
    }

    @Test func expiryIsAWarningNotAnError() throws {
        let pki = try TestPKI()
        let expired = try pki.write(names: ["old.example.com"], base: "old", days: -1)
        let soon = try pki.write(names: ["soon.example.com"], base: "soon", days: 3)
        let fine = try pki.write(names: ["fine.example.com"], base: "fine", days: 90)
        let warnings = try TLSCheck.verify(Self.config([fine, expired, soon]))
        #expect(warnings.count == 2)
        #expect(warnings.first?.hasPrefix("certificate \"old.example.com\" in \"\(expired.certificate)\" expired on ") == true)
        #expect(warnings.last?.hasPrefix("certificate \"soon.example.com\" in \"\(soon.certificate)\" expires on ") == true)
    }

    @Test func clusterTLSIsCheckedToo() throws {
        let pki = try TestPKI()
        let files = try pki.write(names: ["shop.example.com"], base: "shop")
        var config = Self.config([files])
        config.clusters[0].tls = UpstreamTLSConfig(insecure: true)
        #expect(try TLSCheck.verify(config) == [
            "cluster \"shop\": tls.insecure is true, so node certificates are not verified and anyone on the network path to the nodes can read and change the traffic",
        ])
        // A CA file that holds no certificate (here: a private key).
        config.clusters[0].tls = UpstreamTLSConfig(caFile: files.key, source: ConfigSource(file: "lb.yaml", line: 9, column: 15, keyPath: "clusters[0].tls.ca"))
        #expect(throws: ConfigError.self) { try TLSCheck.verify(config) }
        do {
            _ = try TLSCheck.verify(config)
        } catch {
            #expect(error.description == "lb.yaml:9:15: clusters[0].tls.ca: CA file \"\(files.key)\" holds no certificate (expected \"-----BEGIN CERTIFICATE-----\" blocks)")
        }
    }
}
