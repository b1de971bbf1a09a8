#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The PROXY protocol header a TCP load balancer in front of Latch (AWS NLB, another HAProxy) puts
/// before a connection's first byte, saying whom the connection is really from (HAProxy's
/// proxy-protocol.txt, versions 1 and 2). Pure: bytes in, a header or an error out.
public enum ProxyProtocolHeader: Equatable, Sendable {
    /// The client's address and port and the address it connected to, as the balancer in front saw them.
    case proxied(source: Endpoint, destination: Endpoint)
    /// A connection the balancer made itself (v2 `LOCAL`, a health check) or one whose addresses the
    /// header does not give (v1 `UNKNOWN`, v2 `UNSPEC` or unix sockets): the peer's own address stands.
    case local

    public struct Endpoint: Equatable, Sendable {
        /// Textual IP address, as `SocketAddress.ipAddress` gives it (`192.0.2.7`, `2001:db8::1`).
        public var ip: String
        public var port: Int

        public init(ip: String, port: Int) {
            self.ip = ip
            self.port = port
        }
    }

    /// What the first bytes of a connection make.
    public enum Parsed: Equatable, Sendable {
        /// Not a whole header yet: read more (a header that cannot be one is refused at once instead).
        case needMore
        /// A header of `length` bytes; what follows belongs to the client (TLS, HTTP).
        case header(ProxyProtocolHeader, length: Int)
    }

    /// Why the first bytes are not a PROXY protocol header the connection may start with.
    public struct Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// v1's longest line, CRLF included (proxy-protocol.txt §2.1).
    public static let longestV1 = 107
    /// v2 headers Latch reads at most: the 16 fixed bytes, addresses and TLVs (AWS adds a few dozen
    /// bytes of TLVs; the format allows 64 KiB, which no balancer in front needs).
    public static let longestV2 = 16 + 2048

    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    static let v1Prefix = Array("PROXY ".utf8)

