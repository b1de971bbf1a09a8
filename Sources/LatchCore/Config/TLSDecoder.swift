import Foundation

/// Walks `listen[i].tls` into a ``TLSListenerConfig``.
///
/// The files are checked for existence and readability here, as `token_file` is, so `latch check`
/// fails on a typo in a path; what is in them (PEM that parses, a key that belongs to its
/// certificate) is checked by the proxy when it builds the TLS context, and `latch check` runs that too.
enum TLSDecoder {
    static let keys = ["certificate", "key", "protocols", "sni", "watch"]
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
        if let value = mapping.value("watch") {
            if case .some(false) = try? value.bool() {
                tls.watchInterval = nil
            } else {
                tls.watchInterval = try value.duration()
            }
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
