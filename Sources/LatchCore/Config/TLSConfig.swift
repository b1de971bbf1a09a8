/// TLS on a listener: `listen[i].tls`.
///
/// Only paths and choices live here; reading the PEM files, matching each key to its certificate and
/// building the TLS context is the proxy's work (LatchProxy, with swift-nio-ssl), which reports its
/// errors at ``CertificateFiles/source`` so they point into lb.yaml like every other config error.
public struct TLSListenerConfig: Sendable, Equatable {
    /// The default certificate first (used when the client sends no server name, or one no
    /// certificate covers), then the others; each is picked for the names its certificate lists.
    public var certificates: [CertificateFiles]
    /// The protocol versions offered; TLS 1.2 and 1.3 by default, never older (RFC 8996).
    public var protocols: [TLSProtocolVersion]
    /// How often the certificate and key files are checked for a change (a renewal by certbot, a
    /// Kubernetes secret update); `nil`: only on reload.
    public var watchInterval: Duration?
    /// Offer HTTP/2 in ALPN (`h2`, then `http/1.1`); `false`: HTTP/1.1 only.
    public var http2: Bool

    public init(
        certificates: [CertificateFiles],
        protocols: [TLSProtocolVersion] = TLSProtocolVersion.allCases,
        watchInterval: Duration? = .seconds(10),
        http2: Bool = true
    ) {
        self.certificates = certificates
        self.protocols = protocols
        self.watchInterval = watchInterval
        self.http2 = http2
    }
}

/// One certificate chain and its private key, as PEM files.
public struct CertificateFiles: Sendable, Equatable {
    /// The leaf certificate first, then the intermediates, as certbot's `fullchain.pem`.
    public var certificate: String
    public var key: String
    /// Where `certificate` was written: problems with the certificate file are reported here.
    public var source: ConfigSource
    /// Where `key` was written: problems with the key file, and a key that is not the certificate's.
    public var keySource: ConfigSource

    public init(certificate: String, key: String, source: ConfigSource = ConfigSource(file: ""), keySource: ConfigSource? = nil) {
        self.certificate = certificate
        self.key = key
        self.source = source
        self.keySource = keySource ?? source
    }

    /// Two entries naming the same files are the same, wherever they were written.
    public static func == (lhs: CertificateFiles, rhs: CertificateFiles) -> Bool {
        lhs.certificate == rhs.certificate && lhs.key == rhs.key
    }
}

/// `TLSv1.2`, `TLSv1.3`: the spellings OpenSSL, HAProxy (`ssl-min-ver`) and nginx (`ssl_protocols`) use.
public enum TLSProtocolVersion: String, Sendable, CaseIterable, Comparable {
    case tls12 = "TLSv1.2"
    case tls13 = "TLSv1.3"

    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs == .tls12 && rhs == .tls13
    }
}

/// A place in lb.yaml, kept with a value whose problems can only be found after loading (a
/// certificate file that does not parse), so the error still names file, line, column and key.
public struct ConfigSource: Sendable, Equatable {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var keyPath: String

    public init(file: String, line: Int? = nil, column: Int? = nil, keyPath: String = "") {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
    }

    public func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, column: column, keyPath: keyPath, message: message)
    }
}

/// TLS toward a cluster's nodes: `clusters[i].tls`.
public struct UpstreamTLSConfig: Sendable, Equatable {
    /// PEM file of the certificate authorities node certificates must chain to; `nil`: the system's
    /// trust store.
    public var caFile: String?
    /// The name sent as SNI and checked in each node's certificate; `nil`: the node's host name, or,
    /// for a node given by IP address, no SNI and the address checked against the certificate's IP names.
    public var serverName: String?
    /// No verification of node certificates at all (`latch check` warns).
    public var insecure: Bool
    /// A client certificate for nodes that require mutual TLS; `nil`: none.
    public var clientCertificate: CertificateFiles?
    /// Where `ca` was written (or `tls`, without one).
    public var source: ConfigSource

    public init(
        caFile: String? = nil,
        serverName: String? = nil,
        insecure: Bool = false,
        clientCertificate: CertificateFiles? = nil,
        source: ConfigSource = ConfigSource(file: "")
    ) {
        self.caFile = caFile
        self.serverName = serverName
        self.insecure = insecure
        self.clientCertificate = clientCertificate
        self.source = source
    }

    /// Equal settings, wherever they were written.
    public static func == (lhs: UpstreamTLSConfig, rhs: UpstreamTLSConfig) -> Bool {
        lhs.caFile == rhs.caFile && lhs.serverName == rhs.serverName && lhs.insecure == rhs.insecure
            && lhs.clientCertificate == rhs.clientCertificate
    }
}
