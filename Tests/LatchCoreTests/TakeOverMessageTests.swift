import Testing
@testable import LatchCore

/// The take-over conversation's messages, both ways, and which received socket each new listener gets.
struct TakeOverMessageTests {
    static let sockets = [
        TakeOverMessage.Socket(.listen, HostPort(host: "0.0.0.0", port: 443)),
        TakeOverMessage.Socket(.listen, HostPort(host: "::", port: 80)),
        TakeOverMessage.Socket(.admin, HostPort(host: "127.0.0.1", port: 9090)),
    ]

    @Test(arguments: [
        TakeOverMessage.request(configPath: "/etc/latch/lb.yaml"),
        .request(configPath: "/srv/my configs/lb.yaml"),
        .listeners(pid: 4242, sockets),
        .listeners(pid: 1, []),
        .ready,
        .released,
        .accepting,
        .refused("this Latch runs /etc/latch/lb.yaml, not /tmp/lb.yaml"),
    ])
    func roundTrip(message: TakeOverMessage) throws {
        let bytes = Array(message.text.utf8)
        let parsed = try #require(try TakeOverMessage.first(in: bytes))
        #expect(parsed.0 == message)
        #expect(parsed.length == bytes.count)
        // Not whole yet: wait for more.
        #expect(try TakeOverMessage.first(in: Array(bytes.dropLast())) == nil)
    }

    @Test func wireText() {
        #expect(TakeOverMessage.listeners(pid: 7, Self.sockets).text == "LISTENERS 7\nlisten 0.0.0.0:443\nlisten [::]:80\nadmin 127.0.0.1:9090\n\n")
        #expect(TakeOverMessage.request(configPath: "/a\nb").text == "LATCH TAKE-OVER 1 /a b\n\n")
    }

    @Test func twoMessagesInOneRead() throws {
        let bytes = Array((TakeOverMessage.ready.text + TakeOverMessage.released.text).utf8)
        let first = try #require(try TakeOverMessage.first(in: bytes))
        #expect(first.0 == .ready)
        let second = try #require(try TakeOverMessage.first(in: Array(bytes[first.length...])))
        #expect(second.0 == .released)
    }

    @Test(arguments: [
        ("LATCH TAKE-OVER 2 /etc/latch/lb.yaml\n\n", "take-over protocol version 2 is not 1: the two Latch versions cannot hand over"),
        ("LATCH HELLO 1 x\n\n", "not a take-over request: LATCH HELLO 1 x"),
        ("LISTENERS many\n\n", "bad LISTENERS line: LISTENERS many"),
        ("LISTENERS 3\nlisten nowhere\n\n", "bad listener line: listen nowhere"),
        ("LISTENERS 3\nstats 127.0.0.1:1\n\n", "bad listener line: stats 127.0.0.1:1"),
        ("READY now\n\n", "unknown message: READY now"),
        ("GET / HTTP/1.1\r\n\n", "unknown message: GET / HTTP/1.1\r"),
    ])
    func malformed(text: String, why: String) {
        #expect(throws: TakeOverMessage.Malformed(description: why)) { try TakeOverMessage.first(in: Array(text.utf8)) }
    }

    @Test func endlessBytesAreRefused() {
        #expect(throws: TakeOverMessage.Malformed.self) { try TakeOverMessage.first(in: [UInt8](repeating: 0x41, count: 64 * 1024 + 1)) }
    }

    @Test func assignment() {
        let https = HostPort(host: "0.0.0.0", port: 443)
        let http = HostPort(host: "::", port: 80)
        let admin = HostPort(host: "127.0.0.1", port: 9090)
        // The same listeners in another order, one new listener, the admin kept.
        let moved = TakeOverAssignment(received: Self.sockets, listeners: [http, HostPort(host: "0.0.0.0", port: 8443), https], admin: admin)
        #expect(moved == TakeOverAssignment(received: [], listeners: [], admin: nil).with(listeners: [1, nil, 0], admin: 2, unused: []))
        // A listener dropped, the admin moved: both sockets unused (closed), the admin bound afresh.
        let dropped = TakeOverAssignment(received: Self.sockets, listeners: [https], admin: HostPort(host: "127.0.0.1", port: 9091))
        #expect(dropped.listeners == [0])
        #expect(dropped.admin == nil)
        #expect(dropped.unused == [1, 2])
        // Port 0 twice: matched in order, once each; an admin address never takes a listen socket.
        let zero = HostPort(host: "127.0.0.1", port: 0)
        let twice = TakeOverAssignment(
            received: [.init(.listen, zero), .init(.admin, zero), .init(.listen, zero)], listeners: [zero, zero, zero], admin: nil)
        #expect(twice.listeners == [0, 2, nil])
        #expect(twice.unused == [1])
    }
}

extension TakeOverAssignment {
    func with(listeners: [Int?], admin: Int?, unused: [Int]) -> TakeOverAssignment {
        var copy = self
        copy.listeners = listeners
        copy.admin = admin
        copy.unused = unused
        return copy
    }
}
