import Testing
@testable import LatchCore

/// Which upgrade requests reach the node with their `Upgrade` (and may become tunnels).
struct UpgradeOfferTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var major = 1
        var minor = 1
        var method = "GET"
        var connection = ["upgrade"]
        var upgrade = ["websocket"]
        var body = false
        var expected: UpgradeOffer.Outcome
        var testDescription: String { "\(method) 1.\(minor) Connection: \(connection) Upgrade: \(upgrade) body: \(body)" }
    }

    @Test(arguments: [
        Case(expected: .forward(protocols: "websocket")),
        Case(connection: ["keep-alive", "upgrade"], expected: .forward(protocols: "websocket")),
        Case(upgrade: ["WebSocket"], expected: .forward(protocols: "WebSocket")),
        Case(upgrade: ["foo/1, websocket", " bar "], expected: .forward(protocols: "foo/1, websocket, bar")),
        Case(upgrade: ["h2c, websocket"], expected: .forward(protocols: "websocket")),
        Case(method: "POST", expected: .forward(protocols: "websocket")),
        Case(upgrade: [], expected: .none),
        Case(minor: 0, expected: .strip("an HTTP/1.0 request cannot upgrade")),
        Case(major: 2, minor: 0, expected: .strip("HTTP/2 has no Upgrade (RFC 9113 §8.6)")),
        Case(connection: ["keep-alive"], expected: .strip("Upgrade without Connection: upgrade")),
        Case(connection: [], expected: .strip("Upgrade without Connection: upgrade")),
        Case(method: "CONNECT", expected: .strip("CONNECT")),
        Case(body: true, expected: .strip("an upgrade request with a body")),
        Case(upgrade: ["h2c"], expected: .strip("only h2c, which is never passed on")),
        Case(upgrade: ["H2C/2.0"], expected: .strip("only h2c, which is never passed on")),
        Case(upgrade: ["web socket"], expected: .strip("a malformed Upgrade value")),
        Case(upgrade: ["websocket/"], expected: .strip("a malformed Upgrade value")),
        Case(upgrade: ["a/b/c"], expected: .strip("a malformed Upgrade value")),
    ])
    func decides(_ c: Case) {
        let outcome = UpgradeOffer.evaluate(
            versionMinor: c.minor, versionMajor: c.major, method: c.method, connectionTokens: c.connection, upgradeValues: c.upgrade, hasBody: c.body)
        #expect(outcome == c.expected)
    }
}