    /// Reads the header at the start of `bytes`, the first bytes the connection brought.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(Refusal) -> Parsed {
        guard let first = bytes.first else { return .needMore }
        if first == v1Prefix[0] {
            guard matches(bytes, v1Prefix) else { throw Refusal("the connection does not start with a PROXY protocol header") }
            return try parseV1(bytes)
        }
        if first == v2Signature[0] {
            guard matches(bytes, v2Signature) else { throw Refusal("the connection does not start with a PROXY protocol header") }
            return try parseV2(bytes)
        }
        throw Refusal("the connection does not start with a PROXY protocol header")
    }

    /// Whether `bytes` start like `prefix` as far as they go.
    private static func matches(_ bytes: UnsafeRawBufferPointer, _ prefix: [UInt8]) -> Bool {
        zip(bytes, prefix).allSatisfy { $0 == $1 }
    }

    // MARK: - Version 1: "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"

    private static func parseV1(_ bytes: UnsafeRawBufferPointer) throws(Refusal) -> Parsed {
        let window = bytes.prefix(longestV1)
        guard let lf = window.firstIndex(of: UInt8(ascii: "\n")) else {
            if bytes.count >= longestV1 { throw Refusal("PROXY v1 header longer than \(longestV1) bytes") }
            return .needMore
        }
        guard lf > 0, bytes[lf - 1] == UInt8(ascii: "\r") else { throw Refusal("PROXY v1 header does not end with CRLF") }
        let line = String(decoding: bytes[0..<(lf - 1)], as: UTF8.self)
        let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        // fields[0] is "PROXY".
        guard fields.count >= 2 else { throw Refusal("PROXY v1 header without a protocol") }
        switch fields[1] {
        case "UNKNOWN":
            // Whatever follows UNKNOWN is to be ignored (§2.1).
            return .header(.local, length: lf + 1)
        case "TCP4", "TCP6":
            guard fields.count == 6 else { throw Refusal("PROXY v1 \(fields[1]) header needs two addresses and two ports") }
            let family = fields[1] == "TCP4" ? AF_INET : AF_INET6
            guard let source = canonicalIP(fields[2], family: family), let destination = canonicalIP(fields[3], family: family) else {
                throw Refusal("PROXY v1 header with an address that is not \(fields[1] == "TCP4" ? "IPv4" : "IPv6"): \(fields[2]) \(fields[3])")
            }
            guard let sourcePort = port(fields[4]), let destinationPort = port(fields[5]) else {
                throw Refusal("PROXY v1 header with a port that is not 0 to 65535: \(fields[4]) \(fields[5])")
            }
            return .header(
                .proxied(source: Endpoint(ip: source, port: sourcePort), destination: Endpoint(ip: destination, port: destinationPort)),
                length: lf + 1)
        default:
            throw Refusal("PROXY v1 header with protocol \(fields[1].prefix(16)) (TCP4, TCP6 or UNKNOWN)")
        }
    }

    /// Decimal, no sign, no leading zero (as HAProxy writes them), 0 to 65535.
    private static func port(_ text: String) -> Int? {
        guard !text.isEmpty, text.count <= 5, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            text == "0" || !text.hasPrefix("0"), let value = Int(text), value <= 65535
        else { return nil }
        return value
    }

    /// The address in the form `inet_ntop` writes it, or nil when `text` is not one of `family`.
    private static func canonicalIP(_ text: String, family: Int32) -> String? {
        var storage = [UInt8](repeating: 0, count: 16)
        guard inet_pton(family, text, &storage) == 1 else { return nil }
        return format(storage[0..<(family == AF_INET ? 4 : 16)], family: family)
    }

    private static func format(_ address: ArraySlice<UInt8>, family: Int32) -> String {
        var bytes = Array(address)
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = inet_ntop(family, &bytes, &text, socklen_t(text.count))
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Source address, destination address (`size` bytes each), source port, destination port.
    private static func addresses(_ body: UnsafeRawBufferPointer, size: Int, family: Int32, name: String) throws(Refusal) -> ProxyProtocolHeader {
        let needed = 2 * size + 4
        guard body.count >= needed else { throw Refusal("PROXY v2 \(name) header with \(body.count) bytes of addresses (\(needed) needed)") }
        func port(at offset: Int) -> Int { Int(body[offset]) << 8 | Int(body[offset + 1]) }
        return .proxied(
            source: Endpoint(ip: format(Array(body[0..<size])[...], family: family), port: port(at: 2 * size)),
            destination: Endpoint(ip: format(Array(body[size..<(2 * size)])[...], family: family), port: port(at: 2 * size + 2)))
    }

    // MARK: - Version 2: 12-byte signature, version/command, family/protocol, length, addresses, TLVs

    private static func parseV2(_ bytes: UnsafeRawBufferPointer) throws(Refusal) -> Parsed {
        guard bytes.count >= 16 else { return .needMore }
        let versionCommand = bytes[12]
        guard versionCommand >> 4 == 2 else { throw Refusal("PROXY v2 header with version \(versionCommand >> 4)") }
        let command = versionCommand & 0x0F
        guard command <= 1 else { throw Refusal("PROXY v2 header with command \(command) (LOCAL or PROXY)") }
        let familyProtocol = bytes[13]
        let length = Int(bytes[14]) << 8 | Int(bytes[15])
        guard 16 + length <= longestV2 else { throw Refusal("PROXY v2 header of \(16 + length) bytes (at most \(longestV2))") }
        guard bytes.count >= 16 + length else { return .needMore }
        // LOCAL: the balancer's own connection; its addresses, if any, are ignored (§2.2).
        if command == 0 { return .header(.local, length: 16 + length) }
        let body = UnsafeRawBufferPointer(rebasing: bytes[16..<(16 + length)])
        switch familyProtocol {
        case 0x11:  // TCP over IPv4
            return .header(try addresses(body, size: 4, family: AF_INET, name: "IPv4"), length: 16 + length)
        case 0x21:  // TCP over IPv6
            return .header(try addresses(body, size: 16, family: AF_INET6, name: "IPv6"), length: 16 + length)
        case 0x00, 0x31, 0x32, 0x12, 0x22:
            // UNSPEC, unix sockets, datagrams: no TCP client address to take; the peer's stands (§2.2).
            return .header(.local, length: 16 + length)
        default:
            throw Refusal("PROXY v2 header with address family and protocol 0x\(String(familyProtocol, radix: 16))")
        }
    }
}
