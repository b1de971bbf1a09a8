import Foundation
import LatchCore
import NIOCore
import NIOSSL

/// Everything one TLS listener hands to a new connection: a TLS context built from its certificates,
/// which picks among them by SNI. Immutable; a reload or a changed file builds a new one, and
/// connections already open keep the one they started with.
struct TLSMaterial: Sendable {
    let config: TLSListenerConfig
    let context: NIOSSLContext
    let certificates: [LoadedCertificate]
    /// The files as they were before they were read, to notice a later change.
    let stamps: [FileStamp]

    /// Forward-secret AEAD suites only for TLS 1.2 (Mozilla's "intermediate" profile without DHE,
    /// which BoringSSL does not offer); TLS 1.3's suites are all of that kind and fixed by BoringSSL.
    static let cipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    static func load(_ config: TLSListenerConfig) throws(ConfigError) -> TLSMaterial {
        let stamps = config.certificates.flatMap { [FileStamp(path: $0.certificate), FileStamp(path: $0.key)] }
        var certificates: [LoadedCertificate] = []
        for files in config.certificates {
            let certificate = try CertificateLoader.load(files)
            if certificates.count > 0, certificate.names.isEmpty {
                throw files.source.error("certificate \"\(files.certificate)\" names no host (no DNS subject alternative "
                    + "name, no common name), so SNI can never pick it")
            }
            certificates.append(certificate)
        }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificates[0].chain.map { .certificate($0) },
            privateKey: .privateKey(certificates[0].key)
        )
        tls.minimumTLSVersion = config.protocols.min() == .tls13 ? .tlsv13 : .tlsv12
        tls.maximumTLSVersion = config.protocols.max() == .tls12 ? .tlsv12 : .tlsv13
        tls.cipherSuites = cipherSuites
        // ALPN (RFC 7301): the client's pick decides the connection's pipeline (``ProxyServer``).
        tls.applicationProtocols = config.http2 ? ["h2", "http/1.1"] : ["http/1.1"]
        if certificates.count > 1 {
            let matcher = ServerNameMatcher(names: certificates.map(\.names))
            let overrides = certificates.map { certificate in
                var override = NIOSSLContextConfigurationOverride()
                override.certificateChain = certificate.chain.map { .certificate($0) }
                override.privateKey = .privateKey(certificate.key)
                return override
            }
            tls.sslContextCallback = { hello, promise in
                let index = matcher.certificate(for: hello.serverHostname)
                promise.succeed(index == 0 ? .noChanges : overrides[index])
            }
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw config.certificates[0].source.error("cannot build a TLS context from certificate \"\(config.certificates[0].certificate)\" "
                + "and key \"\(config.certificates[0].key)\": \(error)")
        }
        return TLSMaterial(config: config, context: context, certificates: certificates, stamps: stamps)
    }

    /// Whether any certificate or key file changed since this material was read.
    var filesChanged: Bool {
        stamps.contains { $0 != FileStamp(path: $0.path) }
    }

    /// Certificates that have expired or will within `soon`: worth a warning at load, not a refusal
    /// (HAProxy and nginx serve an expired certificate too, and refusing would turn a renewal that
    /// came a day late into an outage).
    func expiryWarnings(now: Date = Date(), soon: TimeInterval = 14 * 86400) -> [String] {
        certificates.compactMap { certificate in
            let name = certificate.names.first.map { "\"\($0)\"" } ?? "\"\(certificate.files.certificate)\""
            let day = certificate.notValidAfter.formatted(.iso8601.year().month().day())
            if certificate.notValidAfter <= now {
                return "certificate \(name) in \"\(certificate.files.certificate)\" expired on \(day)"
            }
            if certificate.notValidAfter <= now.addingTimeInterval(soon) {
                return "certificate \(name) in \"\(certificate.files.certificate)\" expires on \(day)"
            }
            return nil
        }
    }
}

/// What identifies a file's content cheaply: a renewal replaces the file (new inode) or rewrites it
/// (new modification time or size). `stat`, not `lstat`: a Kubernetes secret is a symlink whose
/// target is swapped, and the target is what counts. All zero: the file could not be examined.
struct FileStamp: Sendable, Equatable {
    let path: String
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let modifiedSeconds: Int
    let modifiedNanoseconds: Int

    init(path: String) {
        self.path = path
        var info = stat()
        guard stat(path, &info) == 0 else {
            (device, inode, size, modifiedSeconds, modifiedNanoseconds) = (0, 0, 0, 0, 0)
            return
        }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modifiedSeconds = Int(info.st_mtim.tv_sec)
        modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
    }
}

extension TLSMaterial {
    /// The material of a TLS listener; `nil` for a plain one.
    static func load(_ listener: ListenerConfig) throws(ConfigError) -> TLSMaterial? {
        guard let tls = listener.tls else { return nil }
        return try load(tls)
    }
}

/// What `latch check` and `latch run` verify beyond `ConfigLoader`: that every TLS listener's
/// certificates load and match their keys, and that TLS to the nodes can be set up. Errors point
/// into lb.yaml.
public enum TLSCheck {
    /// - Returns: warnings: certificates expired or expiring within 14 days, and clusters whose node
    ///   certificates are not verified.
    public static func verify(_ config: LatchConfig) throws(ConfigError) -> [String] {
        var warnings: [String] = []
        for listener in config.listeners {
            if let material = try TLSMaterial.load(listener) { warnings += material.expiryWarnings() }
        }
        _ = try UpstreamTLS.load(clustersOf: config)
        for cluster in config.clusters where cluster.tls?.insecure == true {
            warnings.append("cluster \"\(cluster.name)\": tls.insecure is true, so node certificates are not verified "
                + "and anyone on the network path to the nodes can read and change the traffic")
        }
        return warnings
    }
}
