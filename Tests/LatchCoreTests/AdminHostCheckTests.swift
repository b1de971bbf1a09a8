import Testing
@testable import LatchCore

/// The admin listener's DNS-rebinding guard: which Host values it answers.
struct AdminHostCheckTests {
    @Test(arguments: [
        ("127.0.0.1:9090", true),
        ("127.0.0.1", true),
        ("10.1.2.3:9090", true),  // any address: a rebinding needs a name
        ("[::1]:9090", true),
        ("localhost:9090", true),
        ("LOCALHOST.:9090", true),
        ("lb1.internal:9090", true),  // admin.hosts
        ("Admin.Example.COM", true),  // the admin address's own name
        ("evil.example:9090", false),
        ("localhost.evil.example", false),
        ("127.0.0.1.evil.example", false),
        ("1.2.3", false),
        ("256.1.1.1", false),
        ("[::1", false),
        ("", false),
        (":9090", false),
    ])
    func decides(_ host: String, _ allowed: Bool) {
        #expect(AdminHostCheck.allows(host: host, listenHost: "admin.example.com", extra: ["lb1.internal"]) == allowed)
    }

    @Test func noHostPasses() {
        #expect(AdminHostCheck.allows(host: nil, listenHost: "127.0.0.1", extra: []))
    }
}
