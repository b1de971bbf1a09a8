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
        expectConfigErrors(cases.map { (Self.file($0.0), $0.1) })
    }

    @Test func summaryShowsIt() throws {
        #expect(ConfigSummary.render(try Self.parse(Self.file("true"))).hasPrefix(
            "Listeners:  0.0.0.0:8080, PROXY protocol header from every peer\n"))
        #expect(ConfigSummary.render(try Self.parse(Self.file("{ from: [10.0.0.0/8, \"::1\"] }"))).hasPrefix(
            "Listeners:  0.0.0.0:8080, PROXY protocol header from 10.0.0.0/8, ::1/128\n"))
    }
}

/// `control_socket` as the loader reads it.
struct ConfigControlSocketTests {
    static func file(_ line: String) -> String {
        "listen:\n  - address: 0.0.0.0:8080\n" + line + "clusters:\n  - name: shop\n    nodes:\n      - { name: tomcat1, address: 10.0.0.11:8080 }\n"
    }

    static func parse(_ yaml: String) throws -> LatchConfig {
        try ConfigLoader.parse(yaml: yaml, file: "lb.yaml")
    }

    @Test func values() throws {
        #expect(try Self.parse(Self.file("")).controlSocket == .standard)
        #expect(try Self.parse(Self.file("control_socket: false\n")).controlSocket == .off)
        #expect(try Self.parse(Self.file("control_socket: /tmp/latch.sock\n")).controlSocket == .path("/tmp/latch.sock"))
        #expect(ControlSocketConfig.standard.path { _ in true } == "/run/latch/latch.sock")
        #expect(ControlSocketConfig.standard.path { _ in false } == nil)
        #expect(ControlSocketConfig.off.path { _ in true } == nil)
    }

    @Test func errorsNamePlaceAndKey() throws {
        let long = "/tmp/" + String(repeating: "d", count: 100) + ".sock"
        let cases: [(String, String)] = [
            ("control_socket: true\n", "lb.yaml:3:17: control_socket: expected a socket path or false, found true"),
            ("control_socket: \"\"\n", "lb.yaml:3:17: control_socket: must not be empty; write `false` for no control socket"),
            ("control_socket: \(long)\n", "lb.yaml:3:17: control_socket: a unix socket path holds at most 107 bytes; this one has 110"),
            ("control_socket: /nonexistent-dir/latch.sock\n",
             "lb.yaml:3:17: control_socket: cannot use directory \"/nonexistent-dir\" for the control socket: No such file or directory"),
            ("control_socket: /tmp/\n", "lb.yaml:3:17: control_socket: \"/tmp/\" names a directory; give a file name, e.g. \"/tmp/latch.sock\""),
            ("control_socket: [a]\n", "lb.yaml:3:17: control_socket: expected a string, found a list"),
            ("control_socket: run/latch.sock\n", "lb.yaml:3:17: control_socket: \"run/latch.sock\" is relative; give an absolute path, e.g. /run/latch/latch.sock"),
        ]
        expectConfigErrors(cases.map { (Self.file($0.0), $0.1) })
    }
}
