import Testing
@testable import LatchCore

/// SNI: which of a listener's certificates answers which server name.
struct ServerNameMatcherTests {
    static let matcher = ServerNameMatcher(names: [
        ["shop.example.com", "www.shop.example.com"],  // 0: the default
        ["*.api.example.com", "api.example.com"],
        ["Admin.Example.COM"],
        ["*.example.com"],
        ["admin.example.com"],  // never chosen: certificate 2 already has the name
    ])

    @Test(arguments: [
        (nil, 0),
        ("", 0),
        ("shop.example.com", 0),
        ("www.shop.example.com", 0),
        ("api.example.com", 1),
        ("v2.api.example.com", 1),
        ("admin.example.com", 2),  // case-insensitive on both sides
        ("ADMIN.example.com.", 2),  // trailing dot
        ("blog.example.com", 3),  // wildcard
        ("shop.example.com", 0),  // exact beats the wildcard of certificate 3
        ("a.b.example.com", 0),  // a wildcard covers one label only
        ("example.com", 0),  // nor the bare domain
        ("other.org", 0),
        ("localhost", 0),
        (".", 0),
        ("x.", 0),
    ] as [(String?, Int)])
    func picks(_ serverName: String?, _ expected: Int) {
        #expect(Self.matcher.certificate(for: serverName) == expected)
    }

    @Test func aSingleCertificateAnswersEverything() {
        let matcher = ServerNameMatcher(names: [["only.example.com"]])
        #expect(matcher.certificate(for: "other.example.com") == 0)
        #expect(matcher.certificate(for: nil) == 0)
    }
}
