import Foundation
import LatchCore
import NIOSSL
import SwiftASN1
import X509

/// A certificate chain and its key, read, parsed and checked against each other.
struct LoadedCertificate: Sendable {
    let files: CertificateFiles
    let chain: [NIOSSLCertificate]
    let key: NIOSSLPrivateKey
    /// The DNS names SNI picks this certificate for: its subject alternative names, or its common
    /// name when it has none (RFC 6125 §6.4.4).
    let names: [String]
    let notValidAfter: Date
}

/// Reads the PEM files of a ``CertificateFiles`` and says precisely what is wrong with them, at the
/// place in lb.yaml that names them: a missing or empty file, no certificate in it, an encrypted
/// key, a key that belongs to another certificate (often: the chain's leaf is not first).
enum CertificateLoader {
    static func load(_ files: CertificateFiles) throws(ConfigError) -> LoadedCertificate {
        let certificateBytes = try read(files.certificate, what: "certificate", at: files.source)
        // NIOSSL says only `failedToLoadCertificate` for a file without certificates: say which.
        let chain = (try? NIOSSLCertificate.fromPEMBytes(certificateBytes)) ?? []
        guard let leafSSL = chain.first else {
            throw files.source.error("certificate file \"\(files.certificate)\" holds no certificate "
                + "(expected a \"-----BEGIN CERTIFICATE-----\" block)")
        }
        let leaf: Certificate
        do {
            leaf = try Certificate(derEncoded: leafSSL.toDERBytes())
        } catch {
            throw files.source.error("certificate file \"\(files.certificate)\": the first certificate does not parse: \(error)")
        }

        let keyBytes = try read(files.key, what: "key", at: files.keySource)
        let keyText = String(decoding: keyBytes, as: UTF8.self)
        if keyText.contains("ENCRYPTED") {
            throw files.keySource.error("key file \"\(files.key)\" is encrypted; Latch needs the key unencrypted "
                + "(as HAProxy and nginx without ssl_password_file do): protect it with file permissions instead")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
        } catch {
            throw files.keySource.error("key file \"\(files.key)\" holds no PEM private key "
                + "(expected a \"-----BEGIN PRIVATE KEY-----\" block or its EC/RSA form)")
        }
        // The match check needs the key in X509's terms; a key type it cannot read (rare) is left to
        // the TLS library, which refuses a mismatch when the context is built.
        if let parsed = privateKey(in: keyText), parsed.publicKey != leaf.publicKey {
            let later = chain.dropFirst().compactMap { try? Certificate(derEncoded: $0.toDERBytes()) }
            let owner = later.firstIndex { $0.publicKey == parsed.publicKey }.map { index in
                "; it is the key of certificate \(index + 2) in that file, \(describe(later[index])): "
                    + "the server's own certificate must come first, and the key must be its key"
            }
            throw files.keySource.error("key file \"\(files.key)\" does not belong to the certificate \(describe(leaf)) "
                + "in \"\(files.certificate)\"" + (owner ?? ""))
        }
        return LoadedCertificate(files: files, chain: chain, key: key, names: names(of: leaf), notValidAfter: leaf.notValidAfter)
    }

    private static func read(_ path: String, what: String, at source: ConfigSource) throws(ConfigError) -> [UInt8] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw source.error("cannot read \(what) file \"\(path)\": \(ConfigLoader.osReason(error))")
        }
        guard !data.isEmpty else { throw source.error("\(what) file \"\(path)\" is empty") }
        return Array(data)
    }

    /// The first private key among the PEM blocks of `text` (a key file may hold the chain as well).
    private static func privateKey(in text: String) -> Certificate.PrivateKey? {
        guard let documents = try? PEMDocument.parseMultiple(pemString: text) else { return nil }
        for document in documents where document.discriminator.hasSuffix("PRIVATE KEY") {
            if let key = try? Certificate.PrivateKey(pemDocument: document) { return key }
        }
        return nil
    }

    static func names(of certificate: Certificate) -> [String] {
        var names: [String] = []
        if let alternatives = try? certificate.extensions.subjectAlternativeNames {
            for case .dnsName(let name) in alternatives { names.append(name) }
        }
        if names.isEmpty, let commonName = commonName(of: certificate) { names.append(commonName) }
        return names
    }

    private static func commonName(of certificate: Certificate) -> String? {
        for rdn in certificate.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return attribute.value.description
            }
        }
        return nil
    }

    /// `"shop.example.com" (expires 2027-01-31)`, for errors and logs.
    static func describe(_ certificate: Certificate) -> String {
        let name = names(of: certificate).first.map { "\"\($0)\"" } ?? "without a name"
        return "\(name) (expires \(certificate.notValidAfter.formatted(.iso8601.year().month().day())))"
    }
}
