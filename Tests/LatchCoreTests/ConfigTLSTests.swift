import Foundation
import Testing
@testable import LatchCore

/// `listen[i].tls` and `listen[i].redirect_to_https` as the loader reads them. What is *in* the PEM
/// files is checked by LatchProxy (`TLSCheckTests`); here: the keys, the paths, the versions.
struct ConfigTLSTests {
    /// A file whose single listener, from line 2, is `listener` (already indented by four spaces).
    static func file(listener: String) -> String {
        "listen:\n  - address: 0.0.0.0:8443\n" + listener + """
            clusters:
              - name: shop
                nodes:
                  - { name: tomcat1, address: 10.0.0.11:8080 }

            """
    }

    /// Two readable files standing in for a certificate and a key (their content is not read here).
    static func withFiles<T>(_ body: (String, String) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("latch-tls-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "cert".write(toFile: directory + "/site.pem", atomically: true, encoding: .utf8)
        try "key".write(toFile: directory + "/site.key", atomically: true, encoding: .utf8)
        return try body(directory + "/site.pem", directory + "/site.key")
    }

    static func parse(_ yaml: String) throws -> LatchConfig {
        try ConfigLoader.parse(yaml: yaml, file: "lb.yaml")
    }

    @Test func defaultsAndEveryKey() throws {
        try Self.withFiles { certificate, key in
            let minimal = try Self.parse(Self.file(listener: "    tls: { certificate: \"\(certificate)\", key: \"\(key)\" }\n"))
            let tls = try #require(minimal.listeners[0].tls)
            #expect(tls.certificates == [CertificateFiles(certificate: certificate, key: key)])
            #expect(tls.certificates[0].source == ConfigSource(file: "lb.yaml", line: 3, column: 25, keyPath: "listen[0].tls.certificate"))
            #expect(tls.protocols == [.tls12, .tls13])
            #expect(tls.watchInterval == .seconds(10))
            #expect(tls.http2)
            #expect(minimal.listeners[0].redirectToHTTPS == nil)

            let full = try Self.parse(Self.file(listener: """
                    tls:
                      certificate: "\(certificate)"
                      key: "\(key)"
                      protocols: [TLSv1.3]
                      watch: false
                      http2: false
                      sni:
                        - { certificate: "\(key)", key: "\(certificate)" }
                  - address: 0.0.0.0:8080
                    redirect_to_https: 8443

                """))
            #expect(full.listeners[0].tls == TLSListenerConfig(
                certificates: [CertificateFiles(certificate: certificate, key: key), CertificateFiles(certificate: key, key: certificate)],
                protocols: [.tls13],
                watchInterval: nil,
                http2: false))
            #expect(full.listeners[0].tls?.certificates[1].source.keyPath == "listen[0].tls.sni[0].certificate")
            #expect(full.listeners[1] == ListenerConfig(address: HostPort(host: "0.0.0.0", port: 8080), redirectToHTTPS: 8443))

            let watched = try Self.parse(Self.file(listener: "    tls: { certificate: \"\(certificate)\", key: \"\(key)\", watch: 1m }\n"))
            #expect(watched.listeners[0].tls?.watchInterval == .seconds(60))
        }
    }

    /// A TLS listener in block style, so every case's positions are fixed: `certificate` on line 4
    /// (value at column 20), `key` on line 5 (column 12), `extra` from line 6.
    static func tlsBlock(certificate: String, key: String, extra: String = "") -> String {
        file(listener: "    tls:\n      certificate: \"\(certificate)\"\n      key: \"\(key)\"\n" + extra)
    }

    @Test func mistakesNameTheKey() throws {
        try Self.withFiles { certificate, key in
            let cases: [(String, String)] = [
                (Self.file(listener: "    tls:\n      certificate: \"\(certificate)\"\n"),
                 "lb.yaml:4:7: listen[0].tls: missing required key `key`"),
                (Self.tlsBlock(certificate: "/nonexistent/site.pem", key: key),
                 "lb.yaml:4:20: listen[0].tls.certificate: certificate file \"/nonexistent/site.pem\" does not exist"),
                (Self.tlsBlock(certificate: certificate, key: "/tmp"),
                 "lb.yaml:5:12: listen[0].tls.key: key file \"/tmp\" is a directory"),
                (Self.tlsBlock(certificate: certificate, key: key, extra: "      protocols: [TLSv1.1, TLSv1.2]\n"),
                 "lb.yaml:6:19: listen[0].tls.protocols[0]: TLSv1.1 is not offered: it is deprecated (RFC 8996) and has known attacks; use TLSv1.2 and TLSv1.3"),
                (Self.tlsBlock(certificate: certificate, key: key, extra: "      protocols: [TLSv1.3, TLSv1.4]\n"),
                 "lb.yaml:6:28: listen[0].tls.protocols[1]: unknown TLS protocol \"TLSv1.4\"; did you mean \"TLSv1.2\"? (allowed: TLSv1.2, TLSv1.3)"),
                (Self.tlsBlock(certificate: certificate, key: key, extra: "      protocols: [TLSv1.3, TLSv1.3]\n"),
                 "lb.yaml:6:28: listen[0].tls.protocols[1]: TLSv1.3 is listed twice"),
                (Self.tlsBlock(certificate: certificate, key: key, extra: "      protocols: []\n"),
                 "lb.yaml:6:18: listen[0].tls.protocols: no protocols; leave `protocols` out for TLSv1.2 and TLSv1.3"),
                (Self.tlsBlock(certificate: certificate, key: key, extra: "      ciphers: RC4\n"),
                 "lb.yaml:6:7: listen[0].tls.ciphers: unknown key `ciphers`; expected one of: certificate, key, protocols, sni, watch, http2"),
                (Self.tlsBlock(certificate: certificate, key: key, extra: "      watch: 0s\n"),
                 "lb.yaml:6:14: listen[0].tls.watch: duration must be greater than 0, found \"0s\""),
                (Self.tlsBlock(certificate: certificate, key: key, extra: "      sni:\n        - { certificate: \"\(certificate)\", key: \"\(key)\" }\n"),
                 "lb.yaml:7:26: listen[0].tls.sni[0].certificate: certificate \"\(certificate)\" with key \"\(key)\" is already the default certificate"),
                (Self.tlsBlock(certificate: certificate, key: key, extra: "    redirect_to_https: 443\n"),
                 "lb.yaml:6:24: listen[0].redirect_to_https: this listener already speaks TLS; `redirect_to_https` belongs on a plain listener"),
                (Self.file(listener: "    redirect_to_https: 70000\n"),
                 "lb.yaml:3:24: listen[0].redirect_to_https: https port 70000 is out of range 1...65535"),
            ]
            for (yaml, expected) in cases {
                #expect(throws: ConfigError.self) { try Self.parse(yaml) }
                do {
                    _ = try Self.parse(yaml)
                } catch {
                    #expect("\(error)" == expected)
                }
            }
        }
    }

    @Test func summaryShowsTLS() throws {
        try Self.withFiles { certificate, key in
            let config = try Self.parse(Self.file(listener: """
                    tls: { certificate: "\(certificate)", key: "\(key)", sni: [{ certificate: "\(key)", key: "\(certificate)" }] }
                  - address: 0.0.0.0:8080
                    redirect_to_https: 443

                """))
            #expect(ConfigSummary.render(config).hasPrefix(
                "Listeners:  0.0.0.0:8443 (TLS: TLSv1.2, TLSv1.3, HTTP/2 and HTTP/1.1, 2 certificates by SNI, files checked every 10s), "
                    + "0.0.0.0:8080 (redirects to https port 443)\n"))
        }
    }
}

