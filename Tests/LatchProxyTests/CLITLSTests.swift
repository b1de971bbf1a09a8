import Foundation
import LatchCore
import Testing

/// `Scripts/self-signed-cert` and `latch check` on what it makes: the path an operator takes to try TLS.
@Suite("TLS files on the command line", .timeLimit(.minutes(1)))
struct CLITLSTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs the script (it needs openssl, which `.ci/run` installs) into a new directory.
    static func makeCertificates(names: [String]) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("latch-cli-tls-\(UUID().uuidString)").path
        let ran = try Spawn.run(packageRoot.appendingPathComponent("Scripts/self-signed-cert").path, ["-d", directory, "--days", "20"] + names)
        #expect(ran.status == .exited(0), "\(ran.stderr)")
        #expect(ran.stdout.contains("certificate: \(directory)/\(names[0]).pem"), "\(ran.stdout)")
        return directory
    }

    static func config(certificate: String, key: String) throws -> String {
        try CLITests.temporaryFile("""
            listen:
              - address: 127.0.0.1:8443
                tls:
                  certificate: \(certificate)
                  key: \(key)
              - address: 127.0.0.1:8080
                redirect_to_https: 8443
            clusters:
              - name: shop
                nodes:
                  - { name: tomcat1, address: 10.0.0.11:8080 }
            """)
    }

    @Test("latch check accepts what Scripts/self-signed-cert makes, and names a wrong key by line and column")
    func scriptOutputChecks() throws {
        let directory = try Self.makeCertificates(names: ["localhost", "127.0.0.1"])
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let good = try Self.config(certificate: "\(directory)/localhost.pem", key: "\(directory)/localhost.key")
        defer { try? FileManager.default.removeItem(atPath: good) }
        let passed = try CLITests.latch(["check", good])
        #expect(passed.status == .exited(0), "\(passed.stderr)")
        #expect(passed.stdout.hasPrefix("Listeners:  127.0.0.1:8443 (TLS: TLSv1.2, TLSv1.3, HTTP/2 and HTTP/1.1, 1 certificate, files checked every 10s), "
            + "127.0.0.1:8080 (redirects to https port 8443)\n"))
        #expect(passed.stderr.isEmpty)

        let wrongKey = try Self.config(certificate: "\(directory)/localhost.pem", key: "\(directory)/ca.key")
        defer { try? FileManager.default.removeItem(atPath: wrongKey) }
        let refused = try CLITests.latch(["check", wrongKey])
        #expect(refused.status == .exited(2))
        #expect(refused.stderr.hasPrefix("error: \(wrongKey):5:12: listen[0].tls.key: key file \"\(directory)/ca.key\" does not belong to the certificate \"localhost\""),
                "\(refused.stderr)")
        #expect(refused.stderr.contains("it is the key of certificate 2 in that file"))
    }
}
