import LatchCore
import Testing

/// The PROXY protocol header, versions 1 and 2, as HAProxy's proxy-protocol.txt describes them.
@Suite("PROXY protocol header")
struct ProxyProtocolHeaderTests {
    typealias Header = ProxyProtocolHeader

    struct Row: CustomTestStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        /// The parse, or nil when it is refused.
        let parsed: Header.Parsed?
        /// Words the refusal says.
        var refusal = ""
        var testDescription: String { name }
    }

    static func text(_ string: String) -> [UInt8] { Array(string.utf8) }

    static func endpoint(_ ip: String, _ port: Int) -> Header.Endpoint { Header.Endpoint(ip: ip, port: port) }

    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// A v2 header: signature, version 2 with `command`, `familyProtocol`, the length, then `body`.
    static func v2(command: UInt8 = 1, familyProtocol: UInt8, body: [UInt8], length: Int? = nil) -> [UInt8] {
        let length = length ?? body.count
        return signature + [0x20 | command, familyProtocol, UInt8(length >> 8), UInt8(length & 0xFF)] + body
    }

    static let ipv4Body: [UInt8] = [192, 0, 2, 7, 198, 51, 100, 1, 0xDC, 0x04, 0x01, 0xBB]  // ports 56324, 443
    static let ipv6Body: [UInt8] =
        [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        + [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2] + [0x00, 0x01, 0xFF, 0xFF]

    static let v1Line = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"
    static let proxied4 = Header.proxied(source: endpoint("192.0.2.7", 56324), destination: endpoint("198.51.100.1", 443))
    static let proxied6 = Header.proxied(source: endpoint("2001:db8::1", 1), destination: endpoint("2001:db8::2", 65535))

    static let rows: [Row] = [
        // Version 1.
        Row(name: "v1 TCP4, then the client's bytes", bytes: text(v1Line + "GET / HTTP/1.1\r\n"),
            parsed: .header(proxied4, length: v1Line.utf8.count)),
        Row(name: "v1 TCP6, addresses written back canonically", bytes: text("PROXY TCP6 2001:0db8:0000::1 2001:db8::2 1 65535\r\n"),
            parsed: .header(proxied6, length: 50)),
        Row(name: "v1 UNKNOWN keeps the peer's address", bytes: text("PROXY UNKNOWN\r\n"), parsed: .header(.local, length: 15)),
        Row(name: "v1 UNKNOWN with anything after it", bytes: text("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"),
            parsed: .header(.local, length: 35)),
        Row(name: "nothing yet", bytes: [], parsed: .needMore),
        Row(name: "v1 cut in its prefix", bytes: text("PRO"), parsed: .needMore),
        Row(name: "v1 cut in its addresses", bytes: text("PROXY TCP4 192.0"), parsed: .needMore),
        Row(name: "an HTTP request instead", bytes: text("GET / HTTP/1.1\r\n\r\n"), parsed: nil, refusal: "does not start with a PROXY protocol header"),
        Row(name: "a word that starts like PROXY", bytes: text("PROXIMITY"), parsed: nil, refusal: "does not start with a PROXY protocol header"),
        Row(name: "v1 without a port", bytes: text("PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n"), parsed: nil,
            refusal: "needs two addresses and two ports"),
        Row(name: "v1 with two spaces", bytes: text("PROXY TCP4  192.0.2.7 198.51.100.1 56324 443\r\n"), parsed: nil,
            refusal: "needs two addresses and two ports"),
        Row(name: "v1 TCP4 with a bad address", bytes: text("PROXY TCP4 192.0.2.256 198.51.100.1 1 2\r\n"), parsed: nil,
            refusal: "not IPv4"),
        Row(name: "v1 TCP4 with an IPv6 address", bytes: text("PROXY TCP4 ::1 198.51.100.1 1 2\r\n"), parsed: nil, refusal: "not IPv4"),
        Row(name: "v1 TCP6 with an IPv4 address", bytes: text("PROXY TCP6 192.0.2.7 ::1 1 2\r\n"), parsed: nil, refusal: "not IPv6"),
        Row(name: "v1 port 65536", bytes: text("PROXY TCP4 192.0.2.7 198.51.100.1 65536 443\r\n"), parsed: nil, refusal: "0 to 65535"),
        Row(name: "v1 port with a leading zero", bytes: text("PROXY TCP4 192.0.2.7 198.51.100.1 0443 443\r\n"), parsed: nil,
            refusal: "0 to 65535"),
        Row(name: "v1 port with a sign", bytes: text("PROXY TCP4 192.0.2.7 198.51.100.1 +443 443\r\n"), parsed: nil, refusal: "0 to 65535"),
        Row(name: "v1 with a bare LF", bytes: text("PROXY UNKNOWN\n"), parsed: nil, refusal: "does not end with CRLF"),
        Row(name: "v1 UDP4", bytes: text("PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n"), parsed: nil, refusal: "TCP4, TCP6 or UNKNOWN"),
        Row(name: "v1 over 107 bytes without a line end", bytes: text("PROXY UNKNOWN " + String(repeating: "x", count: 100)), parsed: nil,
            refusal: "longer than 107 bytes"),
        // Version 2.
        Row(name: "v2 PROXY over IPv4, then the client's bytes", bytes: v2(familyProtocol: 0x11, body: ipv4Body) + text("GET"),
            parsed: .header(proxied4, length: 28)),
        Row(name: "v2 PROXY over IPv6", bytes: v2(familyProtocol: 0x21, body: ipv6Body), parsed: .header(proxied6, length: 52)),
        Row(name: "v2 with TLVs after the addresses (skipped)", bytes: v2(familyProtocol: 0x11, body: ipv4Body + [0x05, 0x00, 0x02, 0xAB, 0xCD]),
            parsed: .header(proxied4, length: 33)),
        Row(name: "v2 LOCAL keeps the peer's address", bytes: v2(command: 0, familyProtocol: 0x00, body: []), parsed: .header(.local, length: 16)),
        Row(name: "v2 LOCAL with addresses (ignored)", bytes: v2(command: 0, familyProtocol: 0x11, body: ipv4Body),
            parsed: .header(.local, length: 28)),
        Row(name: "v2 PROXY UNSPEC keeps the peer's address", bytes: v2(familyProtocol: 0x00, body: []), parsed: .header(.local, length: 16)),
        Row(name: "v2 PROXY over a unix socket keeps the peer's address", bytes: v2(familyProtocol: 0x31, body: [UInt8](repeating: 0, count: 216)),
            parsed: .header(.local, length: 232)),
        Row(name: "v2 signature only", bytes: signature, parsed: .needMore),
        Row(name: "v2 cut in its addresses", bytes: Array(v2(familyProtocol: 0x11, body: ipv4Body).prefix(20)), parsed: .needMore),
        Row(name: "v2 cut in its signature", bytes: Array(signature.prefix(5)), parsed: .needMore),
        Row(name: "v2 with version 1", bytes: signature + [0x11, 0x11, 0, 12] + ipv4Body, parsed: nil, refusal: "with version 1"),
        Row(name: "v2 with command 2", bytes: v2(command: 2, familyProtocol: 0x11, body: ipv4Body), parsed: nil, refusal: "command 2"),
        Row(name: "v2 with an unknown family", bytes: v2(familyProtocol: 0x41, body: ipv4Body), parsed: nil, refusal: "0x41"),
        Row(name: "v2 IPv4 with too few address bytes", bytes: v2(familyProtocol: 0x11, body: Array(ipv4Body.prefix(8))), parsed: nil,
            refusal: "12 needed"),
        Row(name: "v2 announcing 64 KiB", bytes: v2(familyProtocol: 0x11, body: ipv4Body, length: 0xFFFF), parsed: nil, refusal: "at most 2064"),
        Row(name: "a wrong signature", bytes: [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0B], parsed: nil,
            refusal: "does not start with a PROXY protocol header"),
    ]

    @Test(arguments: rows)
    func parses(row: Row) {
        let result = row.bytes.withUnsafeBytes { bytes in Result { () throws(Header.Refusal) in try Header.parse(bytes) } }
        switch result {
        case .success(let parsed):
            #expect(parsed == row.parsed, "\(row.name)")
        case .failure(let refusal):
            #expect(row.parsed == nil, "\(row.name): refused: \(refusal)")
            #expect(refusal.description.contains(row.refusal), "\(row.name): \(refusal)")
        }
    }

    @Test("a header fed a byte at a time needs more until its last byte, then parses the same")
    func byteByByte() throws {
        for whole in [Self.text(Self.v1Line), Self.v2(familyProtocol: 0x21, body: Self.ipv6Body)] {
            for cut in 0..<whole.count {
                let parsed = try Array(whole.prefix(cut)).withUnsafeBytes { bytes throws(Header.Refusal) in try Header.parse(bytes) }
                #expect(parsed == .needMore, "cut at \(cut)")
            }
            let parsed = try whole.withUnsafeBytes { bytes throws(Header.Refusal) in try Header.parse(bytes) }
            guard case .header(_, let length) = parsed else {
                Issue.record("no header")
                continue
            }
            #expect(length == whole.count)
        }
    }
}