/// `clusters[i].tls`: TLS from Latch to the nodes.
struct ConfigUpstreamTLSTests {
    /// A one-cluster file with `lines` (indented by four spaces) in the cluster, from line 5.
    static func file(cluster lines: String) -> String {
        "listen:\n  - address: 0.0.0.0:8080\nclusters:\n  - name: shop\n" + lines
            + "    nodes:\n      - { name: tomcat1, address: 10.0.0.11:8443 }\n"
    }

    @Test func forms() throws {
        try ConfigTLSTests.withFiles { certificate, key in
            #expect(try ConfigTLSTests.parse(Self.file(cluster: "")).clusters[0].tls == nil)
            #expect(try ConfigTLSTests.parse(Self.file(cluster: "    tls: false\n")).clusters[0].tls == nil)
            #expect(try ConfigTLSTests.parse(Self.file(cluster: "    tls: {}\n")).clusters[0].tls == UpstreamTLSConfig())
            #expect(try ConfigTLSTests.parse(Self.file(cluster: "    tls:\n")).clusters[0].tls == UpstreamTLSConfig())
            let full = try ConfigTLSTests.parse(Self.file(cluster: """
                    tls:
                      ca: "\(certificate)"
                      server_name: app.internal
                      certificate: "\(certificate)"
                      key: "\(key)"

                """))
            #expect(full.clusters[0].tls == UpstreamTLSConfig(
                caFile: certificate, serverName: "app.internal",
                clientCertificate: CertificateFiles(certificate: certificate, key: key)))
            #expect(full.clusters[0].tls?.source.keyPath == "clusters[0].tls.ca")
            #expect(ConfigSummary.render(full).contains(
                "\n  tls:      to the nodes, verified against \(certificate), SNI app.internal, client certificate \(certificate)\n"))
            let insecure = try ConfigTLSTests.parse(Self.file(cluster: "    tls: { insecure: true }\n"))
            #expect(insecure.clusters[0].tls == UpstreamTLSConfig(insecure: true))
            #expect(ConfigSummary.render(insecure).contains("\n  tls:      to the nodes, NOT verified (insecure), SNI each node's host name\n"))
        }
    }

    @Test func mistakes() throws {
        try ConfigTLSTests.withFiles { certificate, key in
            let cases: [(String, String)] = [
                ("    tls: yes please\n",
                 "lb.yaml:5:10: clusters[0].tls: expected a mapping of TLS keys (an empty `tls: {}` verifies against the system's trust store) or false, found a string (\"yes please\")"),
                ("    tls: { insecure: true, ca: \"\(certificate)\" }\n",
                 "lb.yaml:5:32: clusters[0].tls.ca: `insecure: true` skips verification, so this CA would never be used; remove one of the two"),
                ("    tls: { ca: /nonexistent/ca.pem }\n",
                 "lb.yaml:5:16: clusters[0].tls.ca: CA file \"/nonexistent/ca.pem\" does not exist"),
                ("    tls: { server_name: 10.0.0.1 }\n",
                 "lb.yaml:5:25: clusters[0].tls.server_name: \"10.0.0.1\" is not a DNS name; server_name is sent as SNI, which cannot carry an address (RFC 6066 §3)"),
                ("    tls: { certificate: \"\(certificate)\" }\n",
                 "lb.yaml:5:25: clusters[0].tls.certificate: a client certificate needs its `key` too"),
                ("    tls: { key: \"\(key)\" }\n",
                 "lb.yaml:5:17: clusters[0].tls.key: a client key needs its `certificate` too"),
                ("    tls: { verify: false }\n",
                 "lb.yaml:5:12: clusters[0].tls.verify: unknown key `verify`; expected one of: ca, server_name, insecure, certificate, key"),
            ]
            for (lines, expected) in cases {
                do {
                    _ = try ConfigTLSTests.parse(Self.file(cluster: lines))
                    Issue.record("accepted: \(lines)")
                } catch {
                    #expect("\(error)" == expected)
                }
            }
        }
    }
}
