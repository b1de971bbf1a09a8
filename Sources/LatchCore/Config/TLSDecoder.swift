import Foundation

/// Walks `listen[i].tls` into a ``TLSListenerConfig``.
///
/// The files are checked for existence and readability here, as `token_file` is, so `latch check`
/// fails on a typo in a path; what is in them (PEM that parses, a key that belongs to its
/// certificate) is checked by the proxy when it builds the TLS context, and `latch check` runs that too.
enum TLSDecoder {
    static let keys = ["certificate", "key", "protocols", "sni", "watch", "http2"]
    static let sniKeys = ["certificate", "key"]

    static func tls(_ node: ConfigNode) throws(ConfigError) -> TLSListenerConfig {
        let mapping = try node.mapping(allowedKeys: keys)
        var certificates = [try certificate(mapping)]
        if let list = mapping.value("sni") {
            for item in try list.list() {
                let entry = try certificate(item.mapping(allowedKeys: sniKeys))
                if let earlier = certificates.firstIndex(of: entry) {
                    throw entry.source.error("certificate \"\(entry.certificate)\" with key \"\(entry.key)\" is already "
                        + (earlier == 0 ? "the default certificate" : "listed in sni[\(earlier - 1)]"))
                }
                certificates.append(entry)
            }
        }
        var tls = TLSListenerConfig(certificates: certificates)
        if let value = mapping.value("protocols") { tls.protocols = try protocols(value) }
        if let value = mapping.value("http2") { tls.http2 = try value.bool() }
        if let value = mapping.value("watch") {
            if case .some(false) = try? value.bool() {
                tls.watchInterval = nil
            } else {
                tls.watchInterval = try value.duration()
            }
        }
        return tls
    }

    static let upstreamKeys = ["ca", "server_name", "insecure", "certificate", "key"]

    /// `clusters[i].tls`: present, even empty, it turns TLS to the nodes on (verified against the
    /// system's trust store); `false` turns it off.
    static func upstream(_ node: ConfigNode) throws(ConfigError) -> UpstreamTLSConfig? {
        if case .some(false) = try? node.bool() { return nil }
        if case .scalar = node.node, !node.isNull {
            throw node.error("expected a mapping of TLS keys (an empty `tls: {}` verifies against the system's trust store) "
                + "or false, found \(node.kind)")
        }
        let mapping = try node.mapping(allowedKeys: upstreamKeys)
        var tls = UpstreamTLSConfig(source: node.source)
        if let value = mapping.value("insecure") { tls.insecure = try value.bool() }
        if let value = mapping.value("ca") {
            if tls.insecure {
                throw value.error("`insecure: true` skips verification, so this CA would never be used; remove one of the two")
            }
            tls.caFile = try readablePath(value, what: "CA")
            tls.source = value.source
        }
        if let value = mapping.value("server_name") {
            let name = try value.string()
            let isNameCharacter: (Character) -> Bool = { $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) }
            guard !name.isEmpty, name.allSatisfy(isNameCharacter), !name.allSatisfy({ $0.isNumber || $0 == "." }) else {
                throw value.error("\"\(name)\" is not a DNS name; server_name is sent as SNI, which cannot carry an address (RFC 6066 §3)")
            }
            tls.serverName = name
        }
        switch (mapping.value("certificate"), mapping.value("key")) {
        case (nil, nil):
            break
        case (.some, .some):
            tls.clientCertificate = try certificate(mapping)
        case (.some(let certificate), nil):
            throw certificate.error("a client certificate needs its `key` too")
        case (nil, .some(let key)):
            throw key.error("a client key needs its `certificate` too")
        }
        return tls
    }

    private static func certificate(_ mapping: ConfigMapping) throws(ConfigError) -> CertificateFiles {
        let certificateNode = try mapping.required("certificate")
        let keyNode = try mapping.required("key")
        let certificate = try readablePath(certificateNode, what: "certificate")
        let key = try readablePath(keyNode, what: "key")
        return CertificateFiles(certificate: certificate, key: key, source: certificateNode.source, keySource: keyNode.source)
    }

    private static func readablePath(_ node: ConfigNode, what: String) throws(ConfigError) -> String {
        let path = try node.string()
        guard !path.isEmpty else { throw node.error("must not be empty; give the path of the PEM \(what) file") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw node.error("\(what) file \"\(path)\" does not exist")
        }
        guard !isDirectory.boolValue else { throw node.error("\(what) file \"\(path)\" is a directory") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw node.error("\(what) file \"\(path)\" is not readable by this user")
        }
        return path
    }

    /// A non-empty list of distinct versions; TLS 1.0 and 1.1 are named and refused rather than
    /// reported as unknown, so the operator learns why.
    private static func protocols(_ node: ConfigNode) throws(ConfigError) -> [TLSProtocolVersion] {
        let items = try node.list()
        guard !items.isEmpty else { throw node.error("no protocols; leave `protocols` out for TLSv1.2 and TLSv1.3") }
        var versions: [TLSProtocolVersion] = []
        for item in items {
            let text = try item.string()
            if ["TLSv1", "TLSv1.0", "TLSv1.1", "SSLv3", "SSLv2"].contains(text) {
                throw item.error("\(text) is not offered: it is deprecated (RFC 8996) and has known attacks; use TLSv1.2 and TLSv1.3")
            }
            let version = try item.oneOf(TLSProtocolVersion.self, what: "TLS protocol")
            guard !versions.contains(version) else { throw item.error("\(text) is listed twice") }
            versions.append(version)
        }
        return versions.sorted()
    }
}

extension ConfigNode {
    /// Where this node is, for errors found after loading.
    var source: ConfigSource {
        ConfigSource(file: file, line: node.mark?.line, column: node.mark?.column, keyPath: path)
    }
}
