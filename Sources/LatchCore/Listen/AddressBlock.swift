#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A block of IP addresses as operators write them: `10.0.0.0/8`, `2001:db8::/32`, or one address
/// (`192.0.2.7` is `192.0.2.7/32`). Used to say which peers may send a PROXY protocol header.
public struct AddressBlock: Sendable, Equatable, CustomStringConvertible {
    /// The network's bytes (4 for IPv4, 16 for IPv6), bits past the prefix cleared.
    let network: [UInt8]
    let prefixLength: Int

    /// Why a text is not an address block; the message says what was expected.
    public struct Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
    }

    public init(parsing text: String) throws(Invalid) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let addressText = String(parts[0])
        guard let bytes = Self.bytes(ofAddress: addressText) else {
            throw Invalid(description: "\"\(addressText)\" is not an IPv4 or IPv6 address (e.g. 10.0.0.0/8, 2001:db8::/32)")
        }
        let bits = bytes.count * 8
        var length = bits
        if parts.count == 2 {
            guard parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let prefix = Int(parts[1]), (0...bits).contains(prefix) else {
                throw Invalid(description: "prefix length \"\(parts[1])\" must be a number from 0 to \(bits) for \(bits == 32 ? "IPv4" : "IPv6")")
            }
            length = prefix
        }
        var network = bytes
        for index in network.indices {
            let kept = max(0, min(8, length - index * 8))
            network[index] &= kept == 8 ? 0xFF : ~(0xFF >> UInt8(kept))
        }
        // 10.0.0.1/8 is almost always a typo for 10.0.0.0/8 or 10.0.0.1/32; refusing it makes the
        // operator say which (as `ip route` does).
        guard network == bytes else {
            throw Invalid(description: "\(text) has bits set past its prefix; the block is \(Self.text(network))/\(length)")
        }
        self.network = network
        self.prefixLength = length
    }

    public var description: String { "\(Self.text(network))/\(prefixLength)" }

    /// Whether the textual address `ip` (as `SocketAddress.ipAddress` gives it) lies in the block. An
    /// IPv4 client on a dual-stack listener shows as `::ffff:a.b.c.d`: it is matched as IPv4 too.
    public func contains(ip: String) -> Bool {
        guard var bytes = Self.bytes(ofAddress: ip) else { return false }
        if bytes.count == 16, network.count == 4, bytes.prefix(12).elementsEqual(Self.mappedPrefix) {
            bytes.removeFirst(12)
        }
        guard bytes.count == network.count else { return false }
        var remaining = prefixLength
        for index in bytes.indices where remaining > 0 {
            let kept = min(8, remaining)
            let mask: UInt8 = kept == 8 ? 0xFF : ~(0xFF >> UInt8(kept))
            if bytes[index] & mask != network[index] { return false }
            remaining -= kept
        }
        return true
    }

    /// `::ffff:0:0/96`, IPv4 addresses as an IPv6 socket sees them (RFC 4291 §2.5.5.2).
    private static let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]

    /// The address's bytes in network order, or `nil` when `text` is neither IPv4 dotted-quad nor IPv6.
    static func bytes(ofAddress text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func text(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let written = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count))
        }
        guard written != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A listener's `proxy_protocol`: which peers must start their connections with a PROXY protocol
/// header (HAProxy's proxy-protocol.txt, v1 or v2) saying whom the connection is really from.
public enum ProxyProtocolPolicy: Sendable, Equatable {
    /// Every connection (`proxy_protocol: true`), as HAProxy's `accept-proxy` and nginx's
    /// `listen … proxy_protocol`.
    case everyone
    /// Connections from these blocks (`proxy_protocol: { from: [...] }`); any other peer is a direct
    /// client whose first bytes are its request, and a PROXY header from it is not believed (it
    /// reaches the HTTP parser, which refuses it), as HAProxy's `expect-proxy layer4 if { src … }`.
    case from([AddressBlock])

    /// Whether a connection from `peerIP` must start with a header.
    public func expectsHeader(from peerIP: String?) -> Bool {
        switch self {
        case .everyone: return true
        case .from(let blocks):
            guard let peerIP else { return false }
            return blocks.contains { $0.contains(ip: peerIP) }
        }
    }
}
