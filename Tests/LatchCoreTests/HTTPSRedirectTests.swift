import Testing
@testable import LatchCore

/// `redirect_to_https`: the Location a plain listener answers with.
struct HTTPSRedirectTests {
    @Test(arguments: [
        ("shop.example.com", "/cart?x=1", 443, "https://shop.example.com/cart?x=1"),
        ("shop.example.com:8080", "/", 443, "https://shop.example.com/"),
        ("shop.example.com:8080", "/a", 8443, "https://shop.example.com:8443/a"),
        ("[::1]:8080", "/a", 8443, "https://[::1]:8443/a"),
        ("[::1]", "/a", 443, "https://[::1]/a"),
        ("127.0.0.1:80", "/;jsessionid=A.n1", 443, "https://127.0.0.1/;jsessionid=A.n1"),
        ("shop.example.com", "http://shop.example.com/p?q", 443, "https://shop.example.com/p?q"),
        ("shop.example.com", "http://shop.example.com?q", 443, "https://shop.example.com/?q"),
        ("shop.example.com", "http://shop.example.com", 443, "https://shop.example.com/"),
        ("shop.example.com", "*", 443, "https://shop.example.com/"),
    ] as [(String, String, Int, String)])
    func location(_ host: String, _ target: String, _ port: Int, _ expected: String) {
        #expect(HTTPSRedirect.location(host: host, target: target, port: port) == expected)
    }

    @Test(arguments: [nil, "", ":8080", "[::1", "a b", "evil.example/path", "a\"b", "x@y"] as [String?])
    func noUsableHost(_ host: String?) {
        #expect(HTTPSRedirect.location(host: host, target: "/", port: 443) == nil)
    }
}
