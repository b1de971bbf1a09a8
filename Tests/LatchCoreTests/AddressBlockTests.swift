import Testing
@testable import LatchCore

/// `proxy_protocol.from` blocks: parsing as operators write them, and which peers they hold.
struct AddressBlockTests {
    struct ParseRow: Sendable, CustomTestStringConvertible {
        let text: String
        /// The block as it prints, or the refusal's words.
        let expected: Result<String, AddressBlock.Invalid>
        var testDescription: String { text }
    }

    static func ok(_ text: String, _ printed: String) -> ParseRow { ParseRow(text: text, expected: .success(printed)) }
    static func refused(_ text: String, _ why: String) -> ParseRow { ParseRow(text: text, expected: .failure(.init(description: why))) }

    static let parseRows: [ParseRow] = [
        ok("10.0.0.0/8", "10.0.0.0/8"),
        ok("192.0.2.7", "192.0.2.7/32"),
        ok("0.0.0.0/0", "0.0.0.0/0"),
        ok("172.16.0.0/12", "172.16.0.0/12"),
        ok("2001:db8::/32", "2001:db8::/32"),
        ok("::1", "::1/128"),
        ok("::/0", "::/0"),
        ok("2001:DB8:0:0::/64", "2001:db8::/64"),
        ok("fe80::/10", "fe80::/10"),
        refused("10.0.0.1/8", "10.0.0.1/8 has bits set past its prefix; the block is 10.0.0.0/8"),
        refused("2001:db8::1/32", "2001:db8::1/32 has bits set past its prefix; the block is 2001:db8::/32"),
        refused("10.0.0.0/33", "prefix length \"33\" must be a number from 0 to 32 for IPv4"),
        refused("::/129", "prefix length \"129\" must be a number from 0 to 128 for IPv6"),
        refused("10.0.0.0/", "prefix length \"\" must be a number from 0 to 32 for IPv4"),
        refused("10.0.0.0/+8", "prefix length \"+8\" must be a number from 0 to 32 for IPv4"),
        refused("10.0.0.0/ 8", "prefix length \" 8\" must be a number from 0 to 32 for IPv4"),
        refused("10.0.0/8", "\"10.0.0\" is not an IPv4 or IPv6 address (e.g. 10.0.0.0/8, 2001:db8::/32)"),
        refused("lb.internal", "\"lb.internal\" is not an IPv4 or IPv6 address (e.g. 10.0.0.0/8, 2001:db8::/32)"),
        refused("", "\"\" is not an IPv4 or IPv6 address (e.g. 10.0.0.0/8, 2001:db8::/32)"),
        refused("[::1]/128", "\"[::1]\" is not an IPv4 or IPv6 address (e.g. 10.0.0.0/8, 2001:db8::/32)"),
    ]

    @Test(arguments: parseRows)
    func parses(row: ParseRow) {
        let result = Result { () throws(AddressBlock.Invalid) in try AddressBlock(parsing: row.text).description }
        #expect(result == row.expected)
    }

    struct ContainsRow: Sendable, CustomTestStringConvertible {
        let block: String
        let ip: String
        let inside: Bool
        var testDescription: String { "\(ip) in \(block): \(inside)" }
    }

    static let containsRows: [ContainsRow] = [
        ContainsRow(block: "10.0.0.0/8", ip: "10.255.1.2", inside: true),
        ContainsRow(block: "10.0.0.0/8", ip: "11.0.0.0", inside: false),
        ContainsRow(block: "10.0.0.0/8", ip: "9.255.255.255", inside: false),
        ContainsRow(block: "172.16.0.0/12", ip: "172.31.255.255", inside: true),
        ContainsRow(block: "172.16.0.0/12", ip: "172.32.0.0", inside: false),
        ContainsRow(block: "192.0.2.7", ip: "192.0.2.7", inside: true),
        ContainsRow(block: "192.0.2.7", ip: "192.0.2.8", inside: false),
        ContainsRow(block: "0.0.0.0/0", ip: "203.0.113.9", inside: true),
        ContainsRow(block: "0.0.0.0/0", ip: "2001:db8::1", inside: false),
        // An IPv4 peer on a dual-stack ([::]) listener.
        ContainsRow(block: "127.0.0.0/8", ip: "::ffff:127.0.0.1", inside: true),
        ContainsRow(block: "127.0.0.0/8", ip: "::ffff:128.0.0.1", inside: false),
        ContainsRow(block: "127.0.0.0/8", ip: "::127.0.0.1", inside: false),
        ContainsRow(block: "2001:db8::/32", ip: "2001:db8:ffff::1", inside: true),
        ContainsRow(block: "2001:db8::/32", ip: "2001:db9::1", inside: false),
        ContainsRow(block: "2001:db8::/33", ip: "2001:db8:7fff::1", inside: true),
        ContainsRow(block: "2001:db8::/33", ip: "2001:db8:8000::1", inside: false),
        ContainsRow(block: "::1", ip: "::1", inside: true),
        ContainsRow(block: "::1", ip: "127.0.0.1", inside: false),
        ContainsRow(block: "::/0", ip: "10.0.0.1", inside: false),
        ContainsRow(block: "10.0.0.0/8", ip: "not an address", inside: false),
    ]

    @Test(arguments: containsRows)
    func contains(row: ContainsRow) throws {
        #expect(try AddressBlock(parsing: row.block).contains(ip: row.ip) == row.inside)
    }

    @Test func policy() throws {
        #expect(ProxyProtocolPolicy.everyone.expectsHeader(from: "203.0.113.9"))
        #expect(ProxyProtocolPolicy.everyone.expectsHeader(from: nil))
        let fromBalancers = ProxyProtocolPolicy.from([try AddressBlock(parsing: "10.0.0.0/8"), try AddressBlock(parsing: "fd00::/8")])
        #expect(fromBalancers.expectsHeader(from: "10.1.2.3"))
        #expect(fromBalancers.expectsHeader(from: "fd12::1"))
        #expect(!fromBalancers.expectsHeader(from: "192.0.2.1"))
        #expect(!fromBalancers.expectsHeader(from: nil))
    }
}
