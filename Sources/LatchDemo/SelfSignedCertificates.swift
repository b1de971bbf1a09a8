import Crypto
import Foundation
import X509

/// A private certificate authority and server certificates it signs, made in memory: what
/// `latch demo --tls` serves and what the TLS tests handshake against. `Scripts/self-signed-cert`
/// makes the same kind of files with openssl for an operator's own trials.
///
/// A CA and a leaf rather than one self-signed leaf, as in production: the client trusts the CA
/// (`curl --cacert ca.pem`), and Latch sends the chain it is given.
public struct SelfSignedCertificates: Sendable {
    public struct Issued: Sendable {
        /// The leaf's PEM, then the CA's (the chain a server sends).
        public var chainPEM: String
        public var keyPEM: String
        public var names: [String]
    }

    public let caPEM: String
    private let caKey: Certificate.PrivateKey
    private let caName: DistinguishedName

    public init(commonName: String = "Latch demo CA") throws {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let name = try DistinguishedName { CommonName(commonName) }
        let ca = try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: key.publicKey,
            notValidBefore: Date().addingTimeInterval(-3600),
            notValidAfter: Date().addingTimeInterval(30 * 86400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true))
            },
            issuerPrivateKey: key
        )
        self.caKey = key
        self.caName = name
        self.caPEM = try ca.serializeAsPEM().pemString
    }

    /// A server certificate for `names` (DNS names; the first is also the common name), valid from an
    /// hour ago for `days`, or already expired when `days` is negative.
    public func issue(names: [String], days: Int = 30) throws -> Issued {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let subject = try DistinguishedName { CommonName(names.first ?? "localhost") }
        let end = Date().addingTimeInterval(Double(days) * 86400)
        let leaf = try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: publicKey,
            notValidBefore: min(Date().addingTimeInterval(-3600), end.addingTimeInterval(-3600)),
            notValidAfter: end,
            issuer: caName,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names.map { GeneralName.dnsName($0) })
            },
            issuerPrivateKey: caKey
        )
        return Issued(chainPEM: try leaf.serializeAsPEM().pemString + "\n" + caPEM + "\n", keyPEM: key.pemRepresentation + "\n", names: names)
    }
}

extension SelfSignedCertificates.Issued {
    /// Writes `<base>.pem` (chain) and `<base>.key` into `directory`; returns their paths.
    @discardableResult
    public func write(to directory: String, base: String) throws -> (certificate: String, key: String) {
        let certificate = (directory as NSString).appendingPathComponent("\(base).pem")
        let key = (directory as NSString).appendingPathComponent("\(base).key")
        try chainPEM.write(toFile: certificate, atomically: true, encoding: .utf8)
        try keyPEM.write(toFile: key, atomically: true, encoding: .utf8)
        chmod(key, 0o600)
        return (certificate, key)
    }
}
