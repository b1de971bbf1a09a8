import Testing
@testable import LatchCore

/// `listen[i].proxy_protocol` as the loader reads it.
struct ConfigProxyProtocolTests {
    static func file(_ value: String) -> String {
        "listen:\n  - address: 0.0.0.0:8080\n    proxy_protocol: " + value + """

            clusters:
              - name: shop
                nodes:
                  - { name: tomcat1, address: 10.0.0.11:8080 }

            """
    }

    static func parse(_ yaml: String) throws -> LatchConfig {
        try ConfigLoader.parse(yaml: yaml, file: "lb.yaml")
    }

    @Test func values() throws {
        #expect(try Self.parse(Self.file("true")).listeners[0].proxyProtocol == .everyone)
        #expect(try Self.parse(Self.file("false")).listeners[0].proxyProtocol == nil)
        let from = try Self.parse(Self.file("{ from: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\"] }")).listeners[0].proxyProtocol
        #expect(from == .from([try AddressBlock(parsing: "10.0.0.0/8"), try AddressBlock(parsing: "192.0.2.7/32"), try AddressBlock(parsing: "2001:db8::/32")]))
        let plain = try Self.parse("listen:\n  - address: 0.0.0.0:8080\nclusters:\n  - name: shop\n    nodes:\n      - { name: tomcat1, address: 10.0.0.11:8080 }\n")
        #expect(plain.listeners[0].proxyProtocol == nil)
    }

    @Test func errorsNamePlaceAndKey() throws {
        let cases: [(String, String)] = [
            ("yes please", "lb.yaml:3:21: listen[0].proxy_protocol: expected true, false or a mapping `{ from: [10.0.0.0/8, ...] }`, found a string (\"yes please\")"),
            ("[10.0.0.0/8]", "lb.yaml:3:21: listen[0].proxy_protocol: expected true, false or a mapping `{ from: [10.0.0.0/8, ...] }`, found a list"),
            ("{ from: [10.0.0.1/8] }", "lb.yaml:3:30: listen[0].proxy_protocol.from[0]: 10.0.0.1/8 has bits set past its prefix; the block is 10.0.0.0/8"),
            ("{ from: [10.0.0.0/8, lb.internal] }", "lb.yaml:3:42: listen[0].proxy_protocol.from[1]: \"lb.internal\" is not an IPv4 or IPv6 address (e.g. 10.0.0.0/8, 2001:db8::/32)"),
            ("{ from: [] }", "lb.yaml:3:29: listen[0].proxy_protocol.from: no address blocks; list the balancers in front, e.g. `from: [10.0.0.0/8]`, or write `proxy_protocol: true` for every peer"),
            ("{ form: [10.0.0.0/8] }", "lb.yaml:3:23: listen[0].proxy_protocol.form: unknown key `form`; did you mean `from`?"),
            ("{ }", "lb.yaml:3:21: listen[0].proxy_protocol: missing required key `from`"),
            ("{ from: 10.0.0.0/8 }", "lb.yaml:3:29: listen[0].proxy_protocol.from: expected a list, found a string (\"10.0.0.0/8\")"),
        ]
        for (value, expected) in cases {
            #expect(throws: ConfigError.self) { try Self.parse(Self.file(value)) }
            do {
                _ = try Self.parse(Self.file(value))
            } catch {
                #expect("\(error)" == expected)
            }
        }
    }

    @Test func summaryShowsIt() throws {
        #expect(ConfigSummary.render(try Self.parse(Self.file("true"))).hasPrefix(
            "Listeners:  0.0.0.0:8080, PROXY protocol header from every peer\n"))
        #expect(ConfigSummary.render(try Self.parse(Self.file("{ from: [10.0.0.0/8, \"::1\"] }"))).hasPrefix(
            "Listeners:  0.0.0.0:8080, PROXY protocol header from 10.0.0.0/8, ::1/128\n"))
    }
}
